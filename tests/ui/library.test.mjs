// The web UI (§7) in Chromium as a daily library: moving and sorting, the folder picker,
// searching in a folder, tags and dates, publishing to several environments, alt text,
// a permanent URL as of a past moment, the trash, and teams. On a stack seeded through the
// API (author.mjs) with an image replaced once, report.pdf and a file two folders deep.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { EMAIL, PASSWORD, PNG, apiAs, apiKey, close, open, panel, seededStack, shots, uploadVia } from './author.mjs'

let base, browser, context, page

before(async () => {
  ({ base, browser, context, page } = await open())
  await seededStack({ withLogo: true, withDeep: true })
})
after(close)

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
