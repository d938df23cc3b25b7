// perma web UI (§7). Plain ES module, no build step; talks to the same /v3 API as the SDKs.
// All user data goes into the DOM as text nodes, never as HTML.

const SLUG_MAX = 255
// The session is shared by the browser's tabs (a second tab needs no second login); which
// stack, folder, search and asset are shown lives in the address (see "addresses").
const store = window.localStorage
const state = {
  session: JSON.parse(store.getItem('perma.session') || 'null'),
  apiKey: null,
  page: 'library', // or 'settings'
  stack: null,
  folder: null, // current folder uid, null = root
  crumbs: [], // [{uid, name}]
  view: store.getItem('perma.view') || 'list',
  sort: store.getItem('perma.sort') || 'name',
  search: '',
  type: '', // a content-type filter (TYPES)
  paths: null, // folder uid -> path, for saying where search results live
  folders: null, // every folder [{uid, parent, path}], loaded for searches
  items: [],
  total: null, // matches in all (folders), null for searches
  more: false, // another page may follow
  selected: null,
  picked: new Set(), // assets ticked for a bulk action
  environments: [],
  locales: [],
  uploads: [],
}

// ---------- tiny DOM helper ----------
function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = v
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}
// replaceChildren() would print "null" for absent optional parts.
function fill (el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false))
}
const svgNS = 'http://www.w3.org/2000/svg'
function icon (name) {
  const paths = {
    assets: 'M4 5h16v14H4zM4 15l4-4 4 4 3-3 5 5M15 9.5a1.5 1.5 0 1 0 0-.01',
    stacks: 'M12 3l9 5-9 5-9-5zM3 13l9 5 9-5',
    logout: 'M15 12H4M11 8l-4 4 4 4M14 4h6v16h-6',
    folder: 'M3 6h7l2 2h9v11H3z',
    file: 'M6 3h8l4 4v14H6zM14 3v4h4',
    settings: 'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM4 12h2M18 12h2M12 4v2M12 18v2M6.3 6.3l1.4 1.4M16.3 16.3l1.4 1.4M6.3 17.7l1.4-1.4M16.3 7.7l1.4-1.4',
  }
  const svg = document.createElementNS(svgNS, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('fill', 'none')
  svg.setAttribute('stroke', 'currentColor')
  svg.setAttribute('stroke-width', '1.8')
  svg.setAttribute('stroke-linejoin', 'round')
  const p = document.createElementNS(svgNS, 'path')
  p.setAttribute('d', paths[name] || paths.file)
  svg.append(p)
  return svg
}

// ---------- API ----------
class ApiError extends Error {
  constructor (status, body) {
    const fields = body && body.errors ? Object.entries(body.errors).map(([k, v]) => `${k}: ${[].concat(v).join(', ')}`) : []
    const base = (body && body.error_message) || `Request failed (${status})`
    super(fields.length && !base.includes(fields[0].split(': ')[1]) ? `${base} (${fields.join('; ')})` : base)
    this.status = status
    this.body = body
  }
}

function headers (extra = {}) {
  const hd = { ...extra }
  if (state.session) hd.authtoken = state.session.authtoken
  if (state.apiKey) hd.api_key = state.apiKey
  return hd
}

async function api (method, path, { body, query } = {}) {
  const url = new URL(path, location.origin)
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v)
  let res
  try {
    res = await fetch(url, {
      method,
      headers: headers(body ? { 'content-type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    })
  } catch (e) {
    throw new ApiError(0, { error_message: 'perma could not be reached. Check your connection and try again.' })
  }
  const text = await res.text()
  let data = null
  try { data = text ? JSON.parse(text) : null } catch { data = null }
  if (!res.ok) {
    if (res.status === 401 && state.session) { keepDraft(); logout(false); toast('Your session has ended. Please log in again.') }
    throw new ApiError(res.status, data)
  }
  return data
}

// Multipart upload with progress (fetch has no upload progress).
function sendFile (method, path, file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, path)
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total) }
    xhr.onload = () => {
      let data = null
      try { data = JSON.parse(xhr.responseText) } catch { data = null }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data)
      else reject(new ApiError(xhr.status, data))
    }
    xhr.onerror = () => reject(new ApiError(0, { error_message: 'The upload was interrupted.' }))
    const form = new FormData()
    for (const [k, v] of Object.entries(fields || {})) form.append(k, v)
    form.append('asset[upload]', file, file.name)
    xhr.send(form)
  })
}

