// The top of the UI: addresses (History API) → views, log in, stacks.

import { api } from './api.js'
import { alertBox, fill, h, root, toast } from './dom.js'
import { SINCE, TYPES, USAGE, loadItems, openLibrary, showLibraryChrome } from './library.js'
import { ancestry, remember } from './nav.js'
import { keepDraft, removePanel, renderPanel } from './panel.js'
import { openSettings } from './settings.js'
import { renderShell } from './shell.js'
import { openTrash } from './trash.js'
import { openLinks } from './links.js'
import { state, store } from './state.js'

// Views ask for navigation with nav.js `navigate` (they import nothing above them).
window.addEventListener('perma:navigate', (e) => {
  const to = e.detail
  if (to === 'library') openLibrary()
  else if (to === 'settings') openSettings()
  else if (to === 'trash') openTrash()
  else if (to === 'links') openLinks()
  else if (to === 'stacks') renderStacks()
  else if (to === 'logout') logout(true)
})

// A call answered 401 (api.js): keep what was typed in the panel, and log in again.
window.addEventListener('perma:session-ended', () => {
  keepDraft()
  logout(false)
  toast('Your session has ended. Please log in again.')
})

export function renderLogin (error, email = '') {
  const form = h('form', { class: 'card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to perma'),
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true, value: email })),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error ? alertBox(error) : null,
    h('button', { class: 'btn primary', type: 'submit' }, 'Log in'),
    h('p', { id: 'sso', class: 'sso' }))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const fd = new FormData(form)
    try {
      const res = await api('POST', '/v3/user-session', { body: { user: { email: fd.get('email'), password: fd.get('password') } } })
      state.session = { authtoken: res.user.authtoken, email: res.user.email }
      store.setItem('perma.session', JSON.stringify(state.session))
      await route()
    } catch (err) {
      renderLogin(err.message, fd.get('email'))
    }
  })
  fill(root(), h('main', { class: 'center' }, form))
  document.getElementById(error ? 'password' : 'email').focus()
  offerSignOn()
}

// Single sign-on (§14), when the server has it: a link to the provider that comes back to
// the address the sign-in started from.
async function offerSignOn () {
  let sso = null
  try { sso = (await api('GET', '/v3/sso')).sso } catch { return }
  const slot = document.getElementById('sso')
  if (!sso || !sso.enabled || !slot) return
  const back = location.pathname + location.search
  fill(slot, h('a', { class: 'btn', href: `${sso.login_url}?return_to=${encodeURIComponent(back)}` }, 'Sign in with single sign-on'))
}

// The end of a single sign-on: the address's fragment holds a one-time code (traded for a
// session here, then removed from the address and the history) or the reason it failed.
export async function finishSignOn () {
  const params = new URLSearchParams(location.hash.slice(1))
  const code = params.get('sso_code')
  const failed = params.get('sso_error')
  if (!code && !failed) return null
  history.replaceState(null, '', location.pathname + location.search)
  if (failed) return failed
  try {
    const res = await api('POST', '/v3/user-session', { body: { user: { sso_code: code } } })
    state.session = { authtoken: res.user.authtoken, email: res.user.email }
    store.setItem('perma.session', JSON.stringify(state.session))
    return null
  } catch (err) {
    return err.message
  }
}

export async function renderStacks (error) {
  state.apiKey = null
  state.stack = null
  remember()
  let stacks = []
  try { stacks = (await api('GET', '/v3/stacks')).stacks } catch (err) { if (!state.session) return renderLogin(); error = err.message }
  const create = h('form', { 'aria-label': 'Create a stack' },
    h('div', { class: 'field' }, h('label', { for: 'new-stack' }, 'New stack name'), h('input', { id: 'new-stack', name: 'name', required: true, maxlength: 255 })),
    h('button', { class: 'btn primary', type: 'submit' }, 'Create stack'))
  create.addEventListener('submit', async (e) => {
    e.preventDefault()
    try {
      const res = await api('POST', '/v3/stacks', { body: { stack: { name: new FormData(create).get('name') } } })
      await openStack(res.stack.api_key)
    } catch (err) { renderStacks(err.message) }
  })
  fill(root(), h('main', { class: 'center' }, h('div', { class: 'card' },
    h('h1', {}, 'Choose a stack'),
    stacks.length ? h('ul', { class: 'stack-list' }, stacks.map((s) => h('li', {}, h('button', { class: 'btn', type: 'button', onclick: () => openStack(s.api_key) }, s.name)))) : h('p', { class: 'hint' }, 'You have no stacks yet.'),
    error ? alertBox(error) : null,
    create,
    h('p', {}, h('button', { class: 'btn', type: 'button', onclick: () => logout(true) }, 'Log out')))))
}

export async function openStack (apiKey) {
  Object.assign(state, { apiKey, stack: null, page: 'library', folder: null, crumbs: [], search: '', selected: null })
  remember()
  await route()
}

// Loads a stack and draws the shell around its views; false (and the stack list) if the
// stack cannot be opened.
export async function enterStack (apiKey) {
  state.apiKey = apiKey
  state.stack = null
  state.picked = new Set()
  try {
    state.stack = (await api('GET', '/v3/stacks')).stack
  } catch (err) {
    renderStacks(err.message)
    return false
  }
  store.setItem('perma.last_api_key', apiKey)
  renderShell()
  return true
}

// ---------- addresses ----------
// Draws whatever the address says (nav.js writes it as the views change).
export async function route () {
  const signOnError = await finishSignOn()
  if (signOnError) return renderLogin(signOnError)
  if (!state.session) return renderLogin()
  const m = location.pathname.match(/^\/stacks\/(blt[0-9a-f]{16})(\/settings|\/trash|\/links)?\/?$/)
  if (!m) return renderStacks()
  if (state.apiKey !== m[1] || !state.stack || !document.getElementById('workspace')) {
    if (!(await enterStack(m[1]))) return
  }
  if (m[2] === '/settings') return openSettings()
  if (m[2] === '/trash') return openTrash()
  if (m[2] === '/links') return openLinks()
  const params = new URLSearchParams(location.search)
  state.page = 'library'
  state.search = params.get('q') || ''
  state.type = TYPES[params.get('type')] ? params.get('type') : ''
  state.since = SINCE[params.get('since')] ? params.get('since') : ''
  state.usage = USAGE[params.get('usage')] ? params.get('usage') : ''
  state.tag = params.get('tag') || ''
  const folder = params.get('folder')
  let error = null
  if (folder !== state.folder || (folder && !state.crumbs.length)) {
    try {
      state.crumbs = folder ? await ancestry(folder) : []
      state.folder = folder
    } catch (err) {
      error = `That folder cannot be opened: ${err.message}`
      state.folder = null
      state.crumbs = []
      remember(true)
    }
  }
  state.selected = params.get('asset')
  showLibraryChrome()
  await loadItems(false, error)
  if (state.selected) await renderPanel()
  else removePanel()
}

export function logout (callServer) {
  if (callServer && state.session) api('DELETE', '/v3/user-session').catch(() => {})
  state.session = null
  state.apiKey = null
  store.removeItem('perma.session')
  // Logging out leaves for the start page; an expired session keeps the address, so that
  // logging in again comes back to the same view.
  if (callServer) {
    store.removeItem('perma.last_api_key')
    history.replaceState(null, '', '/')
  }
  renderLogin()
}

