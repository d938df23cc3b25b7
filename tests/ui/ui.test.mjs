// End-to-end tests of the web UI (§7) in Debian's Chromium, driven by playwright-core.
// Starts the real perma binary (PERMA_BIN, default ../../target/debug/perma) on 127.0.0.1:0.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, mkdirSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launch, startPerma } from './perma.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const shots = resolve(here, '../../docs/screenshots')
const EMAIL = 'author@example.com'
const PASSWORD = 'author-password'
const MAX_UPLOAD = 4 * 1024 * 1024

let server, base, browser, context, page, dataDir

// A valid 3×2 PNG (one IDAT).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAYAAACddGYaAAAAEUlEQVR4nGP8z8Dwn4EIwAgAJkUC/3mBVjwAAAAASUVORK5CYII=', 'base64')

async function startServer () {
  ({ server, base, dataDir } = await startPerma({ PERMA_ADMIN_EMAIL: EMAIL, PERMA_ADMIN_PASSWORD: PASSWORD, PERMA_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) }))
}

async function apiAs (method, path, body, apiKey) {
  const login = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  const { user } = await login.json()
  const res = await fetch(`${base}${path}`, { method, headers: { authtoken: user.authtoken, api_key: apiKey, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined })
  return [res.status, await res.json()]
}

before(async () => {
  await startServer()
  browser = await launch()
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base })
  page = await context.newPage()
  mkdirSync(shots, { recursive: true })
})

after(async () => {
  if (browser) await browser.close()
  if (server) { server.kill('SIGTERM'); await new Promise((r) => server.once('exit', r)) }
  rmSync(dataDir, { recursive: true, force: true })
})

// The stack being shown is in the address: /stacks/{api_key}…
const apiKey = () => page.evaluate(() => (location.pathname.match(/^\/stacks\/(blt[0-9a-f]{16})/) || [])[1] || null)
const panel = () => page.getByRole('region', { name: 'Asset details' })
const file = (name, mimeType, buffer) => ({ name, mimeType, buffer })

async function chooseFiles (buttonName, files) {
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.getByRole('button', { name: buttonName, exact: true }).click()])
  await chooser.setFiles(files)
}

test('the UI pages carry a strict Content-Security-Policy', async () => {
  for (const path of ['/', '/app.js', '/app.css', '/js/library.js', '/stacks/blt0123456789abcdef']) {
    const res = await fetch(base + path)
    const csp = res.headers.get('content-security-policy')
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
  }
})

test('log in (wrong password shown in words), create a stack', async () => {
  await page.goto(base)
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill('wrong password')
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('alert').filter({ hasText: /email or password is invalid/i }).waitFor()
  await page.screenshot({ path: join(shots, 'login.png') })
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await page.getByLabel('New stack name').fill('Brand assets')
  await page.getByRole('button', { name: 'Create stack' }).click()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Assets' }).waitFor()
  await page.getByText('This folder is empty').waitFor()
})

test('upload several files with a progress bar each; errors per file', async () => {
  const big = Buffer.alloc(3 * 1024 * 1024, 7)
  const tooBig = Buffer.alloc(MAX_UPLOAD + 10, 1)
  await chooseFiles('Upload', [
    file('Sample Logo (1).PNG', 'image/png', PNG),
    file('report.pdf', 'application/pdf', Buffer.from('%PDF-1.4 a report')),
    file('video-master.bin', 'application/octet-stream', big),
    file('too-big.bin', 'application/octet-stream', tooBig),
  ])
  const uploads = page.getByRole('region', { name: 'Uploads' })
  await uploads.waitFor()
  for (const n of ['Sample Logo (1).PNG', 'report.pdf', 'video-master.bin', 'too-big.bin']) {
    await uploads.getByRole('progressbar', { name: `Uploading ${n}` }).waitFor()
  }
  await uploads.getByRole('heading', { name: 'Uploads finished' }).waitFor()
  assert.equal(await uploads.getByRole('progressbar', { name: 'Uploading video-master.bin' }).getAttribute('value'), '100')
  await uploads.getByRole('alert').filter({ hasText: /too-big\.bin: .*too large.*4 MB/i }).waitFor()
  await page.getByRole('button', { name: 'Dismiss' }).click()
  const list = page.getByRole('list', { name: 'Assets and folders' })
  await list.getByRole('button', { name: 'Sample Logo (1).PNG' }).waitFor()
  await list.getByRole('button', { name: 'report.pdf' }).waitFor()
  assert.equal(await list.getByRole('button', { name: 'too-big.bin' }).count(), 0)
  // The thumbnail of an image is a small WebP rendition of it (§11), loaded.
  const thumb = list.getByRole('button', { name: 'Sample Logo (1).PNG' }).locator('img')
  assert.equal(await thumb.count(), 1)
  assert.match(await thumb.getAttribute('src'), /\?width=240&height=240&fit=crop&disable=upscale&format=webp/)
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle())
})

test('drag and drop uploads', async () => {
  const dt = await page.evaluateHandle(() => {
    const d = new DataTransfer()
    d.items.add(new File(['dropped text'], 'dropped.txt', { type: 'text/plain' }))
    return d
  })
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt })
  await page.getByRole('list', { name: 'Assets and folders' }).getByRole('button', { name: 'dropped.txt' }).waitFor()
})

test('new folder, folder navigation, search, grid view', async () => {
  await page.getByRole('button', { name: 'New folder' }).click()
  const dlg = page.getByRole('dialog', { name: 'New folder' })
  await dlg.getByLabel('Folder name').fill('Campaign 2026')
  await dlg.getByRole('button', { name: 'Create folder' }).click()
  await page.getByRole('button', { name: 'Open folder Campaign 2026' }).click()
  await page.getByText('This folder is empty').waitFor()
  await page.getByRole('navigation', { name: 'Folders' }).getByRole('button', { name: 'All assets' }).click()
  await page.getByRole('button', { name: 'report.pdf' }).waitFor()
  await page.getByLabel('Search assets').fill('logo')
  await page.getByText('Search results for “logo”').waitFor()
  await page.getByRole('button', { name: 'report.pdf' }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).waitFor()
  await page.getByLabel('Search assets').fill('')
  await page.getByRole('button', { name: 'report.pdf' }).waitFor()
  await page.getByRole('button', { name: 'Grid view' }).click()
  await page.screenshot({ path: join(shots, 'library-grid.png') })
  await page.getByRole('button', { name: 'List view' }).click()
  await page.screenshot({ path: join(shots, 'library.png') })
})

test('the A shortcut opens the asset library, but not while typing', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Stacks' }).click()
  await page.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await page.getByLabel('New stack name').focus()
  await page.keyboard.press('a')
  assert.equal(await page.getByLabel('New stack name').inputValue(), 'a', 'typing an a in a field stays typing')
  await page.getByLabel('New stack name').fill('')
  await page.locator('body').click({ position: { x: 5, y: 5 } })
  await page.keyboard.press('a')
  await page.getByRole('list', { name: 'Assets and folders' }).getByRole('button', { name: 'report.pdf' }).waitFor()
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Assets' }).getAttribute('aria-current'), 'page')
})