// ---------- formatting ----------
function size (n) {
  n = Number(n)
  if (!Number.isFinite(n)) return ''
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i ? n.toFixed(1) : n} ${units[i]}`
}
function date (iso) {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}
function ext (name) {
  const i = (name || '').lastIndexOf('.')
  return i > 0 ? name.slice(i + 1, i + 5) : ''
}

// §3 slug grammar, mirrored from src/slug.rs.
export function slugProblem (s) {
  if (s.length === 0) return 'The slug can\u2019t be blank.'
  if ([...s].length > SLUG_MAX) return `The slug is too long (${[...s].length} characters; the maximum is ${SLUG_MAX}).`
  const bad = [...s].find((c) => !/[A-Za-z0-9\-_.~]/.test(c))
  if (bad) return `\u201c${bad}\u201d is not allowed: use letters, digits, \u2018-\u2019, \u2018_\u2019, \u2018.\u2019 and \u2018~\u2019.`
  if (s === '.' || s === '..') return 'The slug can\u2019t be \u201c.\u201d or \u201c..\u201d.'
  if (!/[A-Za-z0-9]/.test(s)) return 'The slug must contain at least one letter or digit.'
  return null
}
export function suggestSlug (filename) {
  let out = ''
  for (const c of (filename || '').toLowerCase()) {
    if (/[a-z0-9.~]/.test(c)) out += c
    else if (!out.endsWith('-')) out += '-'
  }
  out = out.replace(/^[-.]+|[-.]+$/g, '').replaceAll('-.', '.').slice(0, SLUG_MAX)
  return slugProblem(out) ? 'asset' : out
}

// ---------- feedback ----------
let toastTimer
function toast (msg) {
  const t = document.getElementById('toast')
  t.textContent = msg
  t.classList.add('show')
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => t.classList.remove('show'), 2500)
}
function alertBox (msg) {
  return h('p', { class: 'error', role: 'alert' }, msg)
}
async function copy (text, what) {
  try {
    await navigator.clipboard.writeText(text)
  } catch {
    const ta = h('textarea', { class: 'sr-only', 'aria-hidden': 'true' })
    ta.value = text
    document.body.append(ta)
    ta.select()
    document.execCommand('copy')
    ta.remove()
  }
  toast(`${what} copied`)
}

// ---------- views ----------
const root = () => document.getElementById('app')

function renderLogin (error, email = '') {
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

async function renderStacks (error) {
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

async function openStack (apiKey) {
  Object.assign(state, { apiKey, stack: null, page: 'library', folder: null, crumbs: [], search: '', selected: null })
  remember()
  await route()
}

// Loads a stack and draws the shell around its views; false (and the stack list) if the
// stack cannot be opened.
async function enterStack (apiKey) {
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
function addressOf () {
  if (!state.apiKey) return '/'
  const base = `/stacks/${encodeURIComponent(state.apiKey)}`
  if (state.page === 'settings') return `${base}/settings`
  const q = new URLSearchParams()
  if (state.folder) q.set('folder', state.folder)
  if (state.search) q.set('q', state.search)
  if (state.type) q.set('type', state.type)
  if (state.selected) q.set('asset', state.selected)
  const s = q.toString()
  return s ? `${base}?${s}` : base
}

function remember (replace = false) {
  const to = addressOf()
  if (to === location.pathname + location.search) return
  if (replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
}

// The folders from the root down to `uid` (for the breadcrumbs of a linked folder).
async function ancestry (uid) {
  const chain = []
  let cur = uid
  while (cur && chain.length < 8) {
    const f = (await api('GET', `/v3/assets/folders/${cur}`)).asset
    chain.unshift({ uid: f.uid, name: f.name })
    cur = f.parent_uid
  }
  return chain
}

async function route () {
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

window.addEventListener('popstate', () => { route() })

function logout (callServer) {
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

function renderShell () {
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

async function openLibrary () {
  state.page = 'library'
  remember()
  showLibraryChrome()
  await loadItems()
  if (state.selected) await renderPanel()
}

function showLibraryChrome () {
  if (!document.getElementById('library')) renderShell()
  document.getElementById('page-title').textContent = 'Assets'
  document.getElementById('nav-settings').removeAttribute('aria-current')
  document.getElementById('nav-assets').setAttribute('aria-current', 'page')
}

// Pages of 100 (§5 limit), fetched as the author asks for more: the server filters, sorts
// and counts (§6), so a library of a million assets costs the same as one of a hundred.
const PAGE = 100

async function loadItems (append = false, problem = null) {
  const lib = document.getElementById('library')
  if (!lib) return
  const skip = append ? state.items.length : 0
  const [dir, field] = SORTS[state.sort] || SORTS.name
  const query = { include_folders: 'true', include_dimension: 'true', relative_urls: 'true', [dir]: field, limit: String(PAGE), skip: String(skip) }
  // A search may scan: it asks for no total, and pages until a page comes back short. It
  // looks in the folder being shown (and below it only by name match, §6 has no subtree
  // operator), or everywhere from the top level.
  if (!state.search) query.include_count = 'true'
  const all = []
  if (state.search) {
    const esc = state.search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    all.push({ $or: [{ title: { $regex: esc, $options: 'i' } }, { filename: { $regex: esc, $options: 'i' } }, { name: { $regex: esc, $options: 'i' } }, { tags: { $regex: esc, $options: 'i' } }] })
    if (!state.folders) {
      try { state.folders = await allFolders() } catch { state.folders = [] }
      state.paths = Object.fromEntries(state.folders.map((f) => [f.uid, f.path]))
    }
    if (state.folder) all.push({ parent_uid: { $in: subtree(state.folder) } })
  } else {
    query.folder = state.folder || 'cs_root'
  }
  if (state.type) all.push({ content_type: { $regex: TYPES[state.type].pattern } })
  if (all.length) query.query = JSON.stringify(all.length === 1 ? all[0] : { $and: all })

  let error = null
  try {
    const res = await api('GET', '/v3/assets', { query })
    state.items = append ? state.items.concat(res.assets) : res.assets
    state.total = typeof res.count === 'number' ? res.count : null
    state.more = state.total === null ? res.assets.length === PAGE : state.items.length < state.total
  } catch (err) {
    error = err.message
    if (!append) state.items = []
    state.more = false
  }
  renderLibrary(error || problem)
  if (append) document.getElementById('load-more')?.focus()
}

function renderLibrary (error) {
  const lib = document.getElementById('library')
  const search = h('input', { id: 'search', type: 'search', value: state.search, placeholder: 'Search by title, file name or tag' })
  let searchTimer
  search.addEventListener('input', () => {
    clearTimeout(searchTimer)
    searchTimer = setTimeout(() => { const was = state.search; state.search = search.value.trim(); remember(Boolean(was)); loadItems().then(() => { const s = document.getElementById('search'); s.focus(); s.setSelectionRange(s.value.length, s.value.length) }) }, 250)
  })
  const picker = h('input', { id: 'upload-input', type: 'file', multiple: true, hidden: true, 'aria-hidden': 'true', tabindex: '-1' })
  picker.addEventListener('change', () => { uploadFiles([...picker.files]); picker.value = '' })
  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'search' }, h('label', { for: 'search', class: 'sr-only' }, 'Search assets'), search),
    h('button', { class: 'btn', type: 'button', 'aria-pressed': String(state.view === 'list'), onclick: () => setView('list') }, 'List view'),
    h('button', { class: 'btn', type: 'button', 'aria-pressed': String(state.view === 'grid'), onclick: () => setView('grid') }, 'Grid view'),
    h('button', { class: 'btn', type: 'button', onclick: newFolder }, 'New folder'),
    state.folder && !state.search ? h('button', { class: 'btn', type: 'button', onclick: renameFolderDialog }, 'Rename folder') : null,
    state.folder && !state.search ? h('button', { class: 'btn danger', type: 'button', onclick: deleteFolderDialog }, 'Delete folder') : null,
    typeControl(),
    sortControl(),
    h('button', { class: 'btn primary', type: 'button', onclick: () => picker.click() }, 'Upload'),
    picker)
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Folders' },
    state.search ? [h('span', { 'aria-current': 'location' }, `Search results for \u201c${state.search}\u201d${state.folder && state.crumbs.length ? ` in ${state.crumbs.map((c) => c.name).join(' / ')}` : ''}`),
        state.folder ? h('button', { type: 'button', onclick: () => { state.folder = null; state.crumbs = []; remember(); loadItems() } }, 'Search all assets') : null]
      : [
          state.crumbs.length ? h('button', { type: 'button', class: 'up', 'aria-label': 'Up one level', onclick: () => goFolder(state.crumbs.length > 1 ? state.crumbs[state.crumbs.length - 2].uid : null, state.crumbs.length - 2) }, '\u2191') : null,
          state.crumbs.length ? h('button', { type: 'button', onclick: () => goFolder(null, -1) }, 'All assets') : h('span', { 'aria-current': 'location' }, 'All assets'),
          state.crumbs.map((c, i) => [h('span', { 'aria-hidden': 'true' }, '/'), i === state.crumbs.length - 1 ? h('span', { 'aria-current': 'location' }, c.name) : h('button', { type: 'button', onclick: () => goFolder(c.uid, i) }, c.name)]),
        ])
  const list = h('ul', { class: `items ${state.view}`, 'aria-label': 'Assets and folders' }, state.items.map(itemRow))
  const counter = state.items.length
    ? h('p', { class: 'count', role: 'status' }, state.total === null ? `${state.items.length} shown` : `${state.items.length} of ${state.total}`)
    : null
  const more = state.more ? h('button', { class: 'btn more', id: 'load-more', type: 'button', onclick: () => loadItems(true) }, 'Load more') : null
  const drop = h('div', { class: 'drop', id: 'dropzone' }, list, state.items.length || error ? null : h('p', { class: 'empty' }, state.search ? 'Nothing matches your search.' : 'This folder is empty. Drop files here or use Upload.'), counter, more)
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over') })
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); uploadFiles([...e.dataTransfer.files]) })
  fill(lib, toolbar, crumbs, h('div', { id: 'selection-bar' }), error ? alertBox(error) : null, drop)
  renderSelectionBar()
}

// ---------- bulk actions ----------
// Ticked assets can be published in one bulk job (§5); its progress is polled and shown.
function renderSelectionBar () {
  const bar = document.getElementById('selection-bar')
  if (!bar) return
  const n = state.picked.size
  if (!n) { fill(bar); bar.className = ''; return }
  bar.className = 'selection'
  fill(bar,
    h('span', { role: 'status' }, `${n} selected`),
    h('button', { class: 'btn primary', type: 'button', onclick: () => bulkDialog('publish') }, 'Publish selected'),
    h('button', { class: 'btn', type: 'button', onclick: () => bulkDialog('unpublish') }, 'Unpublish selected'),
    h('button', { class: 'btn', type: 'button', onclick: () => moveDialog([...state.picked], `${n} assets`) }, 'Move selected'),
    h('button', { class: 'btn danger', type: 'button', onclick: () => deleteSelectedDialog([...state.picked]) }, 'Delete selected'),
    h('button', { class: 'btn', type: 'button', onclick: () => { state.picked.clear(); renderLibrary() } }, 'Clear selection'))
}

// A folder and every folder below it (a search in a folder looks through all of them).
function subtree (uid) {
  const out = [uid]
  for (let i = 0; i < out.length; i++) {
    for (const f of state.folders || []) if (f.parent === out[i]) out.push(f.uid)
  }
  return out
}

// Every folder of the stack with its path (`Brand / Logos`), for choosing where to move.
async function allFolders () {
  const folders = []
  for (let skip = 0; skip < 2000; skip += 100) {
    const res = await api('GET', '/v3/assets', { query: { include_folders: 'true', query: JSON.stringify({ is_dir: true }), limit: '100', skip: String(skip) } })
    folders.push(...res.assets)
    if (res.assets.length < 100) break
  }
  const byUid = Object.fromEntries(folders.map((f) => [f.uid, f]))
  const path = (f) => f.parent_uid && byUid[f.parent_uid] ? `${path(byUid[f.parent_uid])} / ${f.name}` : f.name
  return folders.map((f) => ({ uid: f.uid, parent: f.parent_uid, path: path(f) })).sort((a, b) => a.path.localeCompare(b.path, undefined, { sensitivity: 'base' }))
}

// Moves assets (one from the panel, or the ticked ones) into a folder or to the top level.
async function moveDialog (uids, what) {
  let folders = []
  try { folders = await allFolders() } catch (err) { toast(err.message); return }
  const select = h('select', { id: 'move-to' }, h('option', { value: '' }, 'All assets (top level)'),
    folders.map((f) => h('option', { value: f.uid }, f.path)))
  const errorSlot = h('div')
  const d = dialog(`Move ${what}`, [
    h('div', { class: 'field' }, h('label', { for: 'move-to' }, 'Destination folder'), select),
    errorSlot,
  ], 'Move', async () => {
    const failed = []
    for (const uid of uids) {
      try { await api('PUT', `/v3/assets/${uid}`, { body: { asset: { parent_uid: select.value || null } } }) } catch (err) { failed.push(err.message) }
    }
    if (failed.length) { fill(errorSlot, alertBox(`${failed.length} could not be moved: ${failed[0]}`)); return false }
    return true
  }, () => {
    state.picked.clear()
    toast(uids.length === 1 ? 'Moved' : `${uids.length} assets moved`)
    if (state.selected) renderPanel('Moved')
    loadItems()
  }, { focus: select })
  d.open()
}

function deleteSelectedDialog (uids) {
  const errorSlot = h('div')
  const d = dialog(`Delete ${uids.length} assets?`, [
    h('p', {}, `${uids.length} assets will be deleted. Their version URLs and permanent URLs will stop working.`),
    errorSlot,
  ], 'Delete assets', async () => {
    const failed = []
    for (const uid of uids) {
      try { await api('DELETE', `/v3/assets/${uid}`) } catch (err) { failed.push(err.message) }
    }
    if (failed.length) { fill(errorSlot, alertBox(`${failed.length} could not be deleted: ${failed[0]}`)); return false }
    return true
  }, () => {
    state.picked.clear()
    toast(`${uids.length} assets deleted`)
    if (uids.includes(state.selected)) closePanel()
    loadItems()
  }, { danger: true })
  d.open()
}

// Renames or deletes the folder being shown (its contents go with it, §5).
function renameFolderDialog () {
  const current = state.crumbs[state.crumbs.length - 1]
  const input = h('input', { id: 'folder-new-name', required: true, maxlength: 255, value: current.name })
  const errorSlot = h('div')
  const d = dialog('Rename folder', [
    h('div', { class: 'field' }, h('label', { for: 'folder-new-name' }, 'Folder name'), input),
    errorSlot,
  ], 'Rename', async () => {
    try { await api('PUT', `/v3/assets/folders/${current.uid}`, { body: { asset: { name: input.value } } }); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => { current.name = input.value.trim(); toast('Folder renamed'); loadItems() }, { focus: input })
  d.open()
}

function deleteFolderDialog () {
  const current = state.crumbs[state.crumbs.length - 1]
  const errorSlot = h('div')
  const d = dialog('Delete folder?', [
    h('p', {}, `\u201c${current.name}\u201d and everything in it will be deleted. The URLs of the assets in it will stop working.`),
    errorSlot,
  ], 'Delete folder', async () => {
    try { await api('DELETE', `/v3/assets/folders/${current.uid}`); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => {
    toast('Folder deleted')
    const up = state.crumbs.length > 1 ? state.crumbs[state.crumbs.length - 2].uid : null
    goFolder(up, state.crumbs.length - 2)
  }, { danger: true })
  d.open()
}

async function loadTargets () {
  const [envs, locales] = await Promise.all([
    api('GET', '/v3/environments').then((r) => r.environments),
    api('GET', '/v3/locales').then((r) => r.locales),
  ])
  state.environments = envs
  state.locales = locales
}

function targetFields (prefix) {
  const env = h('select', { id: `${prefix}-env` }, state.environments.map((e) => h('option', { value: e.name }, e.name)))
  const master = state.stack ? state.stack.master_locale : 'en-us'
  const locale = h('select', { id: `${prefix}-locale` }, state.locales.map((l) => h('option', { value: l.code, selected: l.code === master }, `${l.name} (${l.code})`)))
  return { env, locale, fields: [
    h('div', { class: 'field' }, h('label', { for: `${prefix}-env` }, 'Environment'), env),
    h('div', { class: 'field' }, h('label', { for: `${prefix}-locale` }, 'Locale'), locale),
  ] }
}

function noEnvironments (title) {
  dialog(title, [h('p', {}, 'This stack has no environments yet. Create one under Settings first.')], 'OK', async () => true).open()
}

async function bulkDialog (action) {
  const title = action === 'publish' ? 'Publish selected assets' : 'Unpublish selected assets'
  try { await loadTargets() } catch (err) { toast(err.message); return }
  if (!state.environments.length) return noEnvironments(title)
  const uids = [...state.picked]
  const t = targetFields('bulk')
  const errorSlot = h('div')
  let job = null
  const d = dialog(title, [
    h('p', {}, `${uids.length} asset${uids.length === 1 ? '' : 's'}, in one job.`),
    ...t.fields,
    errorSlot,
  ], action === 'publish' ? 'Publish' : 'Unpublish', async () => {
    try {
      const res = await api('POST', `/v3/bulk/${action}`, { body: { assets: uids.map((uid) => ({ uid })), environments: [t.env.value], locales: [t.locale.value] } })
      job = res.job_id
      return true
    } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => followJob(job, action, t.env.value))
  d.open()
}

// Shows a bulk job's progress until it is done, then the result per asset.
async function followJob (jobId, action, env) {
  let box = document.getElementById('job')
  if (!box) { box = h('section', { class: 'uploads', id: 'job', 'aria-label': 'Bulk job' }); document.body.append(box) }
  const verb = action === 'publish' ? 'Publishing' : 'Unpublishing'
  for (;;) {
    let st
    try { st = await api('GET', `/v3/bulk/jobs/${jobId}`) } catch (err) { fill(box, alertBox(err.message)); return }
    const s = st.summary
    const done = s.success + s.failed
    if (st.status === 'completed' || st.status === 'failed') {
      const past = action === 'publish' ? 'Published' : 'Unpublished'
      const items = s.failed ? (await api('GET', `/v3/bulk/jobs/${jobId}/items`, { query: { limit: '1000' } })).items.filter((i) => i.status === 'failed') : []
      fill(box,
        h('h2', {}, 'Bulk job finished'),
        h('p', { role: 'status', id: 'job-result' }, `${past} ${s.success} of ${s.total} to ${env}${s.failed ? `; ${s.failed} failed` : ''}.`),
        items.length ? h('ul', {}, items.map((i) => h('li', { class: 'error' }, `${i.uid}: ${i.error_message}`))) : null,
        h('button', { class: 'btn', type: 'button', onclick: () => box.remove() }, 'Dismiss'))
      state.picked.clear()
      renderLibrary()
      return
    }
    fill(box,
      h('h2', {}, `${verb}…`),
      h('p', { role: 'status' }, `${done} of ${s.total}`),
      h('progress', { max: String(s.total), value: String(done), 'aria-label': `${verb} ${s.total} assets` }))
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
}

// ---------- settings: environments and delivery tokens ----------
async function openSettings (notice, secret, lateError) {
  state.page = 'settings'
  remember()
  if (!document.getElementById('workspace')) renderShell()
  document.getElementById('nav-assets').removeAttribute('aria-current')
  document.getElementById('nav-settings').setAttribute('aria-current', 'page')
  document.getElementById('page-title').textContent = 'Settings'
  const ws = document.getElementById('workspace')
  ws.classList.remove('with-panel')
  let envs = []
  let tokens = []
  let hooks = []
  let error = null
  try {
    [envs, tokens, hooks] = await Promise.all([
      api('GET', '/v3/environments').then((r) => r.environments),
      api('GET', '/v3/stacks/delivery_tokens').then((r) => r.tokens),
      api('GET', '/v3/webhooks').then((r) => r.webhooks),
    ])
  } catch (err) { error = err.message }
  const envName = h('input', { id: 'env-name', name: 'name', required: true, maxlength: 255 })
  const envForm = h('form', { 'aria-label': 'Add an environment', class: 'inline' },
    h('div', { class: 'field' }, h('label', { for: 'env-name' }, 'New environment'), envName),
    h('button', { class: 'btn primary', type: 'submit' }, 'Add environment'))
  envForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    try { await api('POST', '/v3/environments', { body: { environment: { name: envName.value } } }); openSettings(`Environment ${envName.value} added`) } catch (err) { openSettings(null, null, err.message) }
  })
  const envList = h('ul', { class: 'settings-list', 'aria-label': 'Environments' }, envs.map((e) => h('li', {},
    h('span', { class: 'name' }, e.name),
    h('button', { class: 'btn danger', type: 'button', 'aria-label': `Delete environment ${e.name}`, onclick: () => confirmDelete(`Delete environment ${e.name}?`, 'What is published there stops being delivered.', `/v3/environments/${encodeURIComponent(e.name)}`, `Environment ${e.name} deleted`) }, 'Delete'))))

  const tokName = h('input', { id: 'token-name', name: 'name', required: true, maxlength: 255 })
  const envBoxes = envs.map((e) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'env', value: e.name }), ` ${e.name}`))
  const tokForm = h('form', { 'aria-label': 'Create a delivery token' },
    h('div', { class: 'field' }, h('label', { for: 'token-name' }, 'Token name'), tokName),
    h('fieldset', {}, h('legend', {}, 'Environments it may read'), envs.length ? envBoxes : h('p', { class: 'hint' }, 'Add an environment first.')),
    h('button', { class: 'btn primary', type: 'submit' }, 'Create delivery token'))
  tokForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    const chosen = [...tokForm.querySelectorAll('input[name=env]:checked')].map((i) => i.value)
    try {
      const res = await api('POST', '/v3/stacks/delivery_tokens', { body: { token: { name: tokName.value, scope: [{ module: 'environment', environments: chosen, acl: { read: true } }] } } })
      openSettings(`Delivery token ${res.token.name} created`, res.token.token)
    } catch (err) { openSettings(null, null, err.message) }
  })
  const tokList = h('ul', { class: 'settings-list', 'aria-label': 'Delivery tokens' }, tokens.map((t) => h('li', {},
    h('span', { class: 'name' }, t.name),
    h('span', { class: 'hint' }, ((t.scope || []).find((s) => s.module === 'environment') || { environments: [] }).environments.join(', ')),
    h('button', { class: 'btn danger', type: 'button', 'aria-label': `Delete delivery token ${t.name}`, onclick: () => confirmDelete(`Delete delivery token ${t.name}?`, 'Websites using it can no longer read assets.', `/v3/stacks/delivery_tokens/${t.uid}`, `Delivery token ${t.name} deleted`) }, 'Delete'))))
  const secretBox = secret && !secret.startsWith('whsec')
    ? h('div', { class: 'secret', role: 'note' },
      h('p', {}, h('strong', {}, 'Copy this token now. '), 'It is shown only once; perma keeps only a hash of it.'),
      h('div', { class: 'urlbox' }, h('code', { id: 'token-secret' }, secret), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy delivery token', onclick: () => copy(secret, 'Delivery token') }, 'Copy')))
    : null
  const hookSecretBox = secret && secret.startsWith('whsec')
    ? h('div', { class: 'secret', role: 'note' },
      h('p', {}, h('strong', {}, 'Copy this signing secret now. '), 'It is shown only once. Receivers check X-Contentstack-Request-Signature (HMAC-SHA256 of the body) with it.'),
      h('div', { class: 'urlbox' }, h('code', { id: 'webhook-secret' }, secret), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy signing secret', onclick: () => copy(secret, 'Signing secret') }, 'Copy')))
    : null
  const hooksCard = webhooksCard(hooks)
  fill(ws, h('section', { class: 'settings', 'aria-labelledby': 'page-title' },
    notice ? h('p', { role: 'status', class: 'hint', id: 'settings-notice' }, notice) : null,
    error || lateError ? alertBox(error || lateError) : null,
    h('div', { class: 'card' }, h('h2', {}, 'Environments'), envs.length ? envList : h('p', { class: 'hint' }, 'No environments yet.'), envForm),
    h('div', { class: 'card' }, h('h2', {}, 'Delivery tokens'),
      h('p', { class: 'hint' }, 'Websites read published assets with a delivery token through the Content Delivery API.'),
      secretBox, tokens.length ? tokList : h('p', { class: 'hint' }, 'No delivery tokens yet.'), tokForm),
    h('div', { class: 'card' }, h('h2', {}, 'Webhooks'),
      h('p', { class: 'hint' }, 'Receivers are told when assets change, signed with a secret of their own (§13).'),
      hookSecretBox, hooksCard)))
}

// ---------- settings: webhooks and their executions (§13) ----------
const HOOK_CHANNELS = [
  ['assets.create', 'Asset created'],
  ['assets.update', 'Asset updated'],
  ['assets.replace', 'File replaced'],
  ['assets.permanent_url.create', 'Permanent URL generated'],
  ['assets.delete', 'Asset deleted'],
  ['assets.environments.*.publish.success', 'Published (any environment)'],
  ['assets.environments.*.unpublish.success', 'Unpublished (any environment)'],
]

function webhooksCard (hooks) {
  const name = h('input', { id: 'hook-name', name: 'name', required: true, maxlength: 255 })
  const url = h('input', { id: 'hook-url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/perma-hook' })
  const boxes = HOOK_CHANNELS.map(([c, label]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'channel', value: c }), ` ${label}`))
  const manual = h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'manual', id: 'hook-manual' }), ' Retry only when I ask')
  const form = h('form', { 'aria-label': 'Create a webhook' },
    h('div', { class: 'field' }, h('label', { for: 'hook-name' }, 'Webhook name'), name),
    h('div', { class: 'field' }, h('label', { for: 'hook-url' }, 'Receiver URL'), url),
    h('fieldset', {}, h('legend', {}, 'Events'), ...boxes),
    manual,
    h('button', { class: 'btn primary', type: 'submit' }, 'Create webhook'))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const channels = [...form.querySelectorAll('input[name=channel]:checked')].map((i) => i.value)
    try {
      const res = await api('POST', '/v3/webhooks', { body: { webhook: { name: name.value, destinations: [{ target_url: url.value }], channels, retry_policy: form.querySelector('#hook-manual').checked ? 'manual' : 'automatic' } } })
      openSettings(`Webhook ${res.webhook.name} created`, res.webhook.secret)
    } catch (err) { openSettings(null, null, err.message) }
  })
  const list = h('ul', { class: 'settings-list', 'aria-label': 'Webhooks' }, hooks.map((w) => h('li', {},
    h('span', { class: 'name' }, w.name),
    h('span', { class: 'hint' }, `${w.destinations.map((d) => d.target_url).join(', ')} \u00b7 ${w.channels.length} event${w.channels.length === 1 ? '' : 's'}${w.disabled ? ' \u00b7 paused' : ''}`),
    h('button', { class: 'btn', type: 'button', 'aria-label': `Executions of ${w.name}`, onclick: () => executionsDialog(w) }, 'Executions'),
    h('button', { class: 'btn danger', type: 'button', 'aria-label': `Delete webhook ${w.name}`, onclick: () => confirmDelete(`Delete webhook ${w.name}?`, 'Its receiver is told nothing more, and its executions are deleted.', `/v3/webhooks/${w.uid}`, `Webhook ${w.name} deleted`) }, 'Delete'))))
  return h('div', {}, hooks.length ? list : h('p', { class: 'hint' }, 'No webhooks yet.'), form)
}

async function executionsDialog (w) {
  const body = h('div', { 'aria-live': 'polite' })
  const load = async () => {
    let ex = []
    try { ex = (await api('GET', `/v3/webhooks/${w.uid}/executions`)).webhooks } catch (err) { fill(body, alertBox(err.message)); return }
    if (!ex.length) { fill(body, h('p', { class: 'hint' }, 'Nothing sent yet.')); return }
    fill(body, h('ul', { class: 'settings-list', 'aria-label': 'Executions' }, ex.map((e) => {
      const last = e.request_details[e.request_details.length - 1]
      const answer = last ? (last.response.status ? `HTTP ${last.response.status}` : last.response.body) : 'not sent yet'
      return h('li', {},
        h('span', { class: 'name' }, `${e.channel[0]} \u00b7 ${e.status}`),
        h('span', { class: 'hint' }, `${e.attempts} attempt${e.attempts === 1 ? '' : 's'} \u00b7 ${answer} \u00b7 ${date(e.created_at)}`),
        h('button', { class: 'btn', type: 'button', 'aria-label': `Retry execution ${e.uid}`, onclick: async () => {
          try { await api('POST', `/v3/webhooks/${w.uid}/retry`, { body: { execution_uid: e.uid } }); setTimeout(load, 500) } catch (err) { fill(body, alertBox(err.message)) }
        } }, 'Retry'))
    })))
  }
  dialog(`Executions of ${w.name}`, [body], 'Refresh', async () => { await load(); return false }, () => {}).open()
  await load()
}

function confirmDelete (title, text, path, done) {
  const errorSlot = h('div')
  dialog(title, [h('p', {}, text), errorSlot], 'Delete', async () => {
    try { await api('DELETE', path); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => openSettings(done), { danger: true }).open()
}

// The order of the list (the server sorts, §6): by name, newest first, or largest first.
const SORTS = { name: ['asc', 'title'], newest: ['desc', 'updated_at'], largest: ['desc', 'file_size'] }
function sortControl () {
  const select = h('select', { id: 'sort', 'aria-label': 'Sort by' },
    h('option', { value: 'name' }, 'Name'), h('option', { value: 'newest' }, 'Newest'), h('option', { value: 'largest' }, 'Largest'))
  select.value = state.sort
  select.addEventListener('change', () => { state.sort = select.value; store.setItem('perma.sort', state.sort); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Sort '), select)
}

// Filters by kind of file (a content-type pattern, §6 `$regex`).
const TYPES = {
  image: { label: 'Images', pattern: '^image/' },
  video: { label: 'Videos', pattern: '^video/' },
  audio: { label: 'Audio', pattern: '^audio/' },
  pdf: { label: 'PDF', pattern: '^application/pdf' },
  text: { label: 'Text', pattern: '^text/' },
}
function typeControl () {
  const select = h('select', { id: 'type-filter', 'aria-label': 'Show' }, h('option', { value: '' }, 'All types'),
    Object.entries(TYPES).map(([k, t]) => h('option', { value: k }, t.label)))
  select.value = state.type
  select.addEventListener('change', () => { state.type = select.value; remember(); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Show '), select)
}

function setView (v) {
  state.view = v
  store.setItem('perma.view', v)
  renderLibrary()
}

// §11 renditions: images perma can decode are shown as small WebP renditions, so a library
// of large photos opens quickly; anything else as it is.
const RENDERABLE = ['image/jpeg', 'image/png', 'image/gif', 'image/webp']
function rendition (a, url, params) {
  return RENDERABLE.includes((a.content_type || '').toLowerCase()) ? `${url}?${params}` : url
}
const THUMB = 'width=240&height=240&fit=crop&disable=upscale&format=webp&quality=70'
const PREVIEW = 'width=720&disable=upscale&format=webp&quality=80'

function itemRow (a) {
  if (a.is_dir) {
    return h('li', {}, h('button', { class: 'item', type: 'button', 'aria-label': `Open folder ${a.name}`, onclick: () => state.search ? openFoundFolder(a.uid) : goFolder(a.uid, state.crumbs.length, a.name) },
      h('span', { class: 'thumb' }, icon('folder')), h('span', { class: 'name' }, a.name), h('span', { class: 'meta' }, 'Folder'), h('span', { class: 'meta' }, date(a.updated_at))))
  }
  // Only files whose image header perma could read (they have dimensions) get a thumbnail:
  // a file that merely claims to be an image would answer its rendition with a 422.
  const isImage = (a.content_type || '').startsWith('image/') && a.content_type !== 'image/svg+xml' && Boolean(a.dimension)
  const thumb = h('span', { class: 'thumb' }, isImage ? h('img', { src: rendition(a, a.url, THUMB), alt: '', loading: 'lazy', onerror: (e) => e.target.replaceWith(ext(a.filename) || icon('file')) }) : ext(a.filename) || icon('file'))
  const pick = h('input', { type: 'checkbox', class: 'pick', 'aria-label': `Select ${a.title}` })
  pick.checked = state.picked.has(a.uid)
  pick.addEventListener('change', () => {
    if (pick.checked) state.picked.add(a.uid)
    else state.picked.delete(a.uid)
    renderSelectionBar()
  })
  return h('li', { class: 'file' }, pick, h('button', { class: 'item', type: 'button', 'data-uid': a.uid, 'aria-pressed': String(state.selected === a.uid), 'aria-label': a.title, onclick: () => selectAsset(a.uid) },
    thumb, h('span', { class: 'name' }, a.title, (a.tags || []).length ? h('span', { class: 'tags' }, a.tags.map((t) => h('span', { class: 'tag' }, t))) : null,
      state.search ? h('span', { class: 'where' }, `in ${a.parent_uid ? (state.paths && state.paths[a.parent_uid]) || 'a folder' : 'All assets'}`) : null),
    h('span', { class: 'meta' }, size(a.file_size)), h('span', { class: 'meta' }, date(a.updated_at))))
}

function goFolder (uid, index, name) {
  state.search = ''
  if (uid === null) state.crumbs = []
  else if (name !== undefined) state.crumbs = [...state.crumbs, { uid, name }]
  else state.crumbs = state.crumbs.slice(0, index + 1)
  state.folder = uid
  state.folders = null
  state.paths = null
  remember()
  loadItems()
}

// A folder found by a search: opened with its breadcrumbs.
async function openFoundFolder (uid) {
  state.search = ''
  state.folder = uid
  try { state.crumbs = await ancestry(uid) } catch { state.crumbs = [] }
  remember()
  loadItems()
}

// ---------- uploads ----------
function renderUploads () {
  let box = document.getElementById('uploads')
  if (!state.uploads.length) { if (box) box.remove(); return }
  if (!box) { box = h('section', { class: 'uploads', id: 'uploads', 'aria-label': 'Uploads' }); document.body.append(box) }
  const done = state.uploads.every((u) => u.status !== 'uploading')
  fill(box,
    h('h2', {}, done ? 'Uploads finished' : 'Uploading…'),
    h('ul', {}, state.uploads.map((u) => h('li', {},
      h('div', { class: 'row' }, h('span', { class: 'name' }, u.name), h('span', {}, u.status === 'error' ? 'Failed' : u.status === 'done' ? 'Done' : `${Math.round(u.progress * 100)}%`)),
      h('progress', { max: '100', value: String(Math.round(u.progress * 100)), 'aria-label': `Uploading ${u.name}` }),
      u.error ? h('p', { class: 'error', role: 'alert' }, `${u.name}: ${u.error}`) : null))),
    done ? h('button', { class: 'btn', type: 'button', onclick: () => { state.uploads = []; renderUploads() } }, 'Dismiss') : null)
}

async function uploadFiles (files) {
  if (!files.length) return
  const fields = state.folder ? { 'asset[parent_uid]': state.folder } : {}
  const jobs = files.map((f) => ({ name: f.name, progress: 0, status: 'uploading', file: f }))
  state.uploads.push(...jobs)
  renderUploads()
  await Promise.all(jobs.map(async (job) => {
    try {
      await sendFile('POST', '/v3/assets', job.file, fields, (p) => { job.progress = p; renderUploads() })
      job.progress = 1
      job.status = 'done'
    } catch (err) {
      job.status = 'error'
      job.error = err.message
    }
    renderUploads()
  }))
  await loadItems()
}

// ---------- folders ----------
function newFolder () {
  const input = h('input', { id: 'folder-name', name: 'name', required: true, maxlength: 255 })
  const errorSlot = h('div')
  const dlg = dialog('New folder', [
    h('div', { class: 'field' }, h('label', { for: 'folder-name' }, 'Folder name'), input),
    errorSlot,
  ], 'Create folder', async () => {
    try {
      await api('POST', '/v3/assets/folders', { body: { asset: { name: input.value, parent_uid: state.folder } } })
      return true
    } catch (err) {
      fill(errorSlot, alertBox(err.message))
      return false
    }
  }, () => loadItems())
  dlg.open()
}

// A modal <dialog>: focus moves in, Escape closes, focus returns to the opener.
function dialog (title, body, confirmLabel, onConfirm, onDone, opts = {}) {
  const opener = document.activeElement
  const id = `dlg-${Math.random().toString(36).slice(2)}`
  const confirm = h('button', { class: `btn ${opts.danger ? 'danger' : 'primary'}`, type: 'submit' }, confirmLabel)
  const form = h('form', { method: 'dialog' }, h('h2', { id }, title), body, h('div', { class: 'dialog-actions' }, h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'), confirm))
  const dlg = h('dialog', { 'aria-labelledby': id }, form)
  let ok = false
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    if (opts.validate && !opts.validate()) return
    confirm.disabled = true
    ok = await onConfirm()
    confirm.disabled = false
    if (ok) dlg.close()
  })
  dlg.addEventListener('close', () => {
    dlg.remove()
    if (opener && opener.isConnected) opener.focus()
    if (ok && onDone) onDone()
  })
  document.body.append(dlg)
  return { el: dlg, confirm, open: () => { dlg.showModal(); (opts.focus || dlg.querySelector('input, select, textarea, button[type=submit]')).focus() } }
}

// ---------- asset panel ----------
// Details typed into the panel survive an expired session: kept in this tab until the
// panel of the same asset is shown again.
function keepDraft () {
  const t = document.getElementById('f-title')
  if (!t || !state.selected) return
  const draft = { uid: state.selected, title: t.value, description: document.getElementById('f-desc').value, tags: document.getElementById('f-tags').value }
  window.sessionStorage.setItem('perma.draft', JSON.stringify(draft))
}

function takeDraft (uid) {
  const draft = JSON.parse(window.sessionStorage.getItem('perma.draft') || 'null')
  if (!draft || draft.uid !== uid) return null
  window.sessionStorage.removeItem('perma.draft')
  return draft
}

// Opens an asset's panel (Enter or a click on its row) and moves focus into it.
async function selectAsset (uid) {
  state.selected = uid
  remember()
  document.querySelectorAll('.items button.item[aria-pressed]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.uid === uid)))
  await renderPanel()
  document.getElementById('panel')?.focus()
}

// Closes the panel (its Close button or Escape); focus goes back to the asset's row.
function closePanel () {
  const uid = state.selected
  state.selected = null
  remember()
  removePanel()
  renderLibrary()
  if (uid) document.querySelector(`.items button.item[data-uid="${uid}"]`)?.focus()
}

function removePanel () {
  document.getElementById('panel')?.remove()
  document.getElementById('workspace')?.classList.remove('with-panel')
}

async function renderPanel (notice) {
  const ws = document.getElementById('workspace')
  let panel = document.getElementById('panel')
  if (!panel) {
    panel = h('aside', { class: 'panel', id: 'panel', role: 'region', 'aria-label': 'Asset details', tabindex: '-1' })
    ws.append(panel)
    ws.classList.add('with-panel')
  }
  let a, versions
  try {
    [a, versions] = await Promise.all([
      api('GET', `/v3/assets/${state.selected}`, { query: { include_dimension: 'true', include_publish_details: 'true' } }).then((r) => r.asset),
      api('GET', `/v3/assets/${state.selected}/versions`).then((r) => r.versions),
      loadTargets(),
    ])
  } catch (err) {
    fill(panel, h('header', {}, h('h2', {}, 'Asset'), h('button', { class: 'btn', type: 'button', onclick: closePanel }, 'Close')), alertBox(err.message))
    return
  }
  const rel = (u) => { try { const x = new URL(u); return x.pathname + x.search } catch { return u } }
  const isImage = a.content_type.startsWith('image/') && a.content_type !== 'image/svg+xml' && Boolean(a.dimension)
  const kind = a.content_type.toLowerCase()
  const preview = h('div', { class: 'preview' },
    isImage ? h('img', { src: rendition(a, rel(a.url), PREVIEW), alt: `Preview of ${a.title}` })
      // SVG as an image: its scripts never run there (and the file itself is served sandboxed).
      : kind === 'image/svg+xml' ? h('img', { src: rel(a.url), alt: `Preview of ${a.title}` })
        : kind.startsWith('video/') ? h('video', { src: rel(a.url), controls: true, preload: 'metadata', 'aria-label': `Preview of ${a.title}` })
          : kind.startsWith('audio/') ? h('audio', { src: rel(a.url), controls: true, preload: 'metadata', 'aria-label': `Preview of ${a.title}` })
            : kind === 'application/pdf' ? h('a', { href: a.url, target: '_blank', rel: 'noopener', class: 'btn' }, icon('file'), ' Open the PDF')
              : h('span', {}, icon('file'), h('span', { class: 'sr-only' }, `No preview for ${a.content_type}`)))

  const draft = takeDraft(a.uid)
  if (draft && !notice) notice = 'Your unsaved changes were kept; save them when ready.'
  const title = h('input', { id: 'f-title', value: draft ? draft.title : a.title })
  const desc = h('textarea', { id: 'f-desc' }, draft ? draft.description : a.description || '')
  const tags = h('input', { id: 'f-tags', value: draft ? draft.tags : (a.tags || []).join(', ') })
  const metaError = h('div')
  const meta = h('form', { 'aria-label': 'Edit details' },
    h('div', { class: 'field' }, h('label', { for: 'f-title' }, 'Title'), title),
    h('div', { class: 'field' }, h('label', { for: 'f-desc' }, 'Description'), desc),
    h('div', { class: 'field' }, h('label', { for: 'f-tags' }, 'Tags'), tags, h('span', { class: 'hint' }, 'Separate tags with commas.')),
    metaError,
    h('button', { class: 'btn primary', type: 'submit' }, 'Save changes'))
  meta.addEventListener('submit', async (e) => {
    e.preventDefault()
    try {
      await api('PUT', `/v3/assets/${a.uid}`, { body: { asset: { title: title.value, description: desc.value, tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) } } })
      await renderPanel('Changes saved')
      loadItems()
    } catch (err) { fill(metaError, alertBox(err.message)) }
  })

  const dims = a.dimension ? `${a.dimension.width} \u00d7 ${a.dimension.height} px` : '\u2014'
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'File name'), h('dd', {}, a.filename),
    h('dt', {}, 'Type'), h('dd', {}, a.content_type),
    h('dt', {}, 'Size'), h('dd', {}, size(a.file_size)),
    h('dt', {}, 'Dimensions'), h('dd', {}, dims),
    h('dt', {}, 'Version'), h('dd', {}, String(a._version)))

  const permanent = a.permanent_url
    ? h('div', { class: 'permanent' },
      h('h3', {}, 'Permanent URL'),
      h('div', { class: 'urlbox' }, h('code', { id: 'permanent-url' }, a.permanent_url), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy permanent URL', onclick: () => copy(a.permanent_url, 'Permanent URL') }, 'Copy')),
      h('p', { class: 'note' }, 'Always serves the current file. It can never be changed.'))
    : h('div', {}, h('button', { class: 'btn primary', type: 'button', onclick: () => generateDialog(a) }, 'Generate permanent URL'),
      h('p', { class: 'hint' }, 'A link that keeps working, and always shows the current file, however often it is replaced.'))

  const replaceInput = h('input', { type: 'file', hidden: true, 'aria-hidden': 'true', tabindex: '-1' })
  const actionError = h('div')
  const progress = h('div', { class: 'replace-progress' })
  replaceInput.addEventListener('change', async () => {
    const f = replaceInput.files[0]
    if (!f) return
    // While the file goes up: a progress bar, and no second change to the asset.
    const busy = [...panel.querySelectorAll('.actions button, .permanent button, form button[type=submit]')]
    busy.forEach((b) => { b.disabled = true })
    const bar = h('progress', { max: '1', value: '0', 'aria-label': `Replacing with ${f.name}` })
    fill(progress, bar)
    fill(actionError)
    try {
      await sendFile('PUT', `/v3/assets/${a.uid}`, f, {}, (p) => { bar.value = p })
      await renderPanel(a.permanent_url ? 'File replaced. The permanent URL is unchanged and now serves the new file; the version URL is new.' : 'File replaced. The version URL is new.')
      loadItems()
    } catch (err) {
      fill(progress)
      busy.forEach((b) => { b.disabled = false })
      fill(actionError, alertBox(err.message))
    }
  })

  const versionList = h('ol', { class: 'versions', 'aria-label': 'Version history' }, versions.map((v) => h('li', {},
    h('span', {}, `Version ${v._version} \u00b7 ${v.action.replace('_', ' ')} \u00b7 ${date(v.created_at)}${v.file_size ? ` \u00b7 ${size(v.file_size)}` : ''}${v._version_name ? ` \u00b7 \u201c${v._version_name}\u201d` : ''} `),
    v.url ? h('a', { href: v.url, target: '_blank', rel: 'noopener', 'aria-label': `Open version ${v._version}` }, v.filename) : null,
    v._version === a._version ? h('span', { class: 'hint' }, ' (current)') : h('button', { class: 'btn small', type: 'button', 'aria-label': `Restore version ${v._version}`, onclick: () => restoreDialog(a, v) }, 'Restore'))))

  fill(panel,
    h('header', {}, h('h2', { id: 'panel-title' }, a.title), h('button', { class: 'btn', type: 'button', onclick: closePanel }, 'Close')),
    notice ? h('p', { role: 'status', class: 'hint', id: 'panel-notice' }, notice) : null,
    preview,
    facts,
    h('div', { class: 'section' }, h('h3', {}, 'Version URL'),
      h('div', { class: 'urlbox' }, h('code', { id: 'version-url' }, a.url), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy version URL', onclick: () => copy(a.url, 'Version URL') }, 'Copy')),
      h('p', { class: 'hint' }, 'Serves exactly this file forever; a replace makes a new one.')),
    h('div', { class: 'section' }, permanent),
    h('div', { class: 'section' }, signedLink(a)),
    h('div', { class: 'section' }, meta),
    h('div', { class: 'section' }, h('h3', {}, 'Actions'), actionError, progress,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => replaceInput.click() }, 'Replace file'), replaceInput,
        h('button', { class: 'btn', type: 'button', onclick: () => moveDialog([a.uid], `\u201c${a.title}\u201d`) }, 'Move'),
        h('button', { class: 'btn', type: 'button', onclick: () => publishDialog(a) }, 'Publish'),
        h('button', { class: 'btn danger', type: 'button', onclick: () => deleteDialog(a) }, 'Delete'))),
    h('div', { class: 'section' }, h('h3', {}, 'Publishing'), publishedList(a)),
    h('div', { class: 'section' }, h('h3', {}, 'Versions'), versionList))
  if (notice) panel.focus()
}

// A signed link that expires (§13): opens the file even on a secured stack.
function signedLink (a) {
  const expiry = h('select', { id: 'signed-expiry', 'aria-label': 'Signed link expires in' },
    h('option', { value: '3600' }, '1 hour'), h('option', { value: '86400' }, '1 day'), h('option', { value: '604800' }, '7 days'))
  const out = h('div', { 'aria-live': 'polite' })
  const button = h('button', { class: 'btn', type: 'button', onclick: async () => {
    try {
      const res = await api('POST', `/v3/assets/${a.uid}/signed_url`, { body: { expires_in: Number(expiry.value), url_kind: a.permanent_url ? 'permanent' : 'version' } })
      fill(out, h('div', { class: 'urlbox' }, h('code', { id: 'signed-url' }, res.signed_url)), h('p', { class: 'hint' }, `Expires ${date(res.expires_at)}.`))
      await copy(res.signed_url, 'Signed link')
    } catch (err) { fill(out, alertBox(err.message)) }
  } }, 'Copy signed link')
  return h('div', {}, h('h3', {}, 'Signed link'),
    h('div', { class: 'inline' }, expiry, button),
    h('p', { class: 'hint' }, 'A link that stops working when it expires; changing any character of it breaks it.'),
    out)
}

function generateDialog (a) {
  const base = `${(a.url.match(/^https?:\/\/[^/]+/) || [location.origin])[0]}/v3/assets/${state.apiKey}/${a.uid}/`
  const slug = h('input', { id: 'slug', name: 'slug', value: suggestSlug(a.filename), autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'slug-counter slug-problem' })
  const counter = h('p', { class: 'counter', id: 'slug-counter', 'aria-live': 'polite' })
  const problem = h('p', { class: 'error', id: 'slug-problem', 'aria-live': 'polite' })
  const previewUrl = h('p', { class: 'preview-url', id: 'slug-preview' })
  const serverError = h('div')
  const update = () => {
    const n = [...slug.value].length
    counter.textContent = `${n} / ${SLUG_MAX}`
    counter.classList.toggle('over', n > SLUG_MAX)
    const p = slugProblem(slug.value)
    problem.textContent = p || ''
    slug.setAttribute('aria-invalid', p ? 'true' : 'false')
    previewUrl.textContent = base + slug.value
    d.confirm.disabled = Boolean(p)
  }
  const d = dialog('Generate permanent URL', [
    h('p', { class: 'warning', role: 'note' }, h('strong', {}, 'This can be done only once. '), 'The permanent URL can be generated only once and can never be changed afterwards. It will always serve the current file of this asset.'),
    h('div', { class: 'field' }, h('label', { for: 'slug' }, 'Slug'), slug, counter, problem),
    h('p', { class: 'hint' }, 'Preview of the permanent URL:'),
    previewUrl,
    serverError,
  ], 'Save', async () => {
    try {
      await api('PUT', `/v3/assets/${a.uid}`, { body: { asset: { permanent_url: base + slug.value } } })
      return true
    } catch (err) {
      const conflict = err.status === 422 && /already set/.test(err.message)
      stale = stale || conflict
      fill(serverError, alertBox(conflict
        ? 'This asset already has a permanent URL (it was generated elsewhere meanwhile), so it cannot be changed. Close this dialog to see it.'
        : err.message))
      return false
    }
  }, () => renderPanel('Permanent URL generated'), { focus: slug, validate: () => !slugProblem(slug.value) })
  // After a conflict the panel shows what the server has now, once the dialog closes.
  let stale = false
  d.el.addEventListener('close', () => { if (stale) renderPanel('This asset already had a permanent URL, generated elsewhere meanwhile.') })
  slug.addEventListener('input', update)
  update()
  d.open()
}

// Where the asset is published: environment, locale, version, with Unpublish for each.
function publishedList (a) {
  const pubs = a.publish_details || []
  if (!pubs.length) return h('p', { class: 'hint', id: 'publish-status' }, 'Not published anywhere.')
  return h('ul', { class: 'settings-list', id: 'publish-status', 'aria-label': 'Published to' }, pubs.map((p) => {
    const name = p.environment_name || p.environment
    return h('li', {},
      h('span', { class: 'name' }, `${name} · ${p.locale}`),
      h('span', { class: 'hint' }, `version ${p.version}${p.version === a._version ? '' : ' (not the current one)'} · ${date(p.time)}`),
      h('button', { class: 'btn', type: 'button', 'aria-label': `Unpublish from ${name} ${p.locale}`, onclick: () => unpublish(a, name, p.locale) }, 'Unpublish'))
  }))
}

async function unpublish (a, env, locale) {
  try {
    await api('POST', `/v3/assets/${a.uid}/unpublish`, { body: { asset: { environments: [env], locales: [locale] } } })
    await renderPanel(`Unpublished from ${env}`)
  } catch (err) { toast(err.message) }
}

function publishDialog (a) {
  const errorSlot = h('div')
  if (!state.environments.length) return noEnvironments('Publish')
  const t = targetFields('pub')
  const d = dialog('Publish', [
    ...t.fields,
    h('p', { class: 'hint' }, `Publishes version ${a._version}, the current one.`),
    errorSlot,
  ], 'Publish', async () => {
    try {
      await api('POST', `/v3/assets/${a.uid}/publish`, { body: { asset: { environments: [t.env.value], locales: [t.locale.value] }, version: a._version } })
      return true
    } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => renderPanel(`Published to ${t.env.value}`))
  d.open()
}

// Restoring makes the chosen version's file and details the current ones, as a new version
// (§5); the permanent URL then serves that file.
function restoreDialog (a, v) {
  const errorSlot = h('div')
  const d = dialog(`Restore version ${v._version}?`, [
    h('p', {}, `Version ${v._version}${v.filename ? ` (${v.filename})` : ''} becomes the current file and details of \u201c${a.title}\u201d, as a new version. Every version stays in the history.`),
    errorSlot,
  ], 'Restore', async () => {
    try { await api('PUT', `/v3/assets/${a.uid}`, { body: { version: v._version } }); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => { renderPanel(`Version ${v._version} restored as the current version`); loadItems() })
  d.open()
}

function deleteDialog (a) {
  const errorSlot = h('div')
  const d = dialog('Delete asset?', [
    h('p', {}, `\u201c${a.title}\u201d will be deleted. Its version URLs${a.permanent_url ? ' and its permanent URL' : ''} will stop working.`),
    errorSlot,
  ], 'Delete asset', async () => {
    try { await api('DELETE', `/v3/assets/${a.uid}`); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => { toast('Asset deleted'); closePanel(); loadItems() }, { danger: true })
  d.open()
}

// ---------- keyboard ----------
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && state.selected && document.getElementById('panel') && !document.querySelector('dialog[open]')) {
    e.preventDefault()
    closePanel()
    return
  }
  if (e.key !== 'a' && e.key !== 'A') return
  if (e.ctrlKey || e.metaKey || e.altKey) return
  const t = e.target
  if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return
  if (document.querySelector('dialog[open]')) return
  if (!state.session) return
  const key = state.apiKey || store.getItem('perma.last_api_key')
  if (!key) return
  e.preventDefault()
  const focusSearch = () => { const s = document.getElementById('search'); if (s) s.focus() }
  if (state.apiKey) openLibrary().then(focusSearch)
  else openStack(key).then(focusSearch)
})

// ---------- start ----------
route()
