// Link insights in the web UI (§17), in Chromium, with traffic the test makes itself: the
// asset panel's usage chart and summary (permanent URL against version URL), the pages
// linking to the asset, the Links view with a dead link and the most requested assets, and
// the chart still readable at 375 px wide.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import http from 'node:http'
import { launch, startPerma } from './perma.mjs'

const EMAIL = 'analyst@example.com'
const PASSWORD = 'analyst-password'
let server, base, dataDir, browser, page, auth, hero, old

async function call (method, path, body) {
  const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...auth }, body: body ? JSON.stringify(body) : undefined })
  const json = await res.json()
  assert.ok(res.ok, `${method} ${path}: ${JSON.stringify(json)}`)
  return json
}

async function upload (name, bytes) {
  const form = new FormData()
  form.append('asset[upload]', new Blob([bytes], { type: 'image/png' }), name)
  const res = await fetch(`${base}/v3/assets`, { method: 'POST', headers: auth, body: form })
  const json = await res.json()
  assert.equal(res.status, 201, JSON.stringify(json))
  return json.asset
}

// A visitor's request: anonymous, with the page it came from (node:http sends Referer as
// given).
function visit (url, referer) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: referer ? { referer } : {} }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)) }).on('error', reject)
  })
}

before(async () => {
  ({ server, base, dataDir } = await startPerma({ PERMA_ADMIN_EMAIL: EMAIL, PERMA_ADMIN_PASSWORD: PASSWORD, PERMA_INSIGHTS_FLUSH_SECONDS: '1' }))
  const session = await (await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })).json()
  auth = { authtoken: session.user.authtoken }
  const stack = await call('POST', '/v3/stacks', { stack: { name: 'Newsroom' } })
  auth.api_key = stack.stack.api_key
  hero = await upload('hero.png', 'hero-image-bytes')
  hero = (await call('PUT', `/v3/assets/${hero.uid}`, { asset: { permanent_url: 'hero' } })).asset
  await upload('quiet.png', 'quiet-bytes')
  old = await upload('old-banner.png', 'old-banner-bytes')
  old = (await call('PUT', `/v3/assets/${old.uid}`, { asset: { permanent_url: 'old-banner' } })).asset
  await call('DELETE', `/v3/assets/${old.uid}`)

  // Three through the permanent URL (two from the blog), two through the version URL.
  assert.equal(await visit(hero.permanent_url, 'https://blog.example.com/launch?utm_source=mail'), 200)
  assert.equal(await visit(hero.permanent_url, 'https://blog.example.com/launch'), 200)
  assert.equal(await visit(hero.permanent_url, 'https://partner.example.org/catalogue'), 200)
  assert.equal(await visit(hero.url), 200)
  assert.equal(await visit(hero.url), 200)
  // The trashed banner is still linked from a newsletter: a dead link.
  assert.equal(await visit(old.permanent_url, 'https://mail.example.net/issue/7'), 410)
  assert.equal(await visit(old.permanent_url, 'https://mail.example.net/issue/7'), 410)
  // Counts reach the database within the flush interval (1 s here).
  for (let i = 0; ; i++) {
    const ins = await call('GET', `/v3/assets/${hero.uid}/insights`)
    if (ins.insights.totals.requests === 5) break
    assert.ok(i < 50, 'counts were not flushed')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }

  browser = await launch()
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
  await page.goto(base)
  await page.getByLabel('Email').fill(EMAIL)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByRole('button', { name: 'Newsroom' }).click()
})

after(async () => {
  if (browser) await browser.close()
  if (server) { server.kill('SIGTERM'); await new Promise((resolve) => server.once('exit', resolve)) }
  rmSync(dataDir, { recursive: true, force: true })
})

test('the asset panel shows the last 30 days and the pages linking to the asset', async () => {
  await page.goto(`${base}/stacks/${auth.api_key}?asset=${hero.uid}`)
  const summary = page.locator('#usage-summary')
  await summary.waitFor()
  assert.equal(await summary.textContent(), '5 requests: 3 through the permanent URL, 2 through version URLs.')
  // Today's bar: one rectangle per URL kind, their heights in proportion (3 to 2).
  const bars = page.getByRole('img', { name: /Requests per day over the last 30 days/ }).locator('rect')
  assert.equal(await bars.count(), 2)
  const heights = await bars.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))))
  assert.ok(Math.abs(heights[0] / heights[1] - 1.5) < 0.01, JSON.stringify(heights))
  const pages = page.getByRole('list', { name: 'Pages linking to this asset' }).getByRole('link')
  assert.deepEqual(await pages.allTextContents(), ['https://blog.example.com/launch', 'https://partner.example.org/catalogue'])
  assert.equal(await pages.first().getAttribute('href'), 'https://blog.example.com/launch')
  assert.match(await page.locator('#usage').textContent(), /2 requests/)
})