test('asset panel: preview, details, version URL with Copy, versions', async () => {
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'Sample Logo (1).PNG' }).waitFor()
  const preview = p.getByRole('img', { name: 'Preview of Sample Logo (1).PNG' })
  await preview.waitFor()
  assert.match(await preview.getAttribute('src'), /\?width=720&disable=upscale&format=webp/)
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await preview.elementHandle())
  const bytes = await page.evaluate(async (src) => {
    const r = await fetch(src)
    return { type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength }
  }, await preview.getAttribute('src'))
  assert.equal(bytes.type, 'image/webp')
  await p.getByText('3 × 2 px').waitFor()
  await p.getByText('image/png').waitFor()
  assert.equal(await p.getByLabel('Title').inputValue(), 'Sample Logo (1).PNG')
  await p.getByLabel('Description').fill('Primary logo')
  await p.getByLabel('Tags').fill('brand, logo')
  await p.getByRole('button', { name: 'Save changes' }).click()
  await p.getByText('Changes saved').waitFor()
  assert.equal(await p.getByLabel('Tags').inputValue(), 'brand, logo')
  const versionUrl = await p.locator('#version-url').textContent()
  assert.match(versionUrl, /\/v3\/assets\/blt[0-9a-f]{16}\/blt[0-9a-f]{16}\/[0-9a-f]{24}\/Sample_Logo_\(1\)\.PNG$/)
  await p.getByRole('button', { name: 'Copy version URL' }).click()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), versionUrl)
  // The Subresource Integrity value of this version's bytes, as a browser computes it.
  const integrity = await p.locator('#integrity').textContent()
  const computed = await page.evaluate(async (url) => {
    const bytes = await (await fetch(url)).arrayBuffer()
    const sha = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
    return 'sha256-' + btoa(String.fromCharCode(...sha))
  }, versionUrl)
  assert.equal(integrity, computed)
  await p.getByRole('button', { name: 'Copy integrity value' }).click()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), integrity)
  const versions = p.getByRole('list', { name: 'Version history' })
  assert.equal(await versions.getByRole('listitem').count(), 2)
  await versions.getByRole('link', { name: 'Open version 1' }).waitFor()
  await page.getByRole('button', { name: 'Dismiss' }).click()
  await p.evaluate((el) => el.scrollTo(0, 0))
  await page.screenshot({ path: join(shots, 'asset-panel.png') })
})

test('Generate permanent URL: warning, prefilled slug, live validation, 255 counter, Escape, Save', async () => {
  const p = panel()
  const generate = p.getByRole('button', { name: 'Generate permanent URL' })
  // Keyboard: focus moves into the dialog and back again on Escape.
  await generate.focus()
  await page.keyboard.press('Enter')
  const dlg = page.getByRole('dialog', { name: 'Generate permanent URL' })
  await dlg.waitFor()
  assert.equal(await page.evaluate(() => document.activeElement.id), 'slug')
  await page.keyboard.press('Escape')
  await dlg.waitFor({ state: 'detached' })
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Generate permanent URL')

  await generate.click()
  await dlg.getByText(/generated only once and can never be changed/).waitFor()
  const slug = dlg.getByLabel('Slug')
  assert.equal(await slug.inputValue(), 'sample-logo-1.png')
  await dlg.getByText('17 / 255').waitFor()
  const key = await apiKey()
  await dlg.getByText(new RegExp(`/v3/assets/${key}/blt[0-9a-f]{16}/sample-logo-1\\.png$`)).waitFor()
  await slug.fill('bad slug')
  await dlg.getByText(/“ ” is not allowed/).waitFor()
  assert.equal(await dlg.getByRole('button', { name: 'Save' }).isDisabled(), true)
  await slug.fill('..')
  await dlg.getByText(/can’t be “.” or “..”/).waitFor()
  await slug.fill('x'.repeat(256))
  await dlg.getByText('256 / 255').waitFor()
  await dlg.getByText(/too long/).waitFor()
  assert.equal(await dlg.getByRole('button', { name: 'Save' }).isDisabled(), true)
  await slug.fill('x'.repeat(255))
  await dlg.getByText('255 / 255').waitFor()
  assert.equal(await dlg.getByRole('button', { name: 'Save' }).isDisabled(), false)
  await slug.fill('brand-logo')
  await page.screenshot({ path: join(shots, 'generate-dialog.png') })
  await dlg.getByRole('button', { name: 'Save' }).click()
  await dlg.waitFor({ state: 'detached' })
  await p.getByText('Permanent URL generated').waitFor()
  const perm = await p.locator('#permanent-url').textContent()
  assert.match(perm, /\/brand-logo$/)
  await p.getByRole('button', { name: 'Copy permanent URL' }).click()
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), perm)
  assert.equal(await p.getByRole('button', { name: 'Generate permanent URL' }).count(), 0)
  const res = await fetch(perm)
  assert.equal(res.status, 200)
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), PNG)

  // Once only, also after a reload.
  await page.reload()
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  await panel().locator('#permanent-url').filter({ hasText: perm }).waitFor()
  assert.equal(await panel().getByRole('button', { name: 'Generate permanent URL' }).count(), 0)
})

test('a race lost to another tab is shown in words', async () => {
  await page.getByRole('button', { name: 'report.pdf' }).click()
  await panel().getByRole('heading', { name: 'report.pdf' }).waitFor()
  await panel().getByRole('button', { name: 'Generate permanent URL' }).click()
  const dlg = page.getByRole('dialog', { name: 'Generate permanent URL' })
  const uid = await page.evaluate(async (key) => {
    const s = JSON.parse(localStorage.getItem('perma.session'))
    const r = await fetch('/v3/assets?query=' + encodeURIComponent(JSON.stringify({ filename: 'report.pdf' })), { headers: { authtoken: s.authtoken, api_key: key } })
    return (await r.json()).assets[0].uid
  }, await apiKey())
  const [status] = await apiAs('PUT', `/v3/assets/${uid}`, { asset: { permanent_url: 'won-elsewhere' } }, await apiKey())
  assert.equal(status, 200)
  await dlg.getByRole('button', { name: 'Save' }).click()
  await dlg.getByRole('alert').filter({ hasText: /already has a permanent URL/ }).waitFor()
  await page.keyboard.press('Escape')
  await dlg.waitFor({ state: 'detached' })
})

test('replace keeps the permanent URL and makes a new version URL; publish; delete', async () => {
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'Sample Logo (1).PNG' }).waitFor()
  const perm = await p.locator('#permanent-url').textContent()
  const oldVersion = await p.locator('#version-url').textContent()
  await chooseFiles('Replace file', [file('logo-v2.png', 'image/png', PNG.subarray(0, 40))])
  await p.getByText(/permanent URL is unchanged/).waitFor()
  assert.equal(await p.locator('#permanent-url').textContent(), perm)
  const newVersion = await p.locator('#version-url').textContent()
  assert.notEqual(newVersion, oldVersion)
  assert.match(newVersion, /logo-v2\.png$/)
  const served = Buffer.from(await (await fetch(perm)).arrayBuffer())
  assert.deepEqual(served, PNG.subarray(0, 40))

  const [st] = await apiAs('POST', '/v3/environments', { environment: { name: 'production' } }, await apiKey())
  assert.equal(st, 201)
  await p.getByRole('button', { name: 'Close' }).click()
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  await panel().getByRole('button', { name: 'Publish' }).click()
  const pub = page.getByRole('dialog', { name: 'Publish' })
  await pub.getByRole('checkbox', { name: 'production' }).check()
  await pub.getByRole('button', { name: 'Publish' }).click()
  await panel().getByText('Published to production').waitFor()
  assert.equal((await fetch(`${perm}?environment=production`)).status, 200)

  await page.getByRole('button', { name: 'dropped.txt' }).click()
  await panel().getByRole('heading', { name: 'dropped.txt' }).waitFor()
  await panel().getByRole('button', { name: 'Delete' }).click()
  const del = page.getByRole('dialog', { name: 'Delete asset?' })
  await del.getByRole('button', { name: 'Cancel' }).click()
  await panel().getByRole('heading', { name: 'dropped.txt' }).waitFor()
  await panel().getByRole('button', { name: 'Delete' }).click()
  await del.getByRole('button', { name: 'Delete asset' }).click()
  await page.getByRole('button', { name: 'dropped.txt' }).waitFor({ state: 'detached' })
})

