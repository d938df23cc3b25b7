// Resumable uploads in the web UI (§16), in Chromium: a large file goes up through
// tus-js-client in 16 MiB requests with a progress bar; a connection the test cuts is
// resumed from the server's offset without sending finished parts again; pause and resume;
// after a reload of the page the same file chosen again continues where the server stopped.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { launch, startPerma } from './perma.mjs'
const EMAIL = 'uploader@example.com'
const PASSWORD = 'uploader-password'
const MiB = 1024 * 1024
let server, base, dataDir, browser, page

// 40 MiB that differ everywhere: three requests of 16, 16 and 8 MiB.
const big = Buffer.alloc(40 * MiB)
for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i)

before(async () => {
  ({ server, base, dataDir } = await startPerma({ PERMA_ADMIN_EMAIL: EMAIL, PERMA_ADMIN_PASSWORD: PASSWORD }))
  browser = await launch()
  page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage()
  await page.goto(base)
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByLabel('New stack name').fill('Video masters')
  await page.getByRole('button', { name: 'Create stack' }).click()
  await page.getByText('This folder is empty').waitFor()
})

after(async () => {
  if (browser) await browser.close()
  if (server) { server.kill('SIGTERM'); await new Promise((r) => server.once('exit', r)) }
  rmSync(dataDir, { recursive: true, force: true })
})

const uploads = () => page.getByRole('region', { name: 'Uploads' })

// From a file on disk, as a user picks one: choosing it again gives the same name, size and
// modification time (the upload's fingerprint).
async function choose (name, buffer) {
  const path = join(dataDir, name)
  if (!existsSync(path)) writeFileSync(path, buffer)
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: 'Upload', exact: true }).click()])
  await chooser.setFiles(path)
}

// Every PATCH the page sends, with its offset and length, as the server received them.
function watchPatches () {
  const seen = []
  const onRequest = (req) => {
    if (req.method() === 'PATCH' && req.url().includes('/v3/uploads/')) {
      seen.push({ offset: Number(req.headers()['upload-offset']), bytes: (req.postDataBuffer() || Buffer.alloc(0)).length })
    }
  }
  page.on('request', onRequest)
  return { seen, stop: () => page.off('request', onRequest) }
}

async function assetBytes (name) {
  const apiKey = await page.evaluate(() => location.pathname.split('/')[2])
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('perma.session')))
  const list = await fetch(`${base}/v3/assets?query=${encodeURIComponent(JSON.stringify({ filename: name }))}`, { headers: { authtoken: session.authtoken, api_key: apiKey } })
  const { assets } = await list.json()
  assert.equal(assets.length, 1, `one asset named ${name}`)
  const res = await fetch(assets[0].url)
  return Buffer.from(await res.arrayBuffer())
}

const sha = (b) => createHash('sha256').update(b).digest('hex')

test('a cut connection resumes from the server offset without sending finished parts again', async () => {
  const patches = watchPatches()
  // The second request is cut by the network (the test aborts it).
  let cut = false
  await page.route('**/v3/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && Number(route.request().headers()['upload-offset']) === 16 * MiB && !cut) {
      cut = true
      return route.abort('connectionreset')
    }
    return route.continue()
  })
  await choose('master.mov', big)
  await uploads().getByRole('progressbar', { name: 'Uploading master.mov' }).waitFor()
  await uploads().getByRole('heading', { name: 'Uploads finished' }).waitFor({ timeout: 60000 })
  await page.unroute('**/v3/uploads/*')
  patches.stop()
  assert.ok(cut, 'the second request was cut')
  // 0, 16 (cut), then 16 again from the offset HEAD reported, then 32: the first 16 MiB
  // were never sent twice.
  const offsets = patches.seen.map((p) => p.offset / MiB)
  assert.deepEqual(offsets, [0, 16, 16, 32], JSON.stringify(patches.seen))
  await page.getByRole('list', { name: 'Assets and folders' }).getByRole('button', { name: 'master.mov' }).waitFor()
  assert.equal(sha(await assetBytes('master.mov')), sha(big))
  await page.getByRole('button', { name: 'Dismiss' }).click()
})

test('pause and resume', async () => {
  const second = Buffer.from(big)
  second.write('second master', 0)
  // Hold the second request until the test has paused the upload.
  let release
  const held = new Promise((resolve) => { release = resolve })
  await page.route('**/v3/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && Number(route.request().headers()['upload-offset']) === 16 * MiB) {
      await held
      return route.abort('aborted').catch(() => {}) // the page may have dropped it already
    }
    return route.continue()
  })
  await choose('master-2.mov', second)
  await uploads().getByRole('button', { name: 'Pause master-2.mov' }).click()
  await uploads().getByText(/Paused at \d+%/).waitFor()
  release()
  await page.unroute('**/v3/uploads/*')
  await uploads().getByRole('button', { name: 'Resume master-2.mov' }).click()
  await uploads().getByRole('heading', { name: 'Uploads finished' }).waitFor({ timeout: 60000 })
  assert.equal(sha(await assetBytes('master-2.mov')), sha(second))
  await page.getByRole('button', { name: 'Dismiss' }).click()
})

test('after a reload, the same file chosen again resumes where the server stopped', async () => {
  const third = Buffer.from(big)
  third.write('third master', 0)
  // The page goes away while the second request is under way.
  let reached
  const atSecond = new Promise((resolve) => { reached = resolve })
  await page.route('**/v3/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && Number(route.request().headers()['upload-offset']) === 16 * MiB) {
      reached()
      return new Promise(() => {}) // never answered
    }
    return route.continue()
  })
  await choose('master-3.mov', third)
  await atSecond
  await page.unroute('**/v3/uploads/*')
  await page.reload()
  await uploads().getByText('master-3.mov (40.0 MB): choose the file again to resume.').waitFor()
  const patches = watchPatches()
  await choose('master-3.mov', third)
  await uploads().getByText('Resumed where the server stopped.').waitFor()
  await uploads().getByRole('heading', { name: 'Uploads finished' }).waitFor({ timeout: 60000 })
  patches.stop()
  // It starts where the server stopped: at least the 16 MiB acknowledged before the reload
  // (more if bytes of the request cut by the reload arrived), never from zero.
  assert.ok(patches.seen[0].offset >= 16 * MiB && patches.seen[0].offset < big.length, JSON.stringify(patches.seen))
  assert.equal(sha(await assetBytes('master-3.mov')), sha(third))
  // Nothing is left to resume.
  assert.equal(await uploads().getByText(/choose the file again/).count(), 0)
})
