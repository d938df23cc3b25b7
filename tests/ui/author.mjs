// What the library's UI tests share: perma started with an author's account, Chromium with
// one page, the author's API calls, and a stack seeded with what an author's first steps
// (tested in ui.test.mjs) leave behind, for the files that test the later ones.

import assert from 'node:assert/strict'
import { rmSync, mkdirSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launch, startPerma } from './perma.mjs'

const here = dirname(fileURLToPath(import.meta.url))
export const shots = resolve(here, '../../docs/screenshots')
export const EMAIL = 'author@example.com'
export const PASSWORD = 'author-password'
export const MAX_UPLOAD = 4 * 1024 * 1024

// A valid 3×2 PNG (one IDAT).
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAYAAACddGYaAAAAEUlEQVR4nGP8z8Dwn4EIwAgAJkUC/3mBVjwAAAAASUVORK5CYII=', 'base64')

export const file = (name, mimeType, buffer) => ({ name, mimeType, buffer })

// The running perma and browser: { server, base, dataDir, browser, context, page }.
export const ui = {}

// Starts perma and Chromium; the page is not logged in yet.
export async function open () {
  Object.assign(ui, await startPerma({ PERMA_ADMIN_EMAIL: EMAIL, PERMA_ADMIN_PASSWORD: PASSWORD, PERMA_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) }))
  ui.browser = await launch()
  ui.context = await ui.browser.newContext({ viewport: { width: 1280, height: 860 } })
  await ui.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ui.base })
  ui.page = await ui.context.newPage()
  mkdirSync(shots, { recursive: true })
  return ui
}

export async function close () {
  if (ui.browser) await ui.browser.close()
  if (ui.server) { ui.server.kill('SIGTERM'); await new Promise((r) => ui.server.once('exit', r)) }
  if (ui.dataDir) rmSync(ui.dataDir, { recursive: true, force: true })
}

async function authtoken () {
  const login = await fetch(`${ui.base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })
  return (await login.json()).user.authtoken
}

// An API call as the author: [status, body].
export async function apiAs (method, path, body, apiKey) {
  const headers = { authtoken: await authtoken(), 'content-type': 'application/json' }
  if (apiKey) headers.api_key = apiKey
  const res = await fetch(`${ui.base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined })
  return [res.status, await res.json()]
}

// Uploads a file through the API (into a folder when `parent` is given); the asset.
export async function uploadVia (key, name, bytes, parent) {
  const form = new FormData()
  form.append('asset[upload]', new Blob([bytes]), name)
  if (parent) form.append('asset[parent_uid]', parent)
  const up = await fetch(`${ui.base}/v3/assets`, { method: 'POST', headers: { authtoken: await authtoken(), api_key: key }, body: form })
  assert.equal(up.status, 201)
  return (await up.json()).asset
}

// Two folders deep, through the API (the UI's own folder dialog is tested in ui.test.mjs).
export async function nestedFolders (key) {
  const [, outer] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Deep outer' } }, key)
  const [, inner] = await apiAs('POST', '/v3/assets/folders', { asset: { name: 'Deep inner', parent_uid: outer.asset.uid } }, key)
  return [outer.asset.uid, inner.asset.uid]
}

// The stack being shown is in the address: /stacks/{api_key}…
export const apiKey = () => ui.page.evaluate(() => (location.pathname.match(/^\/stacks\/(blt[0-9a-f]{16})/) || [])[1] || null)
export const panel = () => ui.page.getByRole('region', { name: 'Asset details' })

export async function chooseFiles (buttonName, files) {
  const [chooser] = await Promise.all([ui.page.waitForEvent('filechooser'), ui.page.getByRole('button', { name: buttonName, exact: true }).click()])
  await chooser.setFiles(files)
}

// Logs the page in through the form.
export async function logIn () {
  await ui.page.goto(ui.base)
  await ui.page.getByLabel('Email').fill(EMAIL)
  await ui.page.getByLabel('Password').fill(PASSWORD)
  await ui.page.getByRole('button', { name: 'Log in' }).click()
  await ui.page.getByRole('heading', { name: 'Choose a stack' }).waitFor()
}

// A stack as an author's first day leaves it: the environment production, report.pdf, and
// `withLogo` an image with a permanent URL whose file was replaced once, `withDeep` the
// file deep.txt two folders deep. The page is logged in and shows the stack; its api_key.
export async function seededStack ({ withLogo = false, withDeep = false } = {}) {
  const [st, made] = await apiAs('POST', '/v3/stacks', { stack: { name: 'Brand assets' } })
  assert.equal(st, 201, JSON.stringify(made))
  const key = made.stack.api_key
  assert.equal((await apiAs('POST', '/v3/environments', { environment: { name: 'production' } }, key))[0], 201)
  await uploadVia(key, 'report.pdf', '%PDF-1.4 a report')
  if (withLogo) {
    const logo = await uploadVia(key, 'Sample Logo (1).PNG', PNG)
    assert.equal((await apiAs('PUT', `/v3/assets/${logo.uid}`, { asset: { permanent_url: 'sample-logo' } }, key))[0], 200)
    const form = new FormData()
    form.append('asset[upload]', new Blob([PNG.subarray(0, 40)]), 'logo-v2.png')
    const replaced = await fetch(`${ui.base}/v3/assets/${logo.uid}`, { method: 'PUT', headers: { authtoken: await authtoken(), api_key: key }, body: form })
    assert.equal(replaced.status, 200)
  }
  if (withDeep) {
    const [, inner] = await nestedFolders(key)
    await uploadVia(key, 'deep.txt', 'deep file', inner)
  }
  await logIn()
  await ui.page.goto(`${ui.base}/stacks/${key}`)
  await ui.page.getByRole('button', { name: 'report.pdf' }).waitFor()
  return key
}