test('an uploaded HTML file cannot run script or read the UI credentials', async () => {
  const evil = '<!doctype html><html><head><title>innocent</title></head><body><p id="m">static</p>' +
    '<script>document.title = "pwned:" + sessionStorage.getItem("perma.session") + localStorage.length;' +
    'document.getElementById("m").textContent = "script ran";</script></body></html>'
  await chooseFiles('Upload', [file('evil.html', 'text/html', Buffer.from(evil))])
  await page.getByRole('heading', { name: 'Uploads finished' }).waitFor()
  await page.getByRole('button', { name: 'Dismiss' }).click()
  await page.getByRole('button', { name: 'evil.html' }).click()
  const url = await panel().locator('#version-url').textContent()
  const tab = await context.newPage()
  const violations = []
  tab.on('console', (m) => violations.push(m.text()))
  const resp = await tab.goto(url)
  assert.match(resp.headers()['content-security-policy'], /^sandbox/)
  assert.equal(await tab.title(), 'innocent')
  assert.equal(await tab.locator('#m').textContent(), 'static')
  await tab.close()
  // The UI still has its session (nothing was taken or changed).
  assert.ok(await page.evaluate(() => localStorage.getItem('perma.session')))
})

test('usable at 375 px wide', async () => {
  const small = await browser.newContext({ viewport: { width: 375, height: 740 } })
  const m = await small.newPage()
  await m.goto(base)
  await m.getByLabel('Email').fill(EMAIL)
  await m.getByLabel('Password').fill(PASSWORD)
  await m.getByRole('button', { name: 'Log in' }).click()
  await m.getByRole('button', { name: 'Brand assets' }).click()
  const upload = m.getByRole('button', { name: 'Upload', exact: true })
  await upload.waitFor()
  const box = await upload.boundingBox()
  assert.ok(box.x >= 0 && box.x + box.width <= 375, 'the Upload button is on screen')
  assert.ok(box.height >= 44, `touch targets are at least 44 px tall (${box.height})`)
  assert.equal(await m.evaluate(() => document.documentElement.scrollWidth <= 375), true, 'no horizontal scrolling')
  await m.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  await m.getByRole('region', { name: 'Asset details' }).getByRole('button', { name: 'Copy permanent URL' }).waitFor()
  await m.screenshot({ path: join(shots, 'mobile-panel.png') })
  await small.close()
})

test('a large folder pages: 100 at a time, a count, Load more until the end', async () => {
  const key = await apiKey()
  const [st, folder] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Bulk' } }, key)
  assert.equal(st, 201)
  const login = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  const { user } = await login.json()
  for (let i = 0; i < 230; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, j) => {
      const form = new FormData()
      form.append('asset[upload]', new Blob([`file ${i + j}`], { type: 'text/plain' }), `bulk-${String(i + j).padStart(3, '0')}.txt`)
      form.append('asset[parent_uid]', folder.asset.uid)
      return fetch(`${base}/v3/assets`, { method: 'POST', headers: { authtoken: user.authtoken, api_key: key }, body: form }).then((r) => assert.equal(r.status, 201))
    }))
  }
  await page.reload()
  await page.getByRole('button', { name: 'Open folder Bulk' }).click()
  const status = page.getByRole('status').filter({ hasText: / of / })
  await status.filter({ hasText: '100 of 230' }).waitFor()
  assert.equal(await page.locator('.items li').count(), 100)
  await page.getByRole('button', { name: 'Load more' }).click()
  await status.filter({ hasText: '200 of 230' }).waitFor()
  await page.getByRole('button', { name: 'Load more' }).click()
  await status.filter({ hasText: '230 of 230' }).waitFor()
  assert.equal(await page.locator('.items li').count(), 230)
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0)
  // Sorted by file name on the server, across pages: the last one is the last name.
  assert.equal(await page.locator('.items li').last().locator('.name').textContent(), 'bulk-229.txt')
})

test('a favicon, so that no page load logs a 404', async () => {
  const fresh = await context.newPage()
  const missing = []
  fresh.on('response', (r) => { if (r.status() >= 400) missing.push(`${r.status()} ${r.url()}`) })
  await fresh.goto(base + '/')
  // A second tab shares the session: no second login.
  await fresh.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  const icon = await fetch(`${base}/favicon.ico`)
  assert.equal(icon.status, 200)
  assert.equal(icon.headers.get('content-type'), 'image/vnd.microsoft.icon')
  await fresh.waitForTimeout(300)
  assert.deepEqual(missing, [])
  await fresh.close()
})

test('settings: environments and delivery tokens; the secret is shown once', async () => {
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.getByRole('heading', { name: 'Environments' }).waitFor()
  await page.getByLabel('New environment').fill('staging')
  await page.getByRole('button', { name: 'Add environment' }).click()
  await page.getByText('Environment staging added').waitFor()
  const envs = page.getByRole('list', { name: 'Environments' })
  await envs.getByText('staging', { exact: true }).waitFor()

  await page.getByLabel('Token name').fill('website')
  await page.getByRole('checkbox', { name: 'production' }).check()
  await page.getByRole('button', { name: 'Create delivery token' }).click()
  await page.getByText('Delivery token website created').waitFor()
  const secret = await page.locator('#token-secret').textContent()
  assert.match(secret, /^cs/)
  await page.screenshot({ path: join(shots, 'settings.png') })
  const read = (token) => fetch(`${base}/v3/assets?environment=production`, { headers: { api_key: key, access_token: token } })
  const key = await apiKey()
  assert.equal((await read(secret)).status, 200)
  // Shown once: not after the page is opened again.
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.locator('#token-secret').waitFor({ state: 'detached' })
  await page.getByRole('list', { name: 'Delivery tokens' }).getByText('website').waitFor()

  await page.getByRole('button', { name: 'Delete delivery token website' }).click()
  await page.getByRole('dialog', { name: 'Delete delivery token website?' }).getByRole('button', { name: 'Delete' }).click()
  await page.getByText('Delivery token website deleted').waitFor()
  assert.equal((await read(secret)).status, 401)
  await page.getByRole('button', { name: 'Delete environment staging' }).click()
  await page.getByRole('dialog', { name: 'Delete environment staging?' }).getByRole('button', { name: 'Delete' }).click()
  await page.getByText('Environment staging deleted').waitFor()
  assert.equal(await envs.getByText('staging', { exact: true }).count(), 0)
})

test('the panel shows where an asset is published; publish with a locale, unpublish', async () => {
  await page.getByRole('button', { name: 'Assets' }).click()
  await page.getByRole('button', { name: 'bulk-000.txt' }).click()
  const p = panel()
  await p.getByText('Not published anywhere.').waitFor()
  await p.getByRole('button', { name: 'Publish' }).click()
  const dlg = page.getByRole('dialog', { name: 'Publish' })
  await dlg.getByRole('checkbox', { name: 'production' }).check()
  await dlg.getByRole('checkbox', { name: /\(en-us\)/ }).check()
  await dlg.getByRole('button', { name: 'Publish' }).click()
  await p.getByText('Published to production').waitFor()
  await p.locator('#publish-status').getByText('production \u00b7 en-us').waitFor()
  await p.getByRole('button', { name: 'Unpublish from production en-us' }).click()
  await p.getByText('Unpublished from production').waitFor()
  await p.getByText('Not published anywhere.').waitFor()
  await p.getByRole('button', { name: 'Close' }).click()
})

test('several assets published in one bulk job, with its progress', async () => {
  for (const n of ['001', '002', '003']) await page.getByRole('checkbox', { name: `Select bulk-${n}.txt` }).check()
  await page.getByRole('status').filter({ hasText: '3 selected' }).waitFor()
  await page.getByRole('button', { name: 'Publish selected', exact: true }).click()
  const dlg = page.getByRole('dialog', { name: 'Publish selected assets' })
  await dlg.getByRole('checkbox', { name: 'production' }).check()
  await dlg.getByRole('button', { name: 'Publish' }).click()
  await page.locator('#job-result').filter({ hasText: 'Published 3 of 3 to production.' }).waitFor()
  await page.screenshot({ path: join(shots, 'bulk-publish.png') })
  const q = encodeURIComponent(JSON.stringify({ filename: { $regex: '^bulk-00' } }))
  const [st, res] = await apiAs('GET', `/v3/assets?environment=production&include_count=true&query=${q}`, null, await apiKey())
  assert.equal(st, 200)
  assert.deepEqual(res.assets.map((a) => a.filename).sort(), ['bulk-001.txt', 'bulk-002.txt', 'bulk-003.txt'])
  assert.equal(await page.getByRole('checkbox', { checked: true }).count(), 0, 'the selection is cleared')
  await page.getByRole('button', { name: 'Dismiss' }).click()
})

