// The official Contentstack CLI (csdx) against perma, through an nginx TLS front (run.sh):
// export a seeded stack (assets with versions, folders, permanent URLs, publications,
// environments, locales), import the export into an empty second stack with the CLI,
// publish there with cm:assets:publish, and compare both stacks. Then the round trip:
// `perma import contentstack` of the same export into a fresh perma, where every version
// URL and permanent URL of the source answers the same bytes.
import { test, before } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createRequire } from 'node:module'

const env = process.env
const work = env.WORK
const home = join(work, 'home')
const exportDir = join(work, 'export')
const csdx = join(process.cwd(), 'node_modules', '.bin', 'csdx')
const cliEnv = {
  ...env,
  HOME: home,
  XDG_CONFIG_HOME: join(home, '.config'),
  NODE_OPTIONS: `--require ${join(process.cwd(), '..', 'js', 'test-host.cjs')}`,
  CS_CLI_TELEMETRY: 'false',
  FORCE_COLOR: '0'
}

// Asynchronous, so that this process's HTTP client keeps its event loop (and the timers
// that retire idle keep-alive connections) running while the CLI works.
async function run (args) {
  try {
    const { stdout } = await promisify(execFile)(csdx, args, { env: cliEnv, cwd: work, encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20 })
    return stdout
  } catch (e) {
    throw new Error(`csdx ${args.join(' ')} failed:\n${e.stdout}\n${e.stderr}`)
  }
}

async function api (base, method, path, { token, key, body, form } = {}) {
  const headers = {}
  if (token) headers.authtoken = token
  if (key) headers.api_key = key
  let payload
  if (form) payload = form
  else if (body) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body) }
  let r
  try {
    r = await fetch(base + path, { method, headers, body: payload })
  } catch (e) {
    throw new Error(`${method} ${base}${path}: ${e.message} (${e.cause})`)
  }
  const text = await r.text()
  let json
  try { json = JSON.parse(text) } catch { json = text }
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`)
  return json
}

async function login (base) {
  const v = await api(base, 'POST', '/v3/user-session', { body: { user: { email: env.PERMA_EMAIL, password: env.PERMA_PASSWORD } } })
  return v.user.authtoken
}

async function newStack (base, token, name) {
  const orgs = await api(base, 'GET', '/v3/organizations', { token })
  const r = await fetch(base + '/v3/stacks', {
    method: 'POST',
    headers: { authtoken: token, organization_uid: orgs.organizations[0].uid, 'content-type': 'application/json' },
    body: JSON.stringify({ stack: { name } })
  })
  assert.equal(r.status, 201)
  return (await r.json()).stack.api_key
}

async function managementToken (base, token, key) {
  const scope = ['asset', 'environment', 'locale'].map(module => ({ module, acl: { read: true, write: true } }))
  const v = await api(base, 'POST', '/v3/stacks/management_tokens', { token, key, body: { token: { name: 'cli', scope } } })
  return v.token.token
}

function upload (base, token, key, name, bytes, fields = {}, uid) {
  const form = new FormData()
  form.append('asset[upload]', new Blob([bytes]), name)
  for (const [k, v] of Object.entries(fields)) form.append(`asset[${k}]`, v)
  return api(base, uid ? 'PUT' : 'POST', uid ? `/v3/assets/${uid}` : '/v3/assets', { token, key, form })
}

async function bytesOf (url) {
  let r
  try {
    r = await fetch(url)
  } catch (e) {
    throw new Error(`GET ${url}: ${e.message} (${e.cause})`)
  }
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) }
}

const S = { base: env.SOURCE_URL }
const T = { base: env.TARGET_URL }

before(async () => {
  mkdirSync(home, { recursive: true })
  // The CLI checks the npm registry for a newer version before each command (and only
  // warns when it cannot). Record a fresh check so that no command needs the registry.
  const req = createRequire(join(process.cwd(), 'node_modules', '@contentstack', 'cli', 'package.json'))
  const version = JSON.parse(readFileSync(join(process.cwd(), 'node_modules', '@contentstack', 'cli', 'package.json'))).version
  execFileSync(process.execPath, ['-e', `
    const { configHandler } = require(${JSON.stringify(req.resolve('@contentstack/cli-utilities'))});
    configHandler.set('versionUpgradeWarningCache', { lastChecked: Date.now(), lastWarnedDate: '', latestVersion: ${JSON.stringify(version)} });
  `], { env: cliEnv })

  // The source stack: folders two deep; a logo replaced twice under the same file name,
  // with a permanent URL, published; a report replaced under a new name; a photo; a
  // second locale and an environment.
  S.token = await login(S.base)
  S.key = await newStack(S.base, S.token, 'cli source')
  const folder = async (name, parent) => (await api(S.base, 'POST', '/v3/assets/folders', {
    token: S.token, key: S.key, body: { asset: parent ? { name, parent_uid: parent } : { name } }
  })).asset.uid
  S.brand = await folder('Brand')
  S.logos = await folder('Logos', S.brand)
  const logo = (await upload(S.base, S.token, S.key, 'logo.svg', '<svg>one</svg>', { title: 'Logo', tags: 'brand,logo', parent_uid: S.logos })).asset
  await api(S.base, 'PUT', `/v3/assets/${logo.uid}`, { token: S.token, key: S.key, body: { asset: { permanent_url: 'company-logo' } } })
  await upload(S.base, S.token, S.key, 'logo.svg', '<svg>two, wider</svg>', {}, logo.uid)
  await upload(S.base, S.token, S.key, 'logo.svg', '<svg>three, the current one</svg>', {}, logo.uid)
  const report = (await upload(S.base, S.token, S.key, 'report-2023.pdf', '%PDF 2023', { title: 'Annual report', description: 'yearly', parent_uid: S.brand })).asset
  await upload(S.base, S.token, S.key, 'report-2024.pdf', '%PDF 2024 edition', {}, report.uid)
  await api(S.base, 'PUT', `/v3/assets/${report.uid}`, { token: S.token, key: S.key, body: { asset: { permanent_url: 'annual-report' } } })
  await upload(S.base, S.token, S.key, 'photo.jpg', 'not really a jpeg', { title: 'Photo' })
  await api(S.base, 'POST', '/v3/environments', { token: S.token, key: S.key, body: { environment: { name: 'production', urls: [{ locale: 'en-us', url: 'https://example.com' }] } } })
  await api(S.base, 'POST', '/v3/locales', { token: S.token, key: S.key, body: { locale: { code: 'fr-fr', name: 'French', fallback_locale: 'en-us' } } })
  await api(S.base, 'POST', `/v3/assets/${logo.uid}/publish`, { token: S.token, key: S.key, body: { asset: { environments: ['production'], locales: ['en-us', 'fr-fr'] } } })
  S.mtoken = await managementToken(S.base, S.token, S.key)

  T.token = await login(T.base)
  T.key = await newStack(T.base, T.token, 'cli target')
  T.mtoken = await managementToken(T.base, T.token, T.key)
  await region(env.SOURCE_HOST)
  await run(['auth:tokens:add', '--alias', 'src', '--stack-api-key', S.key, '--token', S.mtoken, '--management'])
  await region(env.TARGET_HOST)
  await run(['auth:tokens:add', '--alias', 'dst', '--stack-api-key', T.key, '--token', T.mtoken, '--management'])
})

async function region (host) {
  const url = `https://${host}`
  await run(['config:set:region', '--cma', url, '--cda', url, '--ui-host', url, '--name', 'perma'])
}

