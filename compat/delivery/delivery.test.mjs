// The official delivery SDKs for JavaScript, unchanged, pointed at perma (§12):
// @contentstack/delivery-sdk (host, port, insecure) and the older `contentstack` package
// (setHost, setPort, setProtocol). PERMA_URL, PERMA_EMAIL and PERMA_PASSWORD come from
// compat/run. The stack is set up through the management API with plain fetch.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import contentstack, { QueryOperation, OverlayAlign, OverlayRepeat, Format } from '@contentstack/delivery-sdk'
import Legacy from 'contentstack'
import { PNG as Png } from 'pngjs'
// The SDK documents ImageTransform for image URLs, but 5.x ships only its type; 4.11.2 ships
// the class (outside its package exports), which is what a site can run.
import { ImageTransform } from './node_modules/delivery-sdk-4/dist/modern/lib/image-transform.js'

const base = process.env.PERMA_URL
const email = process.env.PERMA_EMAIL
const password = process.env.PERMA_PASSWORD
assert.ok(base && email && password, 'PERMA_URL, PERMA_EMAIL and PERMA_PASSWORD must be set')
const { hostname, port } = new URL(base)

// A 1×1 PNG, so that include_dimension has something to measure.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==', 'base64')

let authtoken, apiKey, deliveryToken
const uids = {}