test('webhooks: create one, its signing secret once, executions and a retry', async () => {
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.getByRole('heading', { name: 'Webhooks' }).waitFor()
  await page.getByLabel('Webhook name').fill('site build')
  // `.invalid` never resolves: each attempt fails at once, and is listed.
  await page.getByLabel('Receiver URL').fill('https://hooks.invalid/perma')
  await page.getByRole('checkbox', { name: 'Asset created' }).check()
  await page.getByRole('checkbox', { name: 'Retry only when I ask' }).check()
  await page.getByRole('button', { name: 'Create webhook' }).click()
  await page.getByText('Webhook site build created').waitFor()
  assert.match(await page.locator('#webhook-secret').textContent(), /^whsec/)
  await page.getByRole('list', { name: 'Webhooks' }).getByText('site build').waitFor()
  await page.screenshot({ path: join(shots, 'webhooks.png') })

  // An upload fires it.
  const login = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  const { user } = await login.json()
  const form = new FormData()
  form.append('asset[upload]', new Blob(['hook']), 'hooked.txt')
  const up = await fetch(`${base}/v3/assets`, { method: 'POST', headers: { authtoken: user.authtoken, api_key: await apiKey() }, body: form })
  assert.equal(up.status, 201)

  await page.getByRole('button', { name: 'Executions of site build' }).click()
  const dlg = page.getByRole('dialog', { name: 'Executions of site build' })
  const failed = dlg.getByRole('listitem').filter({ hasText: 'assets.create \u00b7 failed' })
  for (let i = 0; i < 40 && !(await failed.count()); i++) {
    await dlg.getByRole('button', { name: 'Refresh' }).click()
    await page.waitForTimeout(100)
  }
  await failed.getByText('1 attempt').waitFor()
  await failed.getByRole('button', { name: /^Retry execution/ }).click()
  const twice = dlg.getByRole('listitem').filter({ hasText: '2 attempts' })
  for (let i = 0; i < 40 && !(await twice.count()); i++) {
    await dlg.getByRole('button', { name: 'Refresh' }).click()
    await page.waitForTimeout(100)
  }
  await twice.waitFor()
  await dlg.getByRole('button', { name: 'Cancel' }).click()
  // Shown once: not after the page is opened again.
  await page.getByRole('button', { name: 'Settings' }).click()
  await page.locator('#webhook-secret').waitFor({ state: 'detached' })
})

test('the asset panel copies a signed link that expires', async () => {
  await page.locator('#nav-assets').click()
  await page.getByRole('button', { name: 'bulk-001.txt' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'Signed link' }).waitFor()
  await p.getByLabel('Signed link expires in').selectOption('86400')
  await p.getByRole('button', { name: 'Copy signed link' }).click()
  const url = await p.locator('#signed-url').textContent()
  assert.match(url, /expires=\d+&signature=[0-9a-f]{64}$/)
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url)
  assert.equal((await fetch(url)).status, 200)
  const tampered = url.slice(0, -1) + (url.endsWith('0') ? '1' : '0')
  assert.equal((await fetch(tampered)).status, 403)
  await p.getByRole('button', { name: 'Close' }).click()
})

// ---------- addresses, keyboard, restore (§7) ----------

// Two folders deep, through the API (the UI's own folder dialog is tested above).
async function uploadVia (key, name, text, parent) {
  const login = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  const { user } = await login.json()
  const form = new FormData()
  form.append('asset[upload]', new Blob([text]), name)
  if (parent) form.append('asset[parent_uid]', parent)
  const up = await fetch(`${base}/v3/assets`, { method: 'POST', headers: { authtoken: user.authtoken, api_key: key }, body: form })
  assert.equal(up.status, 201)
}

async function nestedFolders (key) {
  const [, outer] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Deep outer' } }, key)
  const [, inner] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Deep inner', parent_uid: outer.asset.uid } }, key)
  return [outer.asset.uid, inner.asset.uid]
}

test('a deep link: breadcrumbs two folders deep, reload, Back and Forward, a second tab', async () => {
  const key = await apiKey()
  const [outer, inner] = await nestedFolders(key)
  await uploadVia(key, 'deep.txt', 'deep file', inner)

  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'Open folder Deep outer' }).click()
  await page.getByRole('button', { name: 'Open folder Deep inner' }).click()
  const crumbs = page.getByRole('navigation', { name: 'Folders' })
  await crumbs.getByText('Deep inner').waitFor()
  assert.equal(await crumbs.getByRole('button', { name: 'Deep outer' }).count(), 1)
  assert.equal(new URL(page.url()).searchParams.get('folder'), inner)
  await page.getByRole('button', { name: 'deep.txt' }).click()
  await panel().getByRole('heading', { name: 'deep.txt' }).waitFor()
  const deep = page.url()
  assert.match(deep, new RegExp(`/stacks/${key}\\?folder=${inner}&asset=blt[0-9a-f]{16}$`))

  // A reload shows the same folder, breadcrumbs and open asset.
  await page.reload()
  await panel().getByRole('heading', { name: 'deep.txt' }).waitFor()
  await crumbs.getByRole('button', { name: 'Deep outer' }).waitFor()
  await crumbs.getByText('Deep inner').waitFor()
  // Back closes the asset, again goes up a folder; Forward comes back.
  await page.goBack()
  await panel().waitFor({ state: 'detached' })
  assert.equal(new URL(page.url()).searchParams.get('folder'), inner)
  await page.goBack()
  await page.getByRole('button', { name: 'Open folder Deep inner' }).waitFor()
  assert.equal(new URL(page.url()).searchParams.get('folder'), outer)
  await page.goForward()
  await page.goForward()
  await panel().getByRole('heading', { name: 'deep.txt' }).waitFor()
  assert.equal(page.url(), deep)
  // The link opened in another tab: the same view, no second login.
  const tab = await context.newPage()
  await tab.goto(deep)
  await tab.getByRole('region', { name: 'Asset details' }).getByRole('heading', { name: 'deep.txt' }).waitFor()
  await tab.close()
})

test('keyboard only: Enter opens the panel with focus in it, Escape closes it, a permanent URL is generated', async () => {
  await uploadVia(await apiKey(), 'invoice.csv', 'a,b\n1,2\n')
  await page.getByRole('navigation', { name: 'Folders' }).getByRole('button', { name: 'All assets' }).click()
  const row = page.getByRole('button', { name: 'invoice.csv' })
  await row.waitFor()
  await row.focus()
  await page.keyboard.press('Enter')
  await panel().getByRole('heading', { name: 'invoice.csv' }).waitFor()
  assert.equal(await page.evaluate(() => document.activeElement.id), 'panel', 'focus moved into the panel')
  assert.equal(await row.getAttribute('aria-pressed'), 'true', 'the row is marked selected')
  // Escape closes it; focus is back on the row.
  await page.keyboard.press('Escape')
  await panel().waitFor({ state: 'detached' })
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'invoice.csv')
  // Enter again, then Tab to "Generate permanent URL" (a few stops, not the whole list).
  await page.keyboard.press('Enter')
  await panel().getByRole('heading', { name: 'invoice.csv' }).waitFor()
  let tabs = 0
  while (await page.evaluate(() => document.activeElement.textContent) !== 'Generate permanent URL') {
    await page.keyboard.press('Tab')
    tabs += 1
    assert.ok(tabs <= 12, `Generate permanent URL within 12 Tabs of the panel (${tabs})`)
  }
  await page.keyboard.press('Enter')
  const dlg = page.getByRole('dialog', { name: 'Generate permanent URL' })
  await dlg.waitFor()
  await page.keyboard.press('Control+A')
  await page.keyboard.type('invoice-by-keyboard')
  await page.keyboard.press('Enter')
  await dlg.waitFor({ state: 'detached' })
  await panel().locator('#permanent-url').filter({ hasText: /\/invoice-by-keyboard$/ }).waitFor()
})

