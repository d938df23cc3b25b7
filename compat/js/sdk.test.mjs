// The official @contentstack/management SDK, unchanged, pointed at perma.
// PERMA_URL (e.g. http://127.0.0.1:8080), PERMA_EMAIL and PERMA_PASSWORD come from compat/run.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:http'
import { createHmac } from 'node:crypto'
import contentstack from '@contentstack/management'

const base = process.env.PERMA_URL
const email = process.env.PERMA_EMAIL
const password = process.env.PERMA_PASSWORD
assert.ok(base && email && password, 'PERMA_URL, PERMA_EMAIL and PERMA_PASSWORD must be set')

// `host` refuses IP addresses and localhost; `endpoint` is taken as given.
const client = contentstack.client({ endpoint: `${base}/v3`, logHandler: () => {} })
const dir = mkdtempSync(join(tmpdir(), 'perma-js-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let stack
let asset

test('login and create a stack', async () => {
  const res = await client.login({ email, password })
  assert.equal(res.user.email, email)
  const orgs = await client.organization().fetchAll()
  const org = orgs.items[0].uid
  const created = await client.stack().create({ stack: { name: 'JS SDK stack', master_locale: 'en-us' } }, { organization_uid: org })
  assert.match(created.api_key, /^blt[0-9a-f]{16}$/)
  stack = client.stack({ api_key: created.api_key })
  const fetched = await stack.fetch()
  assert.equal(fetched.name, 'JS SDK stack')
  await stack.environment().create({ environment: { name: 'production', urls: [{ locale: 'en-us', url: 'https://example.com' }] } })
})

test('upload from a path and from a buffer', async () => {
  const path = join(dir, 'Sample Logo (1).txt')
  writeFileSync(path, 'first version of the logo')
  asset = await stack.asset().create({ upload: path, title: 'Logo', description: 'from a path', tags: ['brand', 'logo'] })
  assert.equal(asset.title, 'Logo')
  assert.equal(asset.filename, 'Sample_Logo_(1).txt')
  assert.deepEqual(asset.tags, ['brand', 'logo'])
  assert.equal(asset._version, 1)
  const fromBuffer = await stack.asset().create({ upload: Buffer.from('buffer bytes'), filename: 'buffer.txt', content_type: 'text/plain', title: 'Buffer' })
  assert.equal(fromBuffer.filename, 'buffer.txt')
  assert.equal(fromBuffer.file_size, '12')
})

test('fetch and query', async () => {
  const fetched = await stack.asset(asset.uid).fetch()
  assert.equal(fetched.uid, asset.uid)
  assert.equal(fetched.url, asset.url)
  const found = await stack.asset().query({ query: { tags: 'brand' } }).find()
  assert.equal(found.items.length, 1)
  assert.equal(found.items[0].uid, asset.uid)
  const all = await stack.asset().query({ include_count: true }).find()
  assert.equal(all.count, 2)
})

test('update sends the whole object back; read-only fields are ignored', async () => {
  const fetched = await stack.asset(asset.uid).fetch()
  fetched.title = 'Logo (edited)'
  const updated = await fetched.update()
  assert.equal(updated.title, 'Logo (edited)')
  assert.equal(updated._version, 2)
  assert.equal(updated.filename, asset.filename)
})

test('generate the permanent URL: set permanent_url, then update()', async () => {
  const fetched = await stack.asset(asset.uid).fetch()
  fetched.permanent_url = `https://images.contentstack.io/v3/assets/${fetched.api_key ?? stack.api_key}/${asset.uid}/sample-logo-1.txt`
  const updated = await fetched.update()
  assert.equal(updated.permanent_url, `${base}/v3/assets/${stack.api_key}/${asset.uid}/sample-logo-1.txt`)
  assert.equal(updated._version, 3)
  // Once only: a different slug is refused with the CMA error shape.
  updated.permanent_url = `https://x/v3/assets/${stack.api_key}/${asset.uid}/other`
  await assert.rejects(updated.update(), (err) => {
    assert.equal(err.status, 422)
    assert.deepEqual(err.errors.permanent_url, ['is already set and cannot be changed'])
    return true
  })
})

test('replace keeps the permanent URL; download through it', async () => {
  const path = join(dir, 'logo-v2.txt')
  writeFileSync(path, 'second version of the logo')
  const current = await stack.asset(asset.uid).fetch()
  const replaced = await current.replace({ upload: path })
  assert.equal(replaced.filename, 'logo-v2.txt')
  assert.notEqual(replaced.url, asset.url)
  assert.equal(replaced.permanent_url, current.permanent_url)
  const res = await replaced.download({ url: replaced.permanent_url, responseType: 'arraybuffer' })
  assert.equal(Buffer.from(res.data).toString(), 'second version of the logo')
  const old = await fetch(asset.url)
  assert.equal(await old.text(), 'first version of the logo')
})

test('publish', async () => {
  const current = await stack.asset(asset.uid).fetch()
  const res = await current.publish({ publishDetails: { environments: ['production'], locales: ['en-us'] } })
  assert.match(res.notice, /publish/i)
  const after = await stack.asset(asset.uid).fetch()
  assert.equal(after.publish_details.length, 1)
  const published = await fetch(`${after.permanent_url}?environment=production`)
  assert.equal(published.status, 200)
})

test('folders', async () => {
  const folder = await stack.asset().folder().create({ asset: { name: 'Brand' } })
  assert.equal(folder.is_dir, true)
  const fetched = await stack.asset().folder(folder.uid).fetch()
  assert.equal(fetched.name, 'Brand')
  const current = await stack.asset(asset.uid).fetch()
  current.parent_uid = folder.uid
  const moved = await current.update()
  assert.equal(moved.parent_uid, folder.uid)
  const inFolder = await stack.asset().query({ folder: folder.uid }).find()
  assert.equal(inFolder.items.length, 1)
})

test('versions', async () => {
  const v1 = await stack.asset(asset.uid).fetch({ version: 1 })
  assert.equal(v1.title, 'Logo')
  assert.equal(v1.url, asset.url)
})

test('delete, then the missing asset has the CMA error shape', async () => {
  const current = await stack.asset(asset.uid).fetch()
  const res = await current.delete()
  assert.match(res.notice, /deleted/i)
  await assert.rejects(stack.asset(asset.uid).fetch(), (err) => {
    assert.equal(err.status, 404)
    assert.equal(err.errorCode, 145)
    assert.ok(err.errorMessage.length > 0)
    return true
  })
  const gone = await fetch(asset.url)
  assert.equal(gone.status, 410)
})

test('management and delivery tokens: create, update, delete in Contentstack words', async () => {
  const mt = await stack.managementToken().create({ token: { name: 'ci', description: 'first', scope: [{ module: 'asset', acl: { read: true, write: false } }] } })
  assert.match(mt.token, /^cs/)
  mt.name = 'ci renamed'
  mt.scope = [{ module: 'asset', acl: { read: true, write: true } }]
  const updated = await mt.update()
  assert.equal(updated.name, 'ci renamed')
  assert.equal(updated.description, 'first')
  const removed = await stack.managementToken(mt.uid).delete()
  assert.equal(removed.notice, 'Management Token deleted successfully.')
  await assert.rejects(
    stack.managementToken().create({ token: { name: 'old', scope: [{ module: 'asset', acl: { read: true } }], expires_on: '2001-01-01T00:00:00.000Z' } }),
    (err) => { assert.equal(err.status, 422); assert.ok(err.errors.expires_on); return true })

  const dt = await stack.deliveryToken().create({ token: { name: 'site', scope: [{ module: 'environment', environments: ['production'], acl: { read: true } }] } })
  dt.description = 'the website'
  const dtUpdated = await dt.update()
  assert.equal(dtUpdated.description, 'the website')
  const dtRemoved = await stack.deliveryToken(dt.uid).delete()
  assert.equal(dtRemoved.notice, 'Delivery Token deleted successfully.')
})

test('locales: update name and fallback; a fallback that does not exist is refused', async () => {
  await stack.locale().create({ locale: { code: 'fr-fr', name: 'French' } })
  const fr = await stack.locale('fr-fr').fetch()
  fr.name = 'Français'
  const updated = await fr.update()
  assert.equal(updated.name, 'Français')
  const again = await stack.locale('fr-fr').fetch()
  again.fallback_locale = 'xx-xx'
  await assert.rejects(again.update(), (err) => {
    assert.equal(err.status, 422)
    assert.ok(err.errors.fallback_locale)
    return true
  })
  assert.equal((await stack.locale('fr-fr').fetch()).fallback_locale, 'en-us')
})

// Polls a bulk job until it is completed (5 s at most) and returns its status.
async function jobDone (jobId) {
  let status
  for (let i = 0; i < 100; i++) {
    status = await stack.bulkOperation().jobStatus({ job_id: jobId })
    if (status.status === 'completed') break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return status
}

test('bulk publish is a job whose status the SDK reads', async () => {
  const a = await stack.asset().create({ upload: Buffer.from('bulk one'), filename: 'bulk1.txt', content_type: 'text/plain', title: 'Bulk 1' })
  const b = await stack.asset().create({ upload: Buffer.from('bulk two'), filename: 'bulk2.txt', content_type: 'text/plain', title: 'Bulk 2' })
  const res = await stack.bulkOperation().publish({ details: { assets: [{ uid: a.uid }, { uid: b.uid }], environments: ['production'], locales: ['en-us'] } })
  assert.ok(res.job_id, JSON.stringify(res))
  const status = await jobDone(res.job_id)
  assert.equal(status.status, 'completed')
  assert.equal(status.summary.success, 2)
  const items = await stack.bulkOperation().getJobItems(res.job_id)
  assert.deepEqual(items.items.map(i => i.status), ['success', 'success'])
  const published = await stack.asset(a.uid).fetch()
  assert.equal(published.publish_details.length, 1)
})

test('stack members and a settings reset', async () => {
  const users = await stack.users()
  assert.equal(users.length, 1)
  assert.equal(users[0].email, email)
  const settings = await stack.resetSettings()
  assert.equal(settings.secure_asset_urls, false)
})

test('webhooks: create, list, update, a signed delivery, executions, retry, delete', async () => {
  const got = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => { got.push({ headers: req.headers, body }); res.end('ok') })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const wait = async (n) => {
    for (let i = 0; i < 200 && got.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    assert.equal(got.length, n)
  }
  try {
    const target = `http://127.0.0.1:${server.address().port}/hook`
    const hook = await stack.webhook().create({
      webhook: { name: 'JS hook', destinations: [{ target_url: target }], channels: ['assets.create'], retry_policy: 'manual' }
    })
    assert.match(hook.uid, /^blt[0-9a-f]{16}$/)
    const secret = hook.secret
    assert.ok(secret, 'the secret is shown at creation')
    const all = await stack.webhook().fetchAll()
    assert.ok(all.items.some((w) => w.uid === hook.uid))
    const fetched = await stack.webhook(hook.uid).fetch()
    fetched.name = 'JS hook, renamed'
    const updated = await fetched.update()
    assert.equal(updated.name, 'JS hook, renamed')
    assert.deepEqual(updated.channels, ['assets.create'])

    const a = await stack.asset().create({ upload: Buffer.from('hook me'), filename: 'hooked.txt', content_type: 'text/plain' })
    await wait(1)
    const body = got[0].body
    assert.equal(got[0].headers['x-contentstack-request-signature'], createHmac('sha256', secret).update(body).digest('hex'))
    assert.equal(JSON.parse(body).data.asset.uid, a.uid)
    assert.equal(JSON.parse(body).channel, 'assets.create')

    let executions
    for (let i = 0; i < 100; i++) {
      executions = await stack.webhook(hook.uid).executions()
      if (executions.webhooks[0]?.status === 'success') break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    assert.equal(executions.webhooks.length, 1)
    assert.equal(executions.webhooks[0].status, 'success')
    const retried = await stack.webhook(hook.uid).retry(executions.webhooks[0].uid)
    assert.ok(retried.notice)
    await wait(2)
    assert.equal(got[1].body, body, 'a retry sends the same body')
    assert.equal(got[1].headers['x-perma-event-id'], got[0].headers['x-perma-event-id'])
    await stack.webhook(hook.uid).delete()
    await assert.rejects(stack.webhook(hook.uid).fetch(), (e) => e.status === 404)
  } finally {
    server.close()
  }
})

test('webhooks as the SDK suite makes them: entry and asset channels, branches, import, partial update', async () => {
  // The SDK suite's basicWebhook and advancedWebhook (its mock configurations).
  const basic = await stack.webhook().create({
    webhook: {
      name: 'Basic Webhook',
      destinations: [{ target_url: 'https://webhook.example.com/basic', http_basic_auth: null, http_basic_password: null, custom_header: [] }],
      channels: ['content_types.entries.create', 'content_types.entries.update'],
      branches: ['main'],
      retry_policy: 'manual',
      disabled: true,
      concise_payload: true
    }
  })
  assert.deepEqual(basic.channels, ['content_types.entries.create', 'content_types.entries.update'])
  assert.deepEqual(basic.branches, ['main'])
  const channels = ['content_types.entries.create', 'content_types.entries.update', 'content_types.entries.delete',
    'content_types.entries.publish', 'content_types.entries.unpublish',
    'assets.create', 'assets.update', 'assets.delete', 'assets.publish', 'assets.unpublish']
  const advanced = await stack.webhook().create({
    webhook: {
      name: 'Advanced Webhook',
      destinations: [{
        target_url: 'https://webhook.example.com/advanced',
        http_basic_auth: 'user',
        http_basic_password: 'password',
        custom_header: [{ header_name: 'X-Custom-Header', value: 'custom-value' }, { header_name: 'X-API-Key', value: 'api-key-123' }]
      }],
      channels,
      branches: ['main', 'development'],
      retry_policy: 'automatic',
      disabled: true
    }
  })
  assert.deepEqual(advanced.channels, channels)
  assert.equal(advanced.destinations[0].custom_header.length, 2)
  // "should add new channel to webhook", then "should update destination URL".
  const fetched = await stack.webhook(advanced.uid).fetch()
  fetched.channels.push('content_types.create')
  const more = await fetched.update()
  assert.equal(more.channels.length, channels.length + 1)
  const again = await stack.webhook(advanced.uid).fetch()
  again.destinations[0].target_url = 'https://webhook-updated.example.com/handler'
  const moved = await again.update()
  assert.equal(moved.destinations[0].target_url, 'https://webhook-updated.example.com/handler')
  // Names outside Contentstack's grammar are refused with the rule.
  await assert.rejects(stack.webhook().create({
    webhook: { name: 'bad', destinations: [{ target_url: 'https://webhook.example.com/x' }], channels: ['entries.create'] }
  }), (e) => e.status === 422 && /grammar/.test(JSON.stringify(e.errors.channels)))
  await assert.rejects(stack.webhook().create({
    webhook: { name: 'No Destination Webhook', channels: ['content_types.entries.create'] }
  }), (e) => e.status === 422)

  // Import from a file: a new webhook (disabled until confirmed), then into an existing one.
  const file = join(dir, 'webhook.json')
  writeFileSync(file, JSON.stringify({
    name: 'Imported', destinations: [{ target_url: 'https://hooks.example.com/imported' }],
    channels: ['assets.create', 'releases.environments.deploy'], retry_policy: 'manual'
  }))
  const imported = await stack.webhook().import({ webhook: file })
  assert.match(imported.uid, /^blt[0-9a-f]{16}$/)
  assert.equal(imported.name, 'Imported')
  assert.equal(imported.disabled, true)
  writeFileSync(file, JSON.stringify({ name: 'Basic, from a file' }))
  const into = await stack.webhook(basic.uid).import({ webhook: file })
  assert.equal(into.uid, basic.uid)
  assert.equal(into.name, 'Basic, from a file')
  assert.deepEqual(into.channels, basic.channels, 'what the file leaves out stays')
  for (const uid of [basic.uid, advanced.uid, imported.uid]) await stack.webhook(uid).delete()
})

test('bulk delete is a job; each asset is deleted as a single delete does', async () => {
  const a = await stack.asset().create({ upload: Buffer.from('delete one'), filename: 'del1.txt', content_type: 'text/plain' })
  const b = await stack.asset().create({ upload: Buffer.from('delete two'), filename: 'del2.txt', content_type: 'text/plain' })
  const res = await stack.bulkOperation().delete({ details: { assets: [{ uid: a.uid }, { uid: b.uid }] } })
  assert.ok(res.job_id, JSON.stringify(res))
  const status = await jobDone(res.job_id)
  assert.equal(status.summary.success, 2, JSON.stringify(status))
  for (const uid of [a.uid, b.uid]) await assert.rejects(stack.asset(uid).fetch(), (e) => e.status === 404)
  await assert.rejects(stack.bulkOperation().delete({ details: { entries: [{ uid: 'x', content_type: 'page', locale: 'en-us' }] } }),
    (e) => e.status === 422 && Boolean(e.errors.entries))
})

test('locale codes come from Contentstack\'s list', async () => {
  await assert.rejects(stack.locale().create({ locale: { code: 'locale-code', name: 'Not a language' } }),
    (e) => e.status === 422 && Boolean(e.errors.code))
  const es = await stack.locale().create({ locale: { code: 'es-419', name: 'Spanish - Latin America' } })
  assert.equal(es.code, 'es-419')
  await stack.locale('es-419').delete()
})

test('extensions: the records asset metadata belongs to', async () => {
  const ext = await stack.extension().create({
    extension: { title: 'Alt text', type: 'field', data_type: 'text', src: 'https://apps.example.com/alt', multiple: false, config: {}, tags: ['a11y'] }
  })
  assert.match(ext.uid, /^blt[0-9a-f]{16}$/)
  const all = await stack.extension().query({ query: { type: 'field' } }).find()
  assert.ok(all.items.some((e) => e.uid === ext.uid))
  const fetched = await stack.extension(ext.uid).fetch()
  fetched.title = 'Alt text v2'
  const updated = await fetched.update()
  assert.equal(updated.title, 'Alt text v2')
  assert.equal(updated.src, 'https://apps.example.com/alt')
  await stack.extension(ext.uid).delete()
  await assert.rejects(stack.extension(ext.uid).fetch(), (e) => e.status === 404)
})

test('roles: the built-in three, a custom role through create, fetch, update, query and delete; share and updateUsersRoles', async () => {
  const all = await stack.role().fetchAll({ include_rules: true, include_permissions: true })
  const names = all.items.map((r) => r.name)
  for (const n of ['Admin', 'Developer', 'Content Manager']) assert.ok(names.includes(n), names.join(', '))
  const folder = await stack.asset().folder().create({ asset: { name: 'Press room' } })
  const role = await stack.role().create({
    role: {
      name: 'Press editors',
      description: 'From the JS SDK',
      rules: [
        { module: 'folder', folders: [folder.uid], propagate_to_children: true, acl: { read: true, sub_acl: { read: true, create: true, update: true } } },
        { module: 'environment', environments: ['production'], acl: { read: true } },
        { module: 'locale', locales: ['en-us'], acl: { read: true } },
        { module: 'content_type', content_types: ['$all'], acl: { read: true } }
      ]
    }
  })
  assert.match(role.uid, /^blt[0-9a-f]{16}$/)
  const fetched = await stack.role(role.uid).fetch({ include_rules: true, include_permissions: true })
  assert.equal(fetched.rules.length, 4)
  assert.equal(fetched.rules[3].module, 'content_type')
  fetched.name = 'Press team'
  const updated = await fetched.update()
  assert.equal(updated.name, 'Press team')
  assert.equal(updated.rules[0].folders[0], folder.uid)
  const found = await stack.role().query({ include_rules: true }).find()
  assert.ok(found.items.some((r) => r.uid === role.uid))

  // Sharing with someone who has no account invites them, with the role.
  const shared = await stack.share(['js-invitee@example.com'], { 'js-invitee@example.com': [role.uid] })
  assert.equal(shared.notice, 'The invitation has been sent successfully.')
  const invitee = shared.invitations[0].user_uid
  const cm = all.items.find((r) => r.name === 'Content Manager')
  const applied = await stack.updateUsersRoles({ [invitee]: [cm.uid] })
  assert.ok(applied.notice, JSON.stringify(applied))
  await stack.role(role.uid).delete()
  await assert.rejects(stack.role(role.uid).fetch(), (e) => e.status === 404)
  // A built-in role stays.
  const admin = all.items.find((r) => r.name === 'Admin')
  await assert.rejects(stack.role(admin.uid).delete(), (e) => e.status === 422 && Boolean(e.errors.role))
})
