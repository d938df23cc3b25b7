// The asset library: listing (§6 on the server), folders, search, filters, uploads, bulk work.

import { api, sendFile } from './api.js'
import { PAGE, SORTS, allFolders, loadTargets, moveDialog, noEnvironments, rendition, subtree, targetFields, targetProblem } from './assets.js'
import { alertBox, date, dialog, ext, fill, h, icon, size, toast } from './dom.js'
import { ancestry, remember } from './nav.js'
import { closePanel, renderPanel, selectAsset } from './panel.js'
import { RESUMABLE_FROM, discard, startResumable, unfinished } from './resumable.js'
import { markNav, renderShell } from './shell.js'
import { may, readsAll, state, store } from './state.js'

// Another view changed assets (nav.js `changed`): list them again, or draw the list again,
// and the open panel with its notice.
window.addEventListener('perma:changed', (e) => {
  const { reload, notice } = e.detail
  if (notice && state.selected) renderPanel(notice)
  if (reload) loadItems()
  else renderLibrary()
})

export async function openLibrary () {
  state.page = 'library'
  remember()
  showLibraryChrome()
  await loadItems()
  if (state.selected) await renderPanel()
}

export function showLibraryChrome () {
  if (!document.getElementById('library')) renderShell()
  document.getElementById('page-title').textContent = 'Assets'
  markNav('assets')
  // Uploads a reloaded page left unfinished (§16).
  renderUploads()
}


let loads = 0

export async function loadItems (append = false, problem = null) {
  const lib = document.getElementById('library')
  if (!lib) return
  const skip = append ? state.items.length : 0
  const [dir, field, ignoreCase] = SORTS[state.sort] || SORTS.name
  const query = { include_folders: 'true', include_dimension: 'true', relative_urls: 'true', [dir]: field, limit: String(PAGE), skip: String(skip) }
  if (ignoreCase) query.ignore_case = 'true'
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
  } else if (!state.usage) {
    query.folder = state.folder || 'cs_root'
  }
  if (state.type) all.push({ content_type: { $regex: TYPES[state.type].pattern } })
  if (state.since) all.push({ updated_at: { $gte: new Date(Date.now() - SINCE[state.since].days * 86400000).toISOString() } })
  if (state.tag) all.push({ tags: state.tag })
  // §17: the stack's most requested assets of the last 30 days (in that order), or those
  // not requested in them, in every folder; at most the first 100 of either.
  let order = null
  if (state.usage) {
    try {
      const got = await api('GET', USAGE[state.usage].path, { query: { limit: '100', ...USAGE[state.usage].query } })
      order = got.assets.map((a) => a.uid)
    } catch (err) { problem = problem || err.message; order = [] }
    all.push({ uid: { $in: order } })
  }
  if (all.length) query.query = JSON.stringify(all.length === 1 ? all[0] : { $and: all })

  let error = null
  // Only the newest request draws (an older one may answer last after a quick change).
  const seq = ++loads
  try {
    const res = await api('GET', '/v3/assets', { query })
    if (seq !== loads || state.page !== 'library') return
    if (order && state.usage === 'requested') res.assets.sort((a, b) => order.indexOf(a.uid) - order.indexOf(b.uid))
    state.items = append ? state.items.concat(res.assets) : res.assets
    state.total = typeof res.count === 'number' ? res.count : null
    state.more = state.total === null ? res.assets.length === PAGE : state.items.length < state.total
  } catch (err) {
    if (seq !== loads) return
    error = err.message
    if (!append) state.items = []
    state.more = false
  }
  renderLibrary(error || problem)
  if (append) document.getElementById('load-more')?.focus()
}