test('a version is restored from the panel; versions show their size', async () => {
  await page.getByRole('button', { name: 'invoice.csv' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'invoice.csv' }).waitFor()
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), p.getByRole('button', { name: 'Replace file' }).click()])
  await chooser.setFiles([file('invoice-v2.csv', 'text/csv', Buffer.from('a,b\n1,2\n3,4\n'))])
  await p.getByText(/File replaced/).waitFor()
  const versions = p.getByRole('list', { name: 'Version history' })
  const before = await versions.getByRole('listitem').count()
  await versions.getByText(/Version 1 .* B/).waitFor()
  await versions.getByRole('button', { name: 'Restore version 1' }).click()
  const dlg = page.getByRole('dialog', { name: 'Restore version 1?' })
  await dlg.getByRole('button', { name: 'Restore' }).click()
  await p.getByText('Version 1 restored as the current version').waitFor()
  assert.equal(await versions.getByRole('listitem').count(), before + 1)
  assert.match(await p.locator('#version-url').textContent(), /\/invoice\.csv$/)
  // The permanent URL serves the restored file.
  const permanent = await p.locator('#permanent-url').textContent()
  const body = await (await fetch(permanent)).text()
  assert.doesNotMatch(body, /3,4/)
})

test('after a lost race the panel shows the permanent URL the other tab made', async () => {
  await page.getByRole('button', { name: 'report.pdf' }).click()
  await panel().getByRole('heading', { name: 'report.pdf' }).waitFor()
  // The race test above left report.pdf with a permanent URL made elsewhere.
  await panel().locator('#permanent-url').filter({ hasText: /\/won-elsewhere$/ }).waitFor()
  assert.equal(await panel().getByRole('button', { name: 'Generate permanent URL' }).count(), 0)
})