function chunks (dir, index) {
  const out = {}
  const idx = JSON.parse(readFileSync(join(dir, index), 'utf8'))
  for (const file of Object.values(idx)) Object.assign(out, JSON.parse(readFileSync(join(dir, file), 'utf8')))
  return out
}

test('cm:stacks:export writes assets, versions, folders, environments and locales', async () => {
  await region(env.SOURCE_HOST)
  writeFileSync(join(work, 'export-config.json'), JSON.stringify({ modules: { assets: { includeVersionedAssets: true } } }))
  for (const m of ['assets', 'environments', 'locales']) {
    const out = await run(['cm:stacks:export', '--alias', 'src', '--data-dir', exportDir, '--module', m, '--config', join(work, 'export-config.json')])
    assert.doesNotMatch(out, /ERROR/, out)
  }
  const assets = chunks(join(exportDir, 'assets'), 'assets.json')
  assert.equal(Object.keys(assets).length, 3)
  const logo = Object.values(assets).find(a => a.title === 'Logo')
  assert.equal(logo._version, 4)
  assert.match(logo.permanent_url, /\/company-logo$/)
  assert.equal(logo.publish_details.length, 2)
  const folders = JSON.parse(readFileSync(join(exportDir, 'assets', 'folders.json'), 'utf8'))
  assert.deepEqual(folders.map(f => f.name).sort(), ['Brand', 'Logos'])
  const versions = chunks(join(exportDir, 'assets', 'versions'), 'versioned-assets.json')
  assert.ok(Object.keys(versions).includes(`${logo.uid}_1`))
  const envs = JSON.parse(readFileSync(join(exportDir, 'environments', 'environments.json'), 'utf8'))
  assert.deepEqual(Object.values(envs).map(e => e.name), ['production'])
  const locales = JSON.parse(readFileSync(join(exportDir, 'locales', 'locales.json'), 'utf8'))
  assert.deepEqual(Object.values(locales).map(l => l.code), ['fr-fr'])
  assert.ok(existsSync(join(exportDir, 'assets', 'files', logo.uid, 'logo.svg')))
})

