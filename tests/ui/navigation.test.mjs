// The web UI (§7) in Chromium: addresses (deep links, reload, Back and Forward, a second
// tab), the keyboard alone, restoring a version, a replace in progress, previews, an
// expired session, and no console errors. On a stack seeded through the API (author.mjs).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { EMAIL, PASSWORD, PNG, apiAs, apiKey, close, file, nestedFolders, open, panel, seededStack, uploadVia } from './author.mjs'

let base, context, page

before(async () => {
  ({ base, context, page } = await open())
  await seededStack()
})
after(close)

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
