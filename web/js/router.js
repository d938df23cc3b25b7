// Addresses (History API), log in, stacks, and the shell around a stack's views.

import { api } from './api.js'
import { alertBox, fill, h, icon, root } from './dom.js'
import { SINCE, TYPES, loadItems, openLibrary, showLibraryChrome } from './library.js'
import { removePanel, renderPanel } from './panel.js'
import { openSettings } from './settings.js'
import { state, store } from './state.js'

export function renderLogin (error, email = '') {
  const form = h('form', { class: 'card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to perma'),
    h('div', { class: 'field' }, h('label', { for: 'email' }, 'Email'), h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true, value: email })),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error ? alertBox(error) : null,
    h('button', { class: 'btn primary', type: 'submit' }, 'Log in'))
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
// The address names the view (§7): `/` (stacks), `/stacks/{api_key}` with `?folder=`,
// `?q=` and `?asset=`, and `/stacks/{api_key}/settings`. Each navigation records one
// (History API), so a view can be linked to, reloaded, and left and found again with Back
// and Forward; `route()` draws whatever the address says.
export function addressOf () {
  if (!state.apiKey) return '/'
  const base = `/stacks/${encodeURIComponent(state.apiKey)}`
  if (state.page === 'settings') return `${base}/settings`
  const q = new URLSearchParams()
  if (state.folder) q.set('folder', state.folder)
  if (state.search) q.set('q', state.search)
  if (state.type) q.set('type', state.type)
  if (state.since) q.set('since', state.since)
  if (state.tag) q.set('tag', state.tag)
  if (state.selected) q.set('asset', state.selected)
  const s = q.toString()
  return s ? `${base}?${s}` : base
}

export function remember (replace = false) {
  const to = addressOf()
  if (to === location.pathname + location.search) return
  if (replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
}

// The folders from the root down to `uid` (for the breadcrumbs of a linked folder).
export async function ancestry (uid) {
  const chain = []
  let cur = uid
  while (cur && chain.length < 8) {
    const f = (await api('GET', `/v3/assets/folders/${cur}`)).asset
    chain.unshift({ uid: f.uid, name: f.name })
    cur = f.parent_uid
  }
  return chain
}

export async function route () {
  if (!state.session) return renderLogin()
  const m = location.pathname.match(/^\/stacks\/(blt[0-9a-f]{16})(\/settings)?\/?$/)
  if (!m) return renderStacks()
  if (state.apiKey !== m[1] || !state.stack || !document.getElementById('workspace')) {
    if (!(await enterStack(m[1]))) return
  }
  if (m[2]) return openSettings()
  const params = new URLSearchParams(location.search)
  state.page = 'library'
  state.search = params.get('q') || ''
  state.type = TYPES[params.get('type')] ? params.get('type') : ''
  state.since = SINCE[params.get('since')] ? params.get('since') : ''
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

export function renderShell () {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    h('span', { class: 'brand' }, 'perma'),
    h('button', { type: 'button', id: 'nav-assets', 'aria-label': 'Assets', 'aria-keyshortcuts': 'A', onclick: () => openLibrary() }, icon('assets'), h('span', { 'aria-hidden': 'true' }, 'Assets')),
    h('button', { type: 'button', id: 'nav-settings', 'aria-label': 'Settings', onclick: () => openSettings() }, icon('settings'), h('span', { 'aria-hidden': 'true' }, 'Settings')),
    h('button', { type: 'button', 'aria-label': 'Stacks', onclick: () => renderStacks() }, icon('stacks'), h('span', { 'aria-hidden': 'true' }, 'Stacks')),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', 'aria-label': 'Log out', onclick: () => logout(true) }, icon('logout'), h('span', { 'aria-hidden': 'true' }, 'Log out')))
  const main = h('div', { class: 'main' },
    h('header', { class: 'topbar' }, h('h1', { id: 'page-title' }, 'Assets'), h('span', { class: 'hint' }, state.stack ? state.stack.name : '')),
    h('div', { class: 'workspace', id: 'workspace' }, h('section', { class: 'library', id: 'library', 'aria-labelledby': 'page-title' }), null))
  fill(root(), h('div', { class: 'shell' }, nav, main))
}