export function renderLibrary (error) {
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
    may('create') ? h('button', { class: 'btn', type: 'button', onclick: newFolder }, 'New folder') : null,
    state.folder && !state.search && may('update') ? h('button', { class: 'btn', type: 'button', onclick: renameFolderDialog }, 'Rename folder') : null,
    state.folder && !state.search && may('delete') ? h('button', { class: 'btn danger', type: 'button', onclick: deleteFolderDialog }, 'Delete folder') : null,
    may('create') ? h('button', { class: 'btn primary', type: 'button', onclick: () => picker.click() }, 'Upload') : null,
    picker)
  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Filter and sort' }, typeControl(), sinceControl(), usageControl(), tagControl(), sortControl())
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
  fill(lib, toolbar, filters, crumbs, h('div', { id: 'selection-bar' }), error ? alertBox(error) : null, drop)
  renderSelectionBar()
}

// ---------- bulk actions ----------
// Ticked assets can be published in one bulk job (§5); its progress is polled and shown.
export function renderSelectionBar () {
  const bar = document.getElementById('selection-bar')
  if (!bar) return
  const n = state.picked.size
  if (!n) { fill(bar); bar.className = ''; return }
  bar.className = 'selection'
  fill(bar,
    h('span', { role: 'status' }, `${n} selected`),
    may('publish') ? h('button', { class: 'btn primary', type: 'button', onclick: () => bulkDialog('publish') }, 'Publish selected') : null,
    may('update') ? h('button', { class: 'btn', type: 'button', onclick: () => tagSelectedDialog([...state.picked]) }, 'Tag selected') : null,
    may('publish') ? h('button', { class: 'btn', type: 'button', onclick: () => bulkDialog('unpublish') }, 'Unpublish selected') : null,
    may('update') ? h('button', { class: 'btn', type: 'button', onclick: () => moveDialog([...state.picked], `${n} assets`) }, 'Move selected') : null,
    may('delete') ? h('button', { class: 'btn danger', type: 'button', onclick: () => deleteSelectedDialog([...state.picked]) }, 'Delete selected') : null,
    h('button', { class: 'btn', type: 'button', onclick: () => { state.picked.clear(); renderLibrary() } }, 'Clear selection'))
}





// Adds tags to every ticked asset (keeping the tags each has).
export function tagSelectedDialog (uids) {
  const input = h('input', { id: 'bulk-tags', required: true })
  const errorSlot = h('div')
  const d = dialog(`Tag ${uids.length} assets`, [
    h('div', { class: 'field' }, h('label', { for: 'bulk-tags' }, 'Tags to add'), input, h('span', { class: 'hint' }, 'Separate tags with commas.')),
    errorSlot,
  ], 'Add tags', async () => {
    const add = input.value.split(',').map((t) => t.trim()).filter(Boolean)
    if (!add.length) { fill(errorSlot, alertBox('Type at least one tag.')); return false }
    const failed = []
    for (const uid of uids) {
      const have = (state.items.find((a) => a.uid === uid) || {}).tags || []
      const tags = [...new Set([...have, ...add])]
      try { await api('PUT', `/v3/assets/${uid}`, { body: { asset: { tags } } }) } catch (err) { failed.push(err.message) }
    }
    if (failed.length) { fill(errorSlot, alertBox(`${failed.length} could not be tagged: ${failed[0]}`)); return false }
    return true
  }, () => { state.picked.clear(); toast(`${uids.length} assets tagged`); loadItems() }, { focus: input })
  d.open()
}