async function describe (base, token, key) {
  const v = await api(base, 'GET', '/v3/assets?include_folders=true&include_publish_details=true&limit=100', { token, key })
  const byUid = Object.fromEntries(v.assets.map(a => [a.uid, a]))
  const path = a => a.parent_uid ? `${path(byUid[a.parent_uid])}/${byUid[a.parent_uid].name}` : ''
  const out = []
  for (const a of v.assets) {
    if (a.is_dir) { out.push({ folder: `${path(a)}/${a.name}` }); continue }
    const body = (await bytesOf(a.url)).body.toString()
    out.push({ title: a.title, folder: path(a), tags: a.tags, description: a.description, filename: a.filename, body })
  }
  return out.sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))
}

test('cm:stacks:import brings the export into an empty stack; cm:assets:publish publishes it', async () => {
  await region(env.TARGET_HOST)
  for (const m of ['locales', 'environments', 'assets']) {
    const out = await run(['cm:stacks:import', '--alias', 'dst', '--data-dir', exportDir, '--module', m, '--yes'])
    if (env.DEBUG_CLI) console.log(out)
    assert.doesNotMatch(out, /ERROR|failed/i, out)
  }
  const source = await describe(S.base, S.token, S.key)
  const target = await describe(T.base, T.token, T.key)
  const strip = list => list.map(({ body, ...rest }) => rest)
  assert.deepEqual(strip(target), strip(source))
  // The bytes too, except the logo's: its versions share one file name, so the export's
  // files/{uid}/logo.svg holds whichever version's download wrote last, or a mix of them
  // when they ran at once (seen here), and the CLI uploads that. A limit of the CLI;
  // `perma import` does not trust such a path and fetches each version (below).
  const body = (list, title) => list.find(a => a.title === title).body
  for (const title of ['Photo', 'Annual report']) assert.equal(body(target, title), body(source, title), title)
  const envs = await api(T.base, 'GET', '/v3/environments', { token: T.token, key: T.key })
  assert.deepEqual(envs.environments.map(e => e.name), ['production'])

  const out = await run(['cm:assets:publish', '--alias', 'dst', '--environments', 'production', '--locales', 'en-us', '--yes'])
  assert.doesNotMatch(out, /ERROR/, out)
  // Bulk jobs run in the background: wait until every asset is published.
  let published = 0
  for (let i = 0; i < 100 && published < 3; i++) {
    const v = await api(T.base, 'GET', '/v3/assets?include_publish_details=true', { token: T.token, key: T.key })
    published = v.assets.filter(a => a.publish_details.some(p => p.environment_name === 'production' && p.locale === 'en-us')).length
    if (published < 3) await new Promise(resolve => setTimeout(resolve, 100))
  }
  assert.equal(published, 3)
})

test('round trip: perma import of the CLI export keeps every version URL and permanent URL', async () => {
  const data = join(work, 'roundtrip')
  const penv = { ...env, PERMA_DATA_DIR: data, PERMA_LOG: 'warn', PERMA_LISTEN: '127.0.0.1:0' }
  delete penv.PERMA_DATABASE_URL
  await promisify(execFile)(env.PERMA_BIN, ['user', 'create', '--email', 'mover@example.com', '--password', 'mover-password'], { env: penv })
  // The CLI writes every version's file to files/{uid}/{filename}: the logo's three
  // versions share one name, so two of them are overwritten in the export. --fetch
  // downloads those from their URLs while the source still answers.
  const perma = async (...args) => (await promisify(execFile)(env.PERMA_BIN, args, { env: penv, encoding: 'utf8' })).stdout
  let out = await perma('import', 'contentstack', exportDir, '--owner', 'mover@example.com', '--fetch')
  assert.match(out, new RegExp(`stack ${S.key} \\(created\\)`))
  assert.match(out, /skipped: 0/)
  out = await perma('import', 'contentstack', exportDir, '--owner', 'mover@example.com')
  assert.match(out, /created: 0 locales, 0 environments, 0 folders, 0 assets \(0 versions\), 0 publications/)

  const server = spawn(env.PERMA_BIN, ['serve'], { env: penv, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const base = await new Promise((resolve, reject) => {
      server.stdout.once('data', d => resolve(String(d).match(/listening on (\S+)/)[1]))
      server.once('exit', code => reject(new Error(`perma exited ${code}`)))
    })
    const list = await api(S.base, 'GET', '/v3/assets?limit=100', { token: S.token, key: S.key })
    let checked = 0
    for (const a of list.assets) {
      const urls = []
      if (a.permanent_url) urls.push(a.permanent_url)
      for (let n = 1; n <= a._version; n++) {
        const v = await api(S.base, 'GET', `/v3/assets/${a.uid}?version=${n}`, { token: S.token, key: S.key })
        urls.push(v.asset.url)
      }
      for (const u of urls) {
        const path = new URL(u).pathname
        const want = await bytesOf(S.base + path)
        const got = await bytesOf(base + path)
        assert.equal(want.status, 200, u)
        assert.equal(got.status, 200, `${path} on the imported perma`)
        assert.deepEqual(got.body, want.body, path)
        checked++
      }
    }
    assert.ok(checked >= 10, `checked ${checked} URLs`)
  } finally {
    server.kill()
  }
})