test('the chart stays readable at 375 px wide', async () => {
  await page.setViewportSize({ width: 375, height: 800 })
  await page.reload()
  const chart = page.getByRole('img', { name: /Requests per day/ })
  await chart.waitFor()
  await chart.scrollIntoViewIfNeeded()
  const box = await chart.boundingBox()
  assert.ok(box.width > 200 && box.x >= 0 && box.x + box.width <= 375, JSON.stringify(box))
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth)
  assert.ok(scroll <= 375, `the page scrolls sideways: ${scroll}`)
  await page.setViewportSize({ width: 1280, height: 900 })
})

test('the Links view lists the dead link with its page, and the most requested assets', async () => {
  await page.goto(`${base}/stacks/${auth.api_key}`)
  await page.getByRole('button', { name: 'Links' }).click()
  await page.waitForURL(/\/links$/)
  const dead = page.getByRole('list', { name: 'Dead links' })
  await dead.waitFor()
  const item = dead.getByRole('listitem').first()
  assert.match(await item.textContent(), /old-banner\.png/)
  assert.match(await item.textContent(), /In the trash · 2 requests/)
  const asking = page.getByRole('list', { name: 'Pages asking for old-banner.png' }).getByRole('link')
  assert.deepEqual(await asking.allTextContents(), ['https://mail.example.net/issue/7'])
  // The view has an address of its own: reloaded, it is drawn again.
  await page.reload()
  await dead.waitFor()
  const top = page.getByRole('list', { name: 'Most requested assets' }).getByRole('listitem')
  assert.equal(await top.count(), 1)
  assert.match(await top.first().textContent(), /hero\.png 5 requests/)
  // The assets nobody asked for: as many as listed (fewer than a page, so no "more than").
  const unused = page.getByRole('list', { name: 'Assets not requested' }).getByRole('listitem')
  const listed = await unused.count()
  assert.ok(listed > 0)
  const hint = await page.getByText(/nobody asked for/).textContent()
  assert.equal(hint, `${listed} asset${listed === 1 ? '' : 's'} nobody asked for: candidates to clean up.`)
  // The asset opens in the library's panel.
  await top.first().getByRole('link').click()
  await page.locator('#usage-summary').waitFor()
  assert.match(page.url(), new RegExp(`asset=${hero.uid}`))
})

test('the library filters by use: most requested first, or not requested', async () => {
  await page.goto(`${base}/stacks/${auth.api_key}`)
  const items = page.getByRole('list', { name: 'Assets and folders' }).getByRole('button', { name: /\.png$/ })
  await items.first().waitFor()
  assert.deepEqual((await items.allTextContents()).map((t) => t.match(/(hero|quiet|old-banner)\.png/)[0]).sort(), ['hero.png', 'quiet.png'])
  await page.getByLabel('Requested').selectOption('requested')
  await page.waitForURL(/usage=requested/)
  await page.waitForFunction(() => document.querySelectorAll('[aria-label="Assets and folders"] li').length === 1)
  assert.match(await items.first().textContent(), /hero\.png/)
  await page.getByLabel('Requested').selectOption('unrequested')
  await page.waitForURL(/usage=unrequested/)
  await page.waitForFunction(() => /quiet\.png/.test(document.querySelector('[aria-label="Assets and folders"]')?.textContent || ''))
  assert.equal(await items.count(), 1)
  await page.getByLabel('Requested').selectOption('never')
  await page.waitForURL(/usage=never/)
  await page.waitForFunction(() => /quiet\.png/.test(document.querySelector('[aria-label="Assets and folders"]')?.textContent || ''))
  assert.equal(await items.count(), 1)
  await page.getByLabel('Requested').selectOption('unrequested')
  await page.waitForURL(/usage=unrequested/)
  // The filter is part of the address: a reload keeps it.
  await page.reload()
  await page.waitForFunction(() => /quiet\.png/.test(document.querySelector('[aria-label="Assets and folders"]')?.textContent || ''))
  assert.equal(await page.getByLabel('Requested').inputValue(), 'unrequested')
})