test('no console errors on the stacks, library, panel and settings pages', async () => {
  // A stack of its own, with ordinary content: an image, a document, a folder. (The shared
  // stack above holds a deliberately truncated PNG, whose thumbnail answers 422, which
  // the browser logs; the row then shows the file's extension instead.)
  const errors = []
  const tab = await context.newPage()
  tab.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()) })
  tab.on('pageerror', (e) => errors.push(String(e)))
  tab.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`) })
  await tab.goto(base + '/')
  await tab.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await tab.getByLabel('New stack name').fill('Clean stack')
  await tab.getByRole('button', { name: 'Create stack' }).click()
  await tab.getByText('This folder is empty').waitFor()
  const key = (tab.url().match(/\/stacks\/(blt[0-9a-f]{16})/) || [])[1]
  await uploadVia(key, 'photo.png', PNG)
  await uploadVia(key, 'notes.pdf', '%PDF-1.4 notes')
  await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Archive' } }, key)
  await tab.reload()
  await tab.getByRole('button', { name: 'Open folder Archive' }).waitFor()
  const thumb = tab.getByRole('button', { name: 'photo.png' }).locator('img')
  await tab.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle())
  await tab.getByRole('button', { name: 'photo.png' }).click()
  await tab.getByRole('region', { name: 'Asset details' }).getByRole('img', { name: 'Preview of photo.png' }).waitFor()
  await tab.getByRole('button', { name: 'Open folder Archive' }).click()
  await tab.getByText('This folder is empty').waitFor()
  await tab.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Settings' }).click()
  await tab.getByRole('heading', { name: 'Settings' }).waitFor()
  assert.match(tab.url(), /\/stacks\/blt[0-9a-f]{16}\/settings$/)
  await tab.goBack()
  await tab.getByText('This folder is empty').waitFor()
  await tab.goto(base + '/')
  await tab.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await tab.close()
  assert.deepEqual(errors, [])
})

test('a replace shows its progress and holds the other actions until it is done', async () => {
  await page.getByRole('button', { name: 'invoice.csv' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'invoice.csv' }).waitFor()
  // The upload is held for a moment on its way, so its progress can be seen.
  let release
  const held = new Promise((resolve) => { release = resolve })
  await page.route('**/v3/assets/*', async (route) => {
    if (route.request().method() === 'PUT') await held
    await route.continue()
  })
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), p.getByRole('button', { name: 'Replace file' }).click()])
  await chooser.setFiles([file('invoice-v3.csv', 'text/csv', Buffer.from('a,b\n5,6\n'))])
  await p.getByRole('progressbar', { name: 'Replacing with invoice-v3.csv' }).waitFor()
  assert.equal(await p.getByRole('button', { name: 'Publish' }).isDisabled(), true)
  assert.equal(await p.getByRole('button', { name: 'Delete' }).isDisabled(), true)
  release()
  await p.getByText(/File replaced/).waitFor()
  assert.equal(await p.getByRole('button', { name: 'Publish' }).isDisabled(), false)
  await page.unroute('**/v3/assets/*')
})

test('up one level; SVG and PDF previews', async () => {
  const key = await apiKey()
  await uploadVia(key, 'mark.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="red"/></svg>')
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'Open folder Deep outer' }).click()
  await page.getByRole('button', { name: 'Open folder Deep inner' }).click()
  await page.getByRole('navigation', { name: 'Folders' }).getByText('Deep inner').waitFor()
  await page.getByRole('button', { name: 'Up one level' }).click()
  await page.getByRole('button', { name: 'Open folder Deep inner' }).waitFor()
  await page.getByRole('button', { name: 'Up one level' }).click()
  await page.getByRole('button', { name: 'mark.svg' }).click()
  const svg = panel().getByRole('img', { name: 'Preview of mark.svg' })
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await svg.elementHandle())
  await page.getByRole('button', { name: 'report.pdf' }).click()
  await panel().getByRole('link', { name: 'Open the PDF' }).waitFor()
})

test('an expired session keeps the view and the details being typed', async () => {
  await page.getByRole('button', { name: 'invoice.csv' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'invoice.csv' }).waitFor()
  const there = page.url()
  await p.getByLabel('Description').fill('Half-typed when the session ended')
  // The session ends elsewhere (another tab logs out, or it expires).
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('perma.session')).authtoken)
  const out = await fetch(`${base}/v3/user-session`, { method: 'DELETE', headers: { authtoken: token } })
  assert.equal(out.status, 200)
  await p.getByRole('button', { name: 'Save changes' }).click()
  await page.getByRole('heading', { name: 'Log in to perma' }).waitFor()
  assert.equal(page.url(), there, 'the address stays')
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await p.getByText('Your unsaved changes were kept').waitFor()
  assert.equal(await p.getByLabel('Description').inputValue(), 'Half-typed when the session ended')
  await p.getByRole('button', { name: 'Save changes' }).click()
  await p.getByText('Changes saved').waitFor()
})

test('folders: move an asset from its panel, move and delete ticked assets, rename and delete a folder; sort; tags in the list', async () => {
  const key = await apiKey()
  await uploadVia(key, 'mover-a.txt', 'a')
  await uploadVia(key, 'mover-b.txt', 'bb')
  await uploadVia(key, 'mover-c.txt', 'ccc')
  const [, box] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Moving box' } }, key)
  await page.goto(`${base}/stacks/${key}`)
  // One asset from its panel.
  await page.getByRole('button', { name: 'mover-a.txt' }).click()
  await panel().getByRole('button', { name: 'Move' }).click()
  let dlg = page.getByRole('dialog', { name: /^Move / })
  await dlg.getByRole('button', { name: 'Choose folder Moving box' }).click()
  await dlg.getByRole('navigation', { name: 'Destination folder' }).locator('[aria-current]', { hasText: 'Moving box' }).waitFor()
  await dlg.getByRole('button', { name: 'Move', exact: true }).click()
  await page.getByRole('button', { name: 'mover-a.txt' }).waitFor({ state: 'detached' })
  // Two ticked ones.
  await page.getByRole('checkbox', { name: 'Select mover-b.txt' }).check()
  await page.getByRole('checkbox', { name: 'Select mover-c.txt' }).check()
  await page.getByRole('button', { name: 'Move selected' }).click()
  dlg = page.getByRole('dialog', { name: 'Move 2 assets' })
  await dlg.getByRole('button', { name: 'Choose folder Moving box' }).click()
  await dlg.getByRole('navigation', { name: 'Destination folder' }).locator('[aria-current]', { hasText: 'Moving box' }).waitFor()
  await dlg.getByRole('button', { name: 'Move', exact: true }).click()
  await page.getByRole('button', { name: 'mover-c.txt' }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'Open folder Moving box' }).click()
  for (const n of ['mover-a.txt', 'mover-b.txt', 'mover-c.txt']) await page.getByRole('button', { name: n }).waitFor()
  // Sorted largest first: c (3 B), b, a.
  await page.getByLabel('Sort by').selectOption('largest')
  // The list is shown again once the sorted page arrives: wait for that order.
  const order = () => page.getByRole('list', { name: 'Assets and folders' }).locator('button.item .name').allTextContents().then((n) => n.map((x) => x.trim()))
  for (let i = 0; i < 50 && (await order())[0] !== 'mover-c.txt'; i++) await page.waitForTimeout(100)
  assert.deepEqual(await order(), ['mover-c.txt', 'mover-b.txt', 'mover-a.txt'])
  await page.getByLabel('Sort by').selectOption('name')
  // Tags show in the list.
  const [, listed] = await apiAs('GET', `/v3/assets?folder=${box.asset.uid}`, null, key)
  const b = listed.assets.find((x) => x.filename === 'mover-b.txt')
  await apiAs('PUT', `/v3/assets/${b.uid}`, { asset: { tags: ['boxed'] } }, key)
  await page.reload()
  await page.getByRole('button', { name: 'mover-b.txt' }).locator('.tag', { hasText: 'boxed' }).waitFor()
  // Delete two ticked assets.
  await page.getByRole('checkbox', { name: 'Select mover-a.txt' }).check()
  await page.getByRole('checkbox', { name: 'Select mover-b.txt' }).check()
  await page.getByRole('button', { name: 'Delete selected' }).click()
  await page.getByRole('dialog', { name: 'Delete 2 assets?' }).getByRole('button', { name: 'Delete assets' }).click()
  await page.getByRole('button', { name: 'mover-a.txt' }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'mover-b.txt' }).waitFor({ state: 'detached' })
  // Rename the folder, then delete it (with what is left in it).
  await page.getByRole('button', { name: 'Rename folder' }).click()
  dlg = page.getByRole('dialog', { name: 'Rename folder' })
  await dlg.getByLabel('Folder name').fill('Shipped box')
  await dlg.getByRole('button', { name: 'Rename' }).click()
  await page.getByRole('navigation', { name: 'Folders' }).getByText('Shipped box').waitFor()
  await page.getByRole('button', { name: 'Delete folder' }).click()
  await page.getByRole('dialog', { name: 'Delete folder?' }).getByRole('button', { name: 'Delete folder' }).click()
  await page.getByRole('button', { name: 'Open folder Shipped box' }).waitFor({ state: 'detached' })
  const [status] = await apiAs('GET', `/v3/assets/folders/${box.asset.uid}`, null, key)
  assert.equal(status, 404)
})

test('the move dialog browses folders a page at a time and finds one by name anywhere', async () => {
  const key = await apiKey()
  const login = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  const { user } = await login.json()
  const folder = async (name, parent) => {
    const res = await fetch(`${base}/v3/assets/folders`, { method: 'POST', headers: { authtoken: user.authtoken, api_key: key, 'content-type': 'application/json' }, body: JSON.stringify({ asset: { name, parent_uid: parent } }) })
    assert.equal(res.status, 201)
    return (await res.json()).asset.uid
  }
  const shelves = await folder('Shelves')
  const uids = []
  for (let i = 0; i < 120; i += 10) {
    uids.push(...await Promise.all(Array.from({ length: 10 }, (_, j) => folder(`Shelf ${String(i + j).padStart(3, '0')}`, shelves))))
  }
  const deep = await folder('Deep', uids[7])
  const deeper = await folder('Deeper', deep)
  await uploadVia(key, 'picked.txt', 'p')
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'picked.txt' }).click()
  await panel().getByRole('button', { name: 'Move' }).click()
  const dlg = page.getByRole('dialog', { name: /^Move .picked\.txt/ })
  const list = dlg.getByRole('list', { name: 'Folders' })
  const where = dlg.getByRole('navigation', { name: 'Destination folder' })
  // Browsing: 120 folders in Shelves come 100 at a time, in name order.
  await dlg.getByRole('button', { name: 'Choose folder Shelves' }).click()
  await where.locator('[aria-current]', { hasText: 'Shelves' }).waitFor()
  await list.getByRole('button', { name: 'Choose folder Shelf 099' }).waitFor()
  assert.equal(await list.getByRole('listitem').count(), 100)
  await dlg.getByRole('button', { name: 'More folders' }).click()
  await list.getByRole('button', { name: 'Choose folder Shelf 119' }).waitFor()
  assert.equal(await list.getByRole('listitem').count(), 120)
  assert.equal(await dlg.getByRole('button', { name: 'More folders' }).count(), 0)
  // Back to the top level by the path.
  await where.getByRole('button', { name: 'All assets' }).click()
  await list.getByRole('button', { name: 'Choose folder Shelves' }).waitFor()
  // Finding: Enter searches (it does not move); every folder whose name contains the text.
  const find = dlg.getByLabel('Find a folder')
  await find.fill('shelf 01')
  await find.press('Enter')
  await list.getByRole('button', { name: 'Choose folder Shelf 019' }).waitFor()
  assert.equal(await list.getByRole('listitem').count(), 10)
  assert.ok(await dlg.isVisible(), 'Enter in the search field does not submit the move')
  await find.fill('DEEPER')
  await list.getByRole('button', { name: 'Choose folder Deeper' }).waitFor()
  await list.getByRole('button', { name: 'Choose folder Deeper' }).click()
  // A found folder becomes the destination with its whole path.
  await where.locator('[aria-current]', { hasText: 'Deeper' }).waitFor()
  assert.deepEqual((await where.locator('.crumb').allTextContents()).map((t) => t.trim()), ['All assets', 'Shelves', 'Shelf 007', 'Deep', 'Deeper'])
  assert.equal(await find.inputValue(), '')
  await find.fill('no such folder anywhere')
  await find.press('Enter')
  await list.getByText('No folder matches.').waitFor()
  // Leaving the search keeps the destination found before.
  await find.fill('')
  await find.press('Enter')
  await list.getByText('No folders in here.').waitFor()
  await dlg.getByRole('button', { name: 'Move', exact: true }).click()
  await dlg.waitFor({ state: 'detached' })
  const [, listed] = await apiAs('GET', `/v3/assets?folder=${deeper}`, null, key)
  assert.deepEqual(listed.assets.map((a) => a.filename), ['picked.txt'])
})

test('by name: folders first, then files, each alphabetically without regard to case', async () => {
  const key = await apiKey()
  const [, shelf] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Name order' } }, key)
  for (const name of ['zeta', 'Alpha']) await apiAs('POST', '/v3/assets/folders', { asset: { name, parent_uid: shelf.asset.uid } }, key)
  for (const name of ['banana.txt', 'Apple.txt', 'cherry.txt', 'Date.txt']) await uploadVia(key, name, name, shelf.asset.uid)
  await page.goto(`${base}/stacks/${key}?folder=${shelf.asset.uid}`)
  await page.getByLabel('Sort by').selectOption('name')
  await page.getByRole('button', { name: 'Date.txt' }).waitFor()
  const names = await page.getByRole('list', { name: 'Assets and folders' }).locator('button.item .name').allTextContents()
  assert.deepEqual(names.map((n) => n.trim()), ['Alpha', 'zeta', 'Apple.txt', 'banana.txt', 'cherry.txt', 'Date.txt'])
})

test('a search in a folder looks through it and its subfolders, says where each result lives; a type filter', async () => {
  const key = await apiKey()
  await uploadVia(key, 'deep-photo.png', PNG)
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'Open folder Deep outer' }).click()
  await page.getByLabel('Search assets').fill('deep')
  await page.getByText('Search results for “deep” in Deep outer').waitFor()
  const row = page.getByRole('button', { name: 'deep.txt' })
  await row.locator('.where', { hasText: 'in Deep outer / Deep inner' }).waitFor()
  // deep-photo.png is at the top level: outside this folder.
  assert.equal(await page.getByRole('button', { name: 'deep-photo.png' }).count(), 0)
  assert.match(page.url(), /folder=blt[0-9a-f]{16}&q=deep/)
  await page.getByRole('button', { name: 'Search all assets' }).click()
  await page.getByRole('button', { name: 'deep-photo.png' }).locator('.where', { hasText: 'in All assets' }).waitFor()
  await row.waitFor()
  // Only images.
  await page.getByLabel('Show').selectOption('image')
  await page.getByRole('button', { name: 'deep.txt' }).waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'deep-photo.png' }).waitFor()
  assert.match(page.url(), /type=image/)
  await page.reload()
  await page.getByRole('button', { name: 'deep-photo.png' }).waitFor()
  assert.equal(await page.getByRole('button', { name: 'deep.txt' }).count(), 0)
  await page.getByLabel('Show').selectOption('')
  await page.getByLabel('Search assets').fill('')
  await page.getByRole('button', { name: 'Open folder Deep outer' }).waitFor()
})

test('tag the ticked assets; filter by tag and by date; versions of an image show their own thumbnails', async () => {
  const key = await apiKey()
  await uploadVia(key, 'tag-me-1.txt', 'one')
  await uploadVia(key, 'tag-me-2.txt', 'two')
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('checkbox', { name: 'Select tag-me-1.txt' }).check()
  await page.getByRole('checkbox', { name: 'Select tag-me-2.txt' }).check()
  await page.getByRole('button', { name: 'Tag selected' }).click()
  const dlg = page.getByRole('dialog', { name: 'Tag 2 assets' })
  await dlg.getByLabel('Tags to add').fill('campaign, q4')
  await dlg.getByRole('button', { name: 'Add tags' }).click()
  await page.getByRole('button', { name: 'tag-me-1.txt' }).locator('.tag', { hasText: 'q4' }).waitFor()
  // Filter by that tag: only the two.
  await page.getByLabel('Tag', { exact: true }).fill('campaign')
  await page.getByLabel('Tag', { exact: true }).press('Enter')
  await page.getByRole('button', { name: 'report.pdf' }).waitFor({ state: 'detached' })
  const names = await page.getByRole('list', { name: 'Assets and folders' }).locator('button.item .name').allTextContents()
  assert.equal(names.length, 2)
  assert.match(page.url(), /tag=campaign/)
  await page.getByLabel('Tag', { exact: true }).fill('')
  await page.getByLabel('Tag', { exact: true }).press('Enter')
  // Changed in the last 7 days: everything here; the address keeps the filter.
  await page.getByLabel('Changed').selectOption('week')
  await page.getByRole('button', { name: 'report.pdf' }).waitFor()
  assert.match(page.url(), /since=week/)
  await page.getByLabel('Changed').selectOption('')
  // An image replaced by another: each version has its own thumbnail.
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  const thumbs = panel().getByRole('list', { name: 'Version history' }).locator('img.vthumb')
  await thumbs.first().waitFor()
  const srcs = await thumbs.evaluateAll((els) => els.map((e) => e.getAttribute('src')))
  // Versions that only changed details share their file (and its thumbnail).
  assert.ok(new Set(srcs).size >= 2, `a thumbnail of each version's file: ${srcs}`)
})