async function cma (method, path, body) {
  const headers = { authtoken }
  if (apiKey) headers.api_key = apiKey
  let payload
  if (body instanceof FormData) payload = body
  else if (body) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body) }
  const r = await fetch(`${base}/v3${path}`, { method, headers, body: payload })
  const v = await r.json()
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(v)}`)
  return v
}

async function upload (name, bytes, title) {
  const form = new FormData()
  form.append('asset[upload]', new Blob([bytes]), name)
  if (title) form.append('asset[title]', title)
  return (await cma('POST', '/assets', form)).asset
}

const publish = (uid) => cma('POST', `/assets/${uid}/publish`, { asset: { environments: ['production'], locales: ['en-us'] } })

function sdk () {
  return contentstack.stack({ apiKey, deliveryToken, environment: 'production', host: hostname, port: Number(port), insecure: true })
}

before(async () => {
  const r = await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email, password } }) })
  authtoken = (await r.json()).user.authtoken
  apiKey = (await cma('POST', '/stacks', { stack: { name: 'Delivery SDK stack' } })).stack.api_key
  await cma('POST', '/environments', { environment: { name: 'production' } })
  deliveryToken = (await cma('POST', '/stacks/delivery_tokens', { token: { name: 'site', scope: [{ module: 'environment', environments: ['production'], acl: { read: true } }] } })).token.token
  uids.logo = (await upload('logo.png', PNG, 'Logo')).uid
  uids.guide = (await upload('guide.txt', 'the guide', 'Guide')).uid
  uids.draft = (await upload('draft.txt', 'not published', 'Draft')).uid
  await publish(uids.logo)
  await publish(uids.guide)
})

test('delivery-sdk: lists published assets with a count and dimensions', async () => {
  const res = await sdk().asset().includeCount().includeDimension().find()
  assert.equal(res.count, 2)
  const titles = res.assets.map(a => a.title).sort()
  assert.deepEqual(titles, ['Guide', 'Logo'])
  const logo = res.assets.find(a => a.uid === uids.logo)
  assert.deepEqual(logo.dimension, { width: 1, height: 1 })
  assert.equal(logo.publish_details.locale, 'en-us')
})

test('delivery-sdk: a query, pagination and relative URLs', async () => {
  const found = await sdk().asset().query().where('title', QueryOperation.EQUALS, 'Guide').find()
  assert.equal(found.assets.length, 1)
  assert.equal(found.assets[0].uid, uids.guide)
  const page = await sdk().asset().orderByAscending('title').limit(1).skip(1).includeCount().find()
  assert.equal(page.count, 2)
  assert.equal(page.assets.length, 1)
  assert.equal(page.assets[0].title, 'Logo')
  const one = await sdk().asset(uids.guide).relativeUrls().fetch()
  assert.equal(one.uid, uids.guide)
  assert.match(one.url, /^\/v3\/assets\//)
  const bytes = await (await fetch(base + one.url)).text()
  assert.equal(bytes, 'the guide')
})

test('delivery-sdk: an unpublished asset is not there', async () => {
  await assert.rejects(sdk().asset(uids.draft).fetch(), (e) => {
    assert.equal(e.status, 404, JSON.stringify(e))
    assert.equal(e.error_code, 145)
    return true
  })
})

test('delivery-sdk: sync init, then a delta after a replace and a publish', async () => {
  const init = await sdk().sync({}, true)
  assert.equal(init.items.length, 2)
  assert.ok(init.sync_token)
  assert.ok(init.items.every(i => i.type === 'asset_published' && i.content_type_uid === 'sys_assets'))
  const form = new FormData()
  form.append('asset[upload]', new Blob(['the guide, second edition']), 'guide.txt')
  await cma('PUT', `/assets/${uids.guide}`, form)
  await publish(uids.guide)
  await publish(uids.draft)
  const delta = await sdk().sync({ syncToken: init.sync_token })
  const got = delta.items.map(i => [i.type, i.data.uid, i.data._version]).sort()
  assert.deepEqual(got, [['asset_published', uids.draft, 1], ['asset_published', uids.guide, 2]].sort())
  assert.ok(delta.sync_token)
  const guide = delta.items.find(i => i.data.uid === uids.guide).data
  assert.equal(await (await fetch(guide.url)).text(), 'the guide, second edition')
})

test('delivery-sdk: includeBranch, the branch header, and a sync token that names a position', async () => {
  const one = await sdk().asset(uids.logo).includeBranch().fetch()
  assert.equal(one._branch, 'main')
  const all = await sdk().asset().includeBranch().find()
  assert.ok(all.assets.length > 0 && all.assets.every(a => a._branch === 'main'))
  const onMain = contentstack.stack({ apiKey, deliveryToken, environment: 'production', host: hostname, port: Number(port), insecure: true, branch: 'main' })
  assert.equal((await onMain.asset(uids.logo).fetch()).uid, uids.logo)
  const elsewhere = contentstack.stack({ apiKey, deliveryToken, environment: 'production', host: hostname, port: Number(port), insecure: true, branch: 'development' })
  await assert.rejects(elsewhere.asset(uids.logo).fetch(), (e) => e.status === 422 && e.error_code === 905)
  // A site stores the token; nothing changed, so the next delta gives it back.
  const init = await sdk().sync({}, true)
  const delta = await sdk().sync({ syncToken: init.sync_token })
  assert.equal(delta.items.length, 0)
  assert.equal(delta.sync_token, init.sync_token)
  const again = await sdk().sync({ syncToken: delta.sync_token })
  assert.equal(again.sync_token, init.sync_token)
  // Entry sync types are Contentstack's: accepted, and perma has no entries.
  const entries = await sdk().sync({ type: 'entry_published' }, true)
  assert.equal(entries.items.length, 0)
})

function legacy () {
  const stack = Legacy.Stack({ api_key: apiKey, delivery_token: deliveryToken, environment: 'production' })
  stack.setHost(hostname)
  stack.setPort(Number(port))
  stack.setProtocol('http')
  return stack
}

test('contentstack (legacy SDK): query with count, fetch one, sync', async () => {
  const [assets, count] = await legacy().Assets().Query().includeCount().toJSON().find()
  assert.equal(count, 3)
  assert.ok(assets.every(a => a.publish_details && a.url))
  const [found] = await legacy().Assets().Query().where('title', 'Logo').toJSON().find()
  assert.deepEqual(found.map(a => a.uid), [uids.logo])
  const one = await legacy().Assets(uids.logo).toJSON().fetch()
  assert.equal(one.uid, uids.logo)
  const init = await legacy().sync({ init: true })
  assert.equal(init.items.length, 3)
  assert.ok(init.sync_token)
})

// A PNG of one colour per pixel from `paint(x, y)` → [r, g, b].
function png (width, height, paint) {
  const p = new Png({ width, height })
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = paint(x, y)
      p.data.set([r, g, b, 255], (y * width + x) * 4)
    }
  }
  return Png.sync.write(p)
}

async function decoded (url) {
  const r = await fetch(url)
  assert.equal(r.status, 200, `${url}: ${r.status} ${await r.clone().text()}`)
  assert.equal(r.headers.get('content-type'), 'image/png')
  const p = Png.sync.read(Buffer.from(await r.arrayBuffer()))
  return { width: p.width, height: p.height, at: (x, y) => [...p.data.subarray((y * p.width + x) * 4, (y * p.width + x) * 4 + 3)] }
}

const RED = [255, 0, 0]
const GREEN = [0, 255, 0]
const near = (got, want) => got.every((c, i) => Math.abs(c - want[i]) <= 8)

test('delivery-sdk: image URLs built with its overlay helpers, fetched and decoded', async () => {
  const base = await upload('base.png', png(40, 20, () => RED), 'Base')
  const mark = await upload('mark.png', png(10, 10, () => GREEN), 'Mark')
  await publish(base.uid)
  await publish(mark.uid)
  const [b, m] = await Promise.all([sdk().asset(base.uid).fetch(), sdk().asset(mark.uid).relativeUrls().fetch()])
  // Bottom right, as its size.
  const corner = await decoded(b.url.transform(new ImageTransform().overlay({ relativeURL: m.url, align: [OverlayAlign.BOTTOM, OverlayAlign.RIGHT] }).format(Format.PNG)))
  assert.deepEqual([corner.width, corner.height], [40, 20])
  assert.ok(near(corner.at(35, 15), GREEN), `bottom right: ${corner.at(35, 15)}`)
  assert.ok(near(corner.at(5, 5), RED), `top left: ${corner.at(5, 5)}`)
  assert.ok(near(corner.at(25, 15), RED), `left of the mark: ${corner.at(25, 15)}`)
  // A quarter of the base's width (0.25 is 25 %: 10 px, so 10 px high), repeated along x:
  // a green band across the top.
  const band = await decoded(b.url.transform(new ImageTransform().overlay({ relativeURL: m.url, align: OverlayAlign.TOP, repeat: OverlayRepeat.X, width: 0.25 }).format(Format.PNG)))
  assert.ok(near(band.at(2, 2), GREEN) && near(band.at(37, 7), GREEN), 'a band along the top')
  assert.ok(near(band.at(20, 15), RED), `below the band: ${band.at(20, 15)}`)
  // A URL outside the stack is refused in words, never fetched.
  const outside = b.url.transform(new ImageTransform().overlay({ relativeURL: 'https://elsewhere.example/mark.png' }))
  const r = await fetch(outside)
  assert.equal(r.status, 400)
  assert.match(JSON.stringify(await r.json()), /overlay/)
})

test('delivery-sdk: includeMetadata answers the published metadata only', async () => {
  const ext = (await cma('POST', '/extensions', { extension: { title: 'Alt text', type: 'asset_sidebar_widget', src: 'https://apps.example.com/alt' } })).extension.uid
  const md = (await cma('POST', '/metadata', { metadata: { entity_uid: uids.logo, type: 'asset', extension_uid: ext, alt: 'The logo, in red' } })).metadata
  const before = await sdk().asset(uids.logo).includeMetadata().fetch()
  assert.deepEqual(before._metadata, { extensions: {} })
  await cma('POST', `/metadata/${md.uid}/publish`, { metadata: { environments: ['production'], locales: ['en-us'] } })
  const one = await sdk().asset(uids.logo).includeMetadata().fetch()
  assert.equal(one._metadata.extensions[ext][0].alt, 'The logo, in red')
  const all = await sdk().asset().includeMetadata().find()
  const logo = all.assets.find(a => a.uid === uids.logo)
  assert.equal(logo._metadata.extensions[ext][0].uid, md.uid)
  const guide = all.assets.find(a => a.uid === uids.guide)
  assert.deepEqual(guide._metadata, { extensions: {} })
  // A query on the metadata through the SDK's own query builder.
  const found = await sdk().asset().query().where(`_metadata.extensions.${ext}.alt`, QueryOperation.EQUALS, 'The logo, in red').find()
  assert.deepEqual(found.assets.map(a => a.uid), [uids.logo])
})