export function deleteSelectedDialog (uids) {
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
export function renameFolderDialog () {
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

export function deleteFolderDialog () {
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





export async function bulkDialog (action) {
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
      const problem = targetProblem(t)
      if (problem) { fill(errorSlot, alertBox(problem)); return false }
      const res = await api('POST', `/v3/bulk/${action}`, { body: { assets: uids.map((uid) => ({ uid })), environments: t.envs(), locales: t.locales() } })
      job = res.job_id
      return true
    } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => followJob(job, action, t.envs().join(', ')))
  d.open()
}

// Shows a bulk job's progress until it is done, then the result per asset.
export async function followJob (jobId, action, env) {
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


export function sortControl () {
  const select = h('select', { id: 'sort', 'aria-label': 'Sort by' },
    h('option', { value: 'name' }, 'Name'), h('option', { value: 'newest' }, 'Newest'), h('option', { value: 'largest' }, 'Largest'))
  select.value = state.sort
  select.addEventListener('change', () => { state.sort = select.value; store.setItem('perma.sort', state.sort); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Sort '), select)
}

// Filters by kind of file (a content-type pattern, §6 `$regex`).
export const TYPES = {
  image: { label: 'Images', pattern: '^image/' },
  video: { label: 'Videos', pattern: '^video/' },
  audio: { label: 'Audio', pattern: '^audio/' },
  pdf: { label: 'PDF', pattern: '^application/pdf' },
  text: { label: 'Text', pattern: '^text/' },
}

// Filters by when an asset last changed, and by one tag.
export const SINCE = { week: { label: 'Last 7 days', days: 7 }, month: { label: 'Last 30 days', days: 30 }, year: { label: 'Last 365 days', days: 365 } }
export function sinceControl () {
  const select = h('select', { id: 'since-filter', 'aria-label': 'Changed' }, h('option', { value: '' }, 'Any time'),
    Object.entries(SINCE).map(([k, t]) => h('option', { value: k }, t.label)))
  select.value = state.since
  select.addEventListener('change', () => { state.since = select.value; remember(); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Changed '), select)
}

// Filters by link insights (§17): requested in the last 30 days (most first), not
// requested in them, or never requested since perma counts.
export const USAGE = {
  requested: { label: 'Most requested, 30 days', path: '/v3/insights/top', query: {} },
  unrequested: { label: 'Not requested, 30 days', path: '/v3/insights/unused', query: {} },
  never: { label: 'Never requested', path: '/v3/insights/unused', query: { since: '1970-01-01' } },
}
export function usageControl () {
  if (!readsAll()) return null
  const select = h('select', { id: 'usage-filter', 'aria-label': 'Requested' }, h('option', { value: '' }, 'Any use'),
    Object.entries(USAGE).map(([k, t]) => h('option', { value: k }, t.label)))
  select.value = state.usage
  select.addEventListener('change', () => { state.usage = select.value; remember(); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Requested '), select)
}

export function tagControl () {
  const input = h('input', { id: 'tag-filter', type: 'search', 'aria-label': 'Tag', placeholder: 'Tag', value: state.tag, size: 8 })
  input.addEventListener('change', () => { state.tag = input.value.trim(); remember(); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Tag '), input)
}

export function typeControl () {
  const select = h('select', { id: 'type-filter', 'aria-label': 'Show' }, h('option', { value: '' }, 'All types'),
    Object.entries(TYPES).map(([k, t]) => h('option', { value: k }, t.label)))
  select.value = state.type
  select.addEventListener('change', () => { state.type = select.value; remember(); loadItems() })
  return h('label', { class: 'sort' }, h('span', { 'aria-hidden': 'true' }, 'Show '), select)
}

export function setView (v) {
  state.view = v
  store.setItem('perma.view', v)
  renderLibrary()
}



export const THUMB = 'width=240&height=240&fit=crop&disable=upscale&format=webp&quality=70'


export function itemRow (a) {
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
    thumb, h('span', { class: 'name', title: a.title }, a.title, (a.tags || []).length ? h('span', { class: 'tags' }, a.tags.map((t) => h('span', { class: 'tag' }, t))) : null,
      state.search ? h('span', { class: 'where' }, `in ${a.parent_uid ? (state.paths && state.paths[a.parent_uid]) || 'a folder' : 'All assets'}`) : null),
    h('span', { class: 'meta' }, size(a.file_size)), h('span', { class: 'meta' }, date(a.updated_at))))
}

export function goFolder (uid, index, name) {
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
export async function openFoundFolder (uid) {
  state.search = ''
  state.folder = uid
  try { state.crumbs = await ancestry(uid) } catch { state.crumbs = [] }
  remember()
  loadItems()
}

// ---------- uploads ----------
const percent = (u) => `${Math.round(u.progress * 100)}%`
const STATUS = { error: () => 'Failed', done: () => 'Done', paused: (u) => `Paused at ${percent(u)}` }

function uploadRow (u) {
  const control = u.control && (u.status === 'uploading' || u.status === 'paused')
    ? h('button', {
      class: 'btn small', type: 'button',
      onclick: () => {
        if (u.status === 'paused') { u.status = 'uploading'; u.control.resume() } else { u.status = 'paused'; u.control.pause() }
        renderUploads()
      },
    }, u.status === 'paused' ? `Resume ${u.name}` : `Pause ${u.name}`)
    : null
  return h('li', {},
    h('div', { class: 'row' }, h('span', { class: 'name' }, u.name), h('span', {}, (STATUS[u.status] || percent)(u))),
    h('progress', { max: '100', value: String(Math.round(u.progress * 100)), 'aria-label': `Uploading ${u.name}` }),
    u.resumed ? h('p', { class: 'hint' }, 'Resumed where the server stopped.') : null,
    control,
    u.error ? h('p', { class: 'error', role: 'alert' }, `${u.name}: ${u.error}`) : null)
}

// Uploads a closed or reloaded page left unfinished: choose the file again to resume.
function leftOver () {
  const left = unfinished().filter((l) => !state.uploads.some((u) => u.name === l.name && u.status !== 'done'))
  if (!left.length) return null
  return h('div', { class: 'left-over' },
    h('h3', {}, 'Unfinished uploads'),
    h('ul', {}, left.map((l) => h('li', {},
      h('span', {}, `${l.name} (${size(l.size)}): choose the file again to resume.`),
      h('button', { class: 'btn small', type: 'button', onclick: async () => { await discard(l); renderUploads() } }, `Discard ${l.name}`)))))
}

export function renderUploads () {
  let box = document.getElementById('uploads')
  const left = leftOver()
  if (!state.uploads.length && !left) { if (box) box.remove(); return }
  if (!box) { box = h('section', { class: 'uploads', id: 'uploads', 'aria-label': 'Uploads' }); document.body.append(box) }
  const done = state.uploads.every((u) => u.status === 'done' || u.status === 'error')
  fill(box,
    state.uploads.length ? h('h2', {}, done ? 'Uploads finished' : 'Uploading…') : null,
    h('ul', {}, state.uploads.map(uploadRow)),
    left,
    done && state.uploads.length ? h('button', { class: 'btn', type: 'button', onclick: () => { state.uploads = []; renderUploads() } }, 'Dismiss') : null)
}

// One file: in one request, or resumably (§16) from RESUMABLE_FROM up.
async function sendOne (job, parent) {
  if (job.file.size < RESUMABLE_FROM) {
    const fields = parent ? { 'asset[parent_uid]': parent } : {}
    await sendFile('POST', '/v3/assets', job.file, fields, (p) => { job.progress = p; renderUploads() })
    return
  }
  job.control = startResumable(job.file, {
    onProgress: (p) => { job.progress = p; renderUploads() },
    onResumed: () => { job.resumed = true; renderUploads() },
  })
  const uploadUid = await job.control.done
  await api('POST', '/v3/assets', { body: { asset: { upload_uid: uploadUid, parent_uid: parent } } })
}

export async function uploadFiles (files) {
  if (!files.length) return
  const parent = state.folder
  const jobs = files.map((f) => ({ name: f.name, progress: 0, status: 'uploading', file: f }))
  state.uploads.push(...jobs)
  renderUploads()
  await Promise.all(jobs.map(async (job) => {
    try {
      await sendOne(job, parent)
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
export function newFolder () {
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