test('publish to several environments and locales at once; nothing ticked is refused in words', async () => {
  const key = await apiKey()
  await apiAs('POST', '/v3/environments', { environment: { name: 'staging', urls: [] } }, key)
  await apiAs('POST', '/v3/locales', { locale: { code: 'fr-fr', name: 'French' } }, key)
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'tag-me-1.txt' }).click()
  const p = panel()
  await p.getByRole('button', { name: 'Publish' }).click()
  const dlg = page.getByRole('dialog', { name: 'Publish' })
  // Two environments: none ticked to begin with.
  await dlg.getByRole('button', { name: 'Publish' }).click()
  await dlg.getByRole('alert').filter({ hasText: 'Tick at least one environment.' }).waitFor()
  await dlg.getByRole('checkbox', { name: 'production' }).check()
  await dlg.getByRole('checkbox', { name: 'staging' }).check()
  await dlg.getByRole('checkbox', { name: /\(fr-fr\)/ }).check()
  await dlg.getByRole('button', { name: 'Publish' }).click()
  await p.getByText('Published to production, staging').waitFor()
  for (const where of ['production \u00b7 en-us', 'production \u00b7 fr-fr', 'staging \u00b7 en-us', 'staging \u00b7 fr-fr']) {
    await p.locator('#publish-status').getByText(where).waitFor()
  }
})

test('alt text: an extension chosen in settings, edited in the panel without a new version, published where the asset is', async () => {
  const key = await apiKey()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Settings' }).click()
  await page.getByRole('button', { name: 'Add an alt text extension' }).click()
  await page.getByText('Alt text extension added; the asset panel edits it').waitFor()
  const chosen = await page.getByLabel('Shown in the asset panel').inputValue()
  assert.match(chosen, /^blt[0-9a-f]{16}$/)
  assert.equal(await page.getByRole('button', { name: 'Add an alt text extension' }).count(), 0)

  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'tag-me-1.txt' }).click()
  const p = panel()
  await p.getByRole('heading', { name: 'Alt text' }).waitFor()
  const uid = (await p.locator('#version-url').textContent()).match(/\/(blt[0-9a-f]{16})\/[0-9a-f]{24}\//)[1]
  const [, before] = await apiAs('GET', `/v3/assets/${uid}`, null, key)
  await p.getByRole('textbox', { name: 'Alt text' }).fill('A note, tagged')
  await p.getByRole('button', { name: 'Save Alt text' }).click()
  await p.getByText('Alt text saved').waitFor()
  assert.equal(await p.getByRole('textbox', { name: 'Alt text' }).inputValue(), 'A note, tagged')
  const [, after] = await apiAs('GET', `/v3/assets/${uid}`, null, key)
  assert.equal(after.asset._version, before.asset._version, 'metadata makes no new version')
  await p.getByText('Not published yet: websites read it once it is published.').waitFor()
  await p.getByRole('button', { name: 'Publish Alt text' }).click()
  await p.getByText('Alt text published to production, staging').waitFor()
  await p.locator('#metadata-status').getByText(/production · en-us/).waitFor()
  await p.getByRole('heading', { name: 'Alt text' }).scrollIntoViewIfNeeded()
  await page.screenshot({ path: join(shots, 'panel-alt-text.png') })
  // What the panel wrote is the asset's metadata: its API answers it, and a query finds it.
  const [, md] = await apiAs('GET', `/v3/metadata?entity_uid=${uid}&extension_uid=${chosen}`, null, key)
  assert.equal(md.metadata.length, 1)
  assert.equal(md.metadata[0].alt, 'A note, tagged')
  assert.equal(md.metadata[0].is_published, true)
  const q = encodeURIComponent(JSON.stringify({ [`_metadata.extensions.${chosen}.alt`]: 'A note, tagged' }))
  const [, found] = await apiAs('GET', `/v3/assets?query=${q}`, null, key)
  assert.deepEqual(found.assets.map((a) => a.uid), [uid])

  // None chosen: the panel shows no metadata.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Settings' }).click()
  await page.getByLabel('Shown in the asset panel').selectOption('')
  await page.getByRole('button', { name: 'Save', exact: true }).click()
  await page.getByText('The asset panel edits no metadata').waitFor()
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'tag-me-1.txt' }).click()
  await panel().getByRole('heading', { name: 'Versions' }).waitFor()
  assert.equal(await panel().getByRole('heading', { name: 'Alt text' }).count(), 0)
})

