// Single sign-on in the web UI (§14), in Debian's Chromium: a real OpenID provider
// (oidc-provider, tests/sso/provider.mjs) and the real perma binary, both on 127.0.0.1:0.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { launch, startPerma } from './perma.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const EMAIL = 'admin@example.com'
const PASSWORD = 'admin-password'

let provider, issuer, server, base, browser, page, dataDir

function firstLine (child, pattern) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (l) => { const m = l.match(pattern); if (m) resolve(m[1]) })
    child.on('exit', (code) => reject(new Error(`exited with ${code}`)))
  })
}

async function control (path, body) {
  const res = await fetch(`${issuer}/test/${path}`, body ? { method: 'PUT', body: JSON.stringify(body) } : { method: 'POST' })
  assert.equal(res.status, 204)
}

before(async () => {
  provider = spawn('node', ['provider.mjs', 'perma', 'ui-client-secret'], { cwd: resolve(here, '../sso'), stdio: ['pipe', 'pipe', 'inherit'] })
  issuer = JSON.parse(await firstLine(provider, /^(\{.*\})$/)).issuer
  ;({ server, base, dataDir } = await startPerma({
    PERMA_ADMIN_EMAIL: EMAIL,
    PERMA_ADMIN_PASSWORD: PASSWORD,
    PERMA_OIDC_ISSUER: issuer,
    PERMA_OIDC_CLIENT_ID: 'perma',
    PERMA_OIDC_CLIENT_SECRET: 'ui-client-secret',
    PERMA_OIDC_SCOPES: 'openid email perma',
  }))
  await control('client', { redirect_uri: `${base}/v3/sso/callback` })
  browser = await launch()
  page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage()
})

after(async () => {
  if (browser) await browser.close()
  for (const child of [server, provider]) {
    if (child) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)) }
  }
  rmSync(dataDir, { recursive: true, force: true })
})

test('sign in with single sign-on: the stacks of the role claim; a refused ID token is shown in words', async () => {
  const login = await (await fetch(`${base}/v3/user-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: { email: EMAIL, password: PASSWORD } }) })).json()
  const stack = await (await fetch(`${base}/v3/stacks`, { method: 'POST', headers: { authtoken: login.user.authtoken, 'content-type': 'application/json' }, body: JSON.stringify({ stack: { name: 'Brand assets' } }) })).json()
  await control('accounts/erin', { email: 'erin@example.com', email_verified: true, perma_roles: [`${stack.stack.api_key}:Content Manager`] })
  await control('login/erin')

  await page.goto(base + '/')
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click()
  await page.getByRole('heading', { name: 'Choose a stack' }).waitFor()
  await page.getByRole('button', { name: 'Brand assets' }).waitFor()
  assert.equal(new URL(page.url()).hash, '', 'the one-time code is gone from the address')
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('perma.session')))
  assert.equal(session.email, 'erin@example.com')

  // Log out; the next ID token comes back expired: the sign-in page says why.
  await page.getByRole('button', { name: 'Log out' }).click()
  await control('tamper/expired')
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click()
  const alert = page.getByRole('alert')
  await alert.waitFor()
  assert.match(await alert.textContent(), /Single sign-on failed: the ID token has expired/)
  assert.equal(await page.evaluate(() => localStorage.getItem('perma.session')), null)
})
