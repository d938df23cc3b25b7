// End-to-end tests of the web UI (§7) in Debian's Chromium, driven by playwright-core: an
// author's first steps, from logging in to publishing, settings, webhooks and signed links.
// Starts the real perma binary (PERMA_BIN, default ../../target/debug/perma) on 127.0.0.1:0.
// The later steps are in navigation.test.mjs and library.test.mjs, on a stack seeded
// through the API (author.mjs).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { EMAIL, MAX_UPLOAD, PASSWORD, PNG, apiAs, apiKey, chooseFiles, close, file, open, panel, shots } from './author.mjs'

let base, browser, context, page

before(async () => { ({ base, browser, context, page } = await open()) })
after(close)

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

test('after a lost race the panel shows the permanent URL the other tab made', async () => {
  await panel().getByRole('button', { name: 'Close' }).click()
  await panel().waitFor({ state: 'detached' })
  await page.getByRole('button', { name: 'report.pdf' }).click()
  await panel().getByRole('heading', { name: 'report.pdf' }).waitFor()
  // The race just lost left report.pdf with a permanent URL made elsewhere.
  await panel().locator('#permanent-url').filter({ hasText: /\/won-elsewhere$/ }).waitFor()
  assert.equal(await panel().getByRole('button', { name: 'Generate permanent URL' }).count(), 0)
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