test('Open as of… gives the permanent URL as it answered at a past moment', async () => {
  const key = await apiKey()
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'Sample Logo (1).PNG' }).click()
  const p = panel()
  const permanentUrl = await p.locator('#permanent-url').textContent()
  await p.getByRole('button', { name: 'Open as of…' }).click()
  await p.getByRole('alert').filter({ hasText: 'Choose a date and time first.' }).waitFor()
  // A local time a second ago, as the browser's datetime-local input takes it.
  const local = await page.evaluate(() => new Date(Date.now() - 1000 - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19))
  await p.getByLabel('Date and time').fill(local)
  const [popup] = await Promise.all([context.waitForEvent('page'), p.getByRole('button', { name: 'Open as of…' }).click()])
  await popup.close()
  const url = await p.locator('#as-of-url').textContent()
  assert.ok(url.startsWith(`${permanentUrl}?at=`), url)
  const answer = await page.evaluate(async (u) => {
    const r = await fetch(u)
    return { status: r.status, memento: r.headers.get('memento-datetime'), type: r.headers.get('content-type') }
  }, url)
  assert.equal(answer.status, 200)
  assert.ok(answer.memento, 'a Memento-Datetime header')
  assert.equal(answer.type, 'image/png')
})

test('the trash: a deleted asset waits there with its days left, comes back, or goes for good', async () => {
  const key = await apiKey()
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'tag-me-2.txt' }).click()
  await panel().getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('dialog', { name: 'Delete asset?' }).getByRole('button', { name: 'Delete asset' }).click()
  await page.getByRole('button', { name: 'tag-me-2.txt' }).waitFor({ state: 'detached' })
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Trash' }).click()
  assert.match(page.url(), /\/stacks\/blt[0-9a-f]{16}\/trash$/)
  const list = page.getByRole('list', { name: 'Deleted items' })
  const item = list.getByRole('listitem').filter({ hasText: 'tag-me-2.txt' })
  await item.getByText(/14 days left/).waitFor()
  await page.screenshot({ path: join(shots, 'trash.png') })
  // Reloading the address shows the trash again.
  await page.reload()
  await page.getByRole('list', { name: 'Deleted items' }).getByText('tag-me-2.txt').waitFor()
  await page.getByRole('button', { name: 'Restore tag-me-2.txt' }).click()
  await page.getByText('“tag-me-2.txt” restored').waitFor()
  await page.getByRole('button', { name: 'Restore tag-me-2.txt' }).waitFor({ state: 'detached' })
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Assets' }).click()
  await page.getByRole('button', { name: 'tag-me-2.txt' }).waitFor()
  // Deleted again, then for good: it cannot come back.
  const [, listed] = await apiAs('GET', '/v3/assets?query=' + encodeURIComponent(JSON.stringify({ filename: 'tag-me-2.txt' })), null, key)
  const uid = listed.assets[0].uid
  await apiAs('DELETE', `/v3/assets/${uid}`, null, key)
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Trash' }).click()
  await page.getByRole('button', { name: 'Delete tag-me-2.txt for good' }).click()
  await page.getByRole('dialog', { name: 'Delete “tag-me-2.txt” for good?' }).getByRole('button', { name: 'Delete for good' }).click()
  await page.getByText('“tag-me-2.txt” deleted for good').waitFor()
  await page.getByRole('button', { name: 'Delete tag-me-2.txt for good' }).waitFor({ state: 'detached' })
  // Emptying the whole trash asks first, then leaves nothing.
  await page.getByRole('button', { name: 'Empty trash' }).click()
  await page.getByRole('dialog', { name: 'Empty the trash?' }).getByRole('button', { name: 'Delete for good' }).click()
  await page.getByText('The trash is empty.').waitFor()
  const [status] = await apiAs('POST', `/v3/trash/${uid}/restore`, null, key)
  assert.equal(status, 404)
})

test('teams: the panel says who changed an asset, settings show the audit log, a viewer sees no buttons their role does not allow', async () => {
  const key = await apiKey()
  await page.goto(`${base}/stacks/${key}`)
  await uploadVia(key, 'team-note.txt', 'for the team')
  await page.goto(`${base}/stacks/${key}`)
  await page.getByRole('button', { name: 'team-note.txt' }).click()
  const history = panel().getByRole('list', { name: 'Who changed this asset' })
  await history.getByText(`Uploaded by ${EMAIL}`).waitFor()
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Settings' }).click()
  const log = page.getByRole('list', { name: 'Audit log' })
  await log.getByText(/asset create/).first().waitFor()
  await page.getByLabel('Show changes of').selectOption('environment')
  await page.getByRole('list', { name: 'Audit log' }).getByText(/asset create/).first().waitFor({ state: 'detached' })
  await page.getByRole('list', { name: 'Audit log' }).getByText(/environment create/).first().waitFor()

  // A viewer: a custom role that reads every asset and changes nothing.
  const [st, made] = await apiAs('POST', '/v3/roles', { role: { name: 'Viewers', rules: [{ module: 'asset', assets: ['$all'], acl: { read: true } }] } }, key)
  assert.equal(st, 201, JSON.stringify(made))
  const [st2, shared] = await apiAs('POST', '/v3/stacks/share', { emails: ['viewer@example.com'], roles: { 'viewer@example.com': [made.role.uid] } }, key)
  assert.equal(st2, 200, JSON.stringify(shared))
  const first = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: { email: 'viewer@example.com', password: 'viewer-password', invitation_token: shared.invitations[0].invitation_token } }) })
  assert.equal(first.status, 200)
  const viewer = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const vp = await viewer.newPage()
  await vp.goto(base)
  await vp.getByLabel('Email').fill('viewer@example.com')
  await vp.getByLabel('Password').fill('viewer-password')
  await vp.getByRole('button', { name: 'Log in' }).click()
  await vp.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await vp.goto(`${base}/stacks/${key}`)
  await vp.getByRole('button', { name: 'team-note.txt' }).click()
  const vpanel = vp.getByRole('region', { name: 'Asset details' })
  await vpanel.getByRole('list', { name: 'Who changed this asset' }).waitFor()
  for (const name of ['Replace file', 'Move', 'Publish', 'Delete', 'Save changes']) {
    assert.equal(await vpanel.getByRole('button', { name, exact: true }).count(), 0, name)
  }
  const nav = vp.getByRole('navigation', { name: 'Main' })
  assert.equal(await nav.getByRole('button', { name: 'Settings' }).count(), 0)
  assert.equal(await nav.getByRole('button', { name: 'Trash' }).count(), 1, 'a viewer of every asset sees the trash')
  assert.equal(await vp.getByRole('button', { name: 'Upload', exact: true }).count(), 0)
  assert.equal(await vp.getByRole('button', { name: 'New folder' }).count(), 0)
  // A forbidden action still gets the API's answer.
  const answer = await vp.evaluate(async (k) => {
    const s = JSON.parse(localStorage.getItem('perma.session'))
    const r = await fetch('/v3/assets/folders', { method: 'POST', headers: { authtoken: s.authtoken, api_key: k, 'content-type': 'application/json' }, body: JSON.stringify({ asset: { name: 'nope' } }) })
    return [r.status, (await r.json()).error_code]
  }, key)
  assert.deepEqual(answer, [403, 161])
  await viewer.close()
})
