// A real OpenID provider (oidc-provider) for perma's single sign-on tests. It listens on
// 127.0.0.1 with a port the OS picks, prints `{"issuer": …}` as its first line of output,
// and serves until stdin closes (the test ends it by its pid otherwise).
//
// Usage: node provider.mjs CLIENT_ID CLIENT_SECRET
//
// Test controls (the test is the provider's administrator):
//   PUT  /test/client          {"redirect_uri": …}: registers perma (whose address is known
//                              only once it runs with this issuer); until then other
//                              requests get 503
//   PUT  /test/accounts/{id}   JSON claims of an account (email, email_verified, perma_roles…)
//   POST /test/login/{id}      the account the next sign-in at the provider signs in as
//   POST /test/tamper/{mode}   change the next ID token the token endpoint sends:
//                              expired | forged | none | wrong_audience | off
import http from 'node:http'
import crypto from 'node:crypto'
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK } from 'jose'
import Provider from 'oidc-provider'

const [clientId, clientSecret] = process.argv.slice(2)
if (!clientSecret) {
  console.error('usage: node provider.mjs CLIENT_ID CLIENT_SECRET')
  process.exit(2)
}

const accounts = new Map()
let nextLogin = null
let tamper = 'off'

// The provider's signing key, and another one an attacker might sign with.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
const { privateKey: attackerKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...(await exportJWK(privateKey)), kid: 'perma-test-key', use: 'sig', alg: 'RS256' }

const server = http.createServer()
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const issuer = `http://127.0.0.1:${server.address().port}`

let provider = null

function makeProvider (redirectUri) {
  provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], perma: ['perma_roles'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    async findAccount (ctx, sub) {
      const claims = accounts.get(sub)
      if (!claims) return undefined
      return { accountId: sub, async claims () { return { sub, ...claims } } }
    },
    // Consent is implied for perma (a first-party client).
    async loadExistingGrant (ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId)
      if (grantId) return ctx.oidc.provider.Grant.find(grantId)
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId })
      grant.addOIDCScope(ctx.oidc.params.scope)
      await grant.save()
      return grant
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  })
  provider.use(controls)
  server.on('request', provider.callback())
}

async function readBody (req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks).toString()
}

async function tampered (idToken, mode) {
  const claims = decodeJwt(idToken)
  const header = decodeProtectedHeader(idToken)
  const now = Math.floor(Date.now() / 1000)
  if (mode === 'none') {
    const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
    return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`
  }
  let key = privateKey
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 })
  if (mode === 'wrong_audience') claims.aud = 'someone-else'
  if (mode === 'forged') {
    // What an attacker would send: the claims they want, under the provider's key id,
    // signed with a key of their own.
    claims.sub = 'attacker'
    key = attackerKey
  }
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: header.kid }).sign(key)
}

async function controls (ctx, next) {
  const m = ctx.path.match(/^\/test\/(accounts|login|tamper)\/([^/]+)$/)
  if (m) {
    const [, what, id] = m
    if (what === 'accounts') accounts.set(id, JSON.parse(await readBody(ctx.req)))
    if (what === 'login') nextLogin = id
    if (what === 'tamper') tamper = id
    ctx.status = 204
    return
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/)
  if (interaction) {
    // The provider's sign-in page, answered at once as the account the test chose.
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    const result = details.prompt.name === 'login'
      ? { login: { accountId: nextLogin } }
      : { consent: {} }
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }))
    return
  }
  await next()
  if (ctx.path === '/token' && tamper !== 'off' && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token, tamper) }
    tamper = 'off'
  }
}

// Until perma is registered, only the registration is answered.
server.on('request', async (req, res) => {
  if (provider) return
  if (req.method === 'PUT' && req.url === '/test/client') {
    makeProvider(JSON.parse(await readBody(req)).redirect_uri)
    res.writeHead(204).end()
    return
  }
  res.writeHead(503).end('perma is not registered yet (PUT /test/client)')
})
console.log(JSON.stringify({ issuer }))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
