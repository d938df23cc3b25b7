// See bench/ui.sh. Seeds a stack through the API, then measures in Chromium.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import { createRequire } from 'node:module'

const require = createRequire(join(process.env.NODE_PATH, 'x.js'))
const { chromium } = require('playwright-core')
const EMAIL = 'bench@example.com'
const PASSWORD = 'bench-password'
const TOTAL = Number(process.env.UI_ASSETS || 2000)
const PHOTOS = Math.min(100, TOTAL)

// A PNG of random pixels (does not compress): what an author's photos weigh in a grid
// that would show originals.
function noisePng (w, h, seed) {
  let x = seed * 2654435761 >>> 0
  const raw = Buffer.alloc((w * 3 + 1) * h)
  for (let i = 0; i < raw.length; i++) {
    if (i % (w * 3 + 1) === 0) { raw[i] = 0; continue }
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    raw[i] = x & 255
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type), data])
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td))
    return Buffer.concat([len, td, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}
const CRC = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0 })
function crc32 (b) { let c = 0xffffffff; for (const x of b) c = CRC[(c ^ x) & 255] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0 }

const dataDir = mkdtempSync(join(tmpdir(), 'perma-bench-ui-'))
const server = spawn(process.env.PERMA_BIN, ['serve'], {
  env: { ...process.env, PERMA_DATA_DIR: dataDir, PERMA_LISTEN: '127.0.0.1:0', PERMA_LOG: 'warn', PERMA_ADMIN_EMAIL: EMAIL, PERMA_ADMIN_PASSWORD: PASSWORD },
  stdio: ['ignore', 'pipe', 'inherit'],
})
let browser
try {
  const base = await new Promise((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (d) => { out += d; const m = out.match(/perma listening on (http:\/\/\S+)/); if (m) resolve(m[1]) })
    server.on('exit', (c) => reject(new Error(`perma exited ${c}`)))
  })
  const login = await (await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })).json()
  const token = login.user.authtoken
  const orgs = await (await fetch(`${base}/v3/organizations`, { headers: { authtoken: token } })).json()
  const stack = await (await fetch(`${base}/v3/stacks`, { method: 'POST', headers: { authtoken: token, organization_uid: orgs.organizations[0].uid, 'content-type': 'application/json' }, body: JSON.stringify({ stack: { name: 'Big library' } }) })).json()
  const key = stack.stack.api_key
  const started = Date.now()
  const upload = async (name, bytes) => {
    const form = new FormData()
    form.append('asset[upload]', new Blob([bytes]), name)
    const r = await fetch(`${base}/v3/assets`, { method: 'POST', headers: { authtoken: token, api_key: key }, body: form })
    if (r.status !== 201) throw new Error(`upload ${name}: ${r.status}`)
  }
  const jobs = []
  for (let i = 0; i < TOTAL; i++) {
    jobs.push(i < PHOTOS ? () => upload(`a-photo-${String(i).padStart(4, '0')}.png`, noisePng(480, 360, i + 1)) : () => upload(`b-note-${String(i).padStart(4, '0')}.txt`, `note ${i}`))
  }
  for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map((j) => j()))
  console.log(`seeded ${TOTAL} assets (${PHOTOS} photos of 480 x 360) in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  await page.goto(base)
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('button', { name: 'Big library' }).click()
  await page.getByRole('button', { name: 'a-photo-0000.png' }).waitFor()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Stacks' }).click()
  await page.getByRole('heading', { name: 'Choose a stack' }).waitFor()

  // The A key, from the stack list, to the library's first rows (median of 5).
  const times = []
  for (let i = 0; i < 5; i++) {
    await page.evaluate(() => { window.__t0 = null; document.addEventListener('keydown', () => { window.__t0 = performance.now() }, { once: true, capture: true }) })
    await page.keyboard.press('a')
    await page.waitForSelector('.items li button.item')
    times.push(await page.evaluate(() => performance.now() - window.__t0))
    await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Stacks' }).click()
    await page.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  }
  times.sort((a, b) => a - b)
  const firstRows = times[2]

  // The grid's first screen in a fresh browser context (empty cache): bytes of every
  // response. The first visit renders the thumbnails; the measured one finds them stored.
  const measure = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    const p = await ctx.newPage()
    await p.goto(base)
    await p.evaluate(([s, v]) => { localStorage.setItem('perma.session', s); localStorage.setItem('perma.view', v) }, [JSON.stringify({ authtoken: token, email: EMAIL }), 'grid'])
    let bytes = 0
    p.on('response', async (r) => { try { bytes += (await r.body()).length } catch {} })
    await p.goto(`${base}/stacks/${key}`)
    await p.getByRole('button', { name: 'a-photo-0000.png' }).waitFor()
    await p.waitForLoadState('networkidle')
    await p.waitForFunction(() => [...document.querySelectorAll('.items img')].filter((i) => i.getBoundingClientRect().top < innerHeight).every((i) => i.complete))
    await p.waitForTimeout(300)
    await ctx.close()
    return bytes
  }
  await measure()
  const gridBytes = await measure()
  const originals = PHOTOS ? noisePng(480, 360, 1).length : 0
  console.log(`library, first rows after the A key (median of 5): ${firstRows.toFixed(0)} ms   target <= 300 ms`)
  console.log(`grid, first screen, renditions stored: ${(gridBytes / 1024).toFixed(0)} KiB   target <= 1024 KiB   (one original photo: ${(originals / 1024).toFixed(0)} KiB)`)
} finally {
  if (browser) await browser.close()
  server.kill('SIGTERM')
  await new Promise((r) => server.once('exit', r))
  rmSync(dataDir, { recursive: true, force: true })
}
