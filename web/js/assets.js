// What the library and the asset panel both do with assets: list constants, previews
// (§11 renditions), publishing targets, and moving assets between folders.

import { api } from './api.js'
import { alertBox, dialog, fill, h, icon, toast } from './dom.js'
import { ancestry, changed } from './nav.js'
import { state } from './state.js'

// Pages of 100 (§5 limit), fetched as the author asks for more: the server filters, sorts
// and counts (§6), so a library of a million assets costs the same as one of a hundred.
export const PAGE = 100

// A folder and every folder below it (a search in a folder looks through all of them).
export function subtree (uid) {
  const out = [uid]
  for (let i = 0; i < out.length; i++) {
    for (const f of state.folders || []) if (f.parent === out[i]) out.push(f.uid)
  }
  return out
}

// Every folder of the stack with its path (`Brand / Logos`), for choosing where to move.
export async function allFolders () {
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
export function moveDialog (uids, what) {
  const picker = folderPicker(new Set(uids))
  const errorSlot = h('div')
  const d = dialog(`Move ${what}`, [picker.el, errorSlot], 'Move', async () => {
    const to = picker.chosen()
    const failed = []
    for (const uid of uids) {
      try { await api('PUT', `/v3/assets/${uid}`, { body: { asset: { parent_uid: to } } }) } catch (err) { failed.push(err.message) }
    }
    if (failed.length) { fill(errorSlot, alertBox(`${failed.length} could not be moved: ${failed[0]}`)); return false }
    return true
  }, () => {
    state.picked.clear()
    toast(uids.length === 1 ? 'Moved' : `${uids.length} assets moved`)
    changed({ reload: true, notice: 'Moved' })
  }, { focus: picker.find })
  d.open()
  picker.load()
}

// Chooses a destination folder by browsing down from the top level (a page of folders at
// a time) or by finding folders by name; the server lists and matches (§6), so choosing
// costs the same with thousands of folders as with ten. `skip`: folders not offered (those
// being moved).
export function folderPicker (skip = new Set()) {
  let path = [] // [{ uid, name }] from the top level down to the destination
  let shown = []
  let more = false
  let term = ''
  let seq = 0
  const where = h('nav', { class: 'picker-where', 'aria-label': 'Destination folder' })
  const find = h('input', { id: 'move-find', type: 'search', autocomplete: 'off', placeholder: 'Find a folder by name' })
  const list = h('ul', { class: 'picker-list', 'aria-label': 'Folders', 'aria-live': 'polite' })
  const moreSlot = h('div')
  const el = h('div', { class: 'picker' },
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Destination'), where),
    h('div', { class: 'field' }, h('label', { for: 'move-find' }, 'Find a folder'), find),
    list, moreSlot)

  async function load (append = false) {
    const mine = ++seq
    const [dir, field] = SORTS.name
    const query = { include_folders: 'true', [dir]: field, ignore_case: 'true', limit: String(PAGE), skip: String(append ? shown.length : 0) }
    if (term) {
      const re = { $regex: term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' }
      query.query = JSON.stringify({ $and: [{ is_dir: true }, { $or: [{ title: re }, { name: re }] }] })
    } else {
      query.query = JSON.stringify({ is_dir: true })
      query.folder = path.length ? path[path.length - 1].uid : 'cs_root'
    }
    let res
    try { res = await api('GET', '/v3/assets', { query }) } catch (err) {
      if (mine === seq) fill(list, h('li', {}, alertBox(err.message)))
      return
    }
    if (mine !== seq) return
    shown = append ? shown.concat(res.assets) : res.assets
    more = res.assets.length === PAGE
    draw()
  }

  function go (to) { path = to; term = ''; find.value = ''; load() }

  function draw () {
    const crumbs = [{ uid: null, name: 'All assets' }, ...path]
    fill(where, crumbs.map((c, i) => i === crumbs.length - 1
      ? h('span', { class: 'crumb', 'aria-current': 'location' }, c.name)
      : [h('button', { type: 'button', class: 'crumb link', onclick: () => go(path.slice(0, i)) }, c.name), h('span', { class: 'sep', 'aria-hidden': 'true' }, ' / ')]))
    const offered = shown.filter((f) => !skip.has(f.uid))
    fill(list, offered.length
      ? offered.map((f) => h('li', {}, h('button', {
        type: 'button',
        class: 'picker-folder',
        'aria-label': `Choose folder ${f.name}`,
        onclick: async () => {
          if (!term) return go(path.concat({ uid: f.uid, name: f.name }))
          try { go(await ancestry(f.uid)) } catch (err) { toast(err.message) }
        },
      }, icon('folder'), h('span', {}, f.name))))
      : h('li', { class: 'hint' }, term ? 'No folder matches.' : 'No folders in here.'))
    fill(moreSlot, more ? h('button', { type: 'button', class: 'btn', onclick: () => load(true) }, 'More folders') : null)
  }

  let timer
  find.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(() => { term = find.value.trim(); load() }, 250)
  })
  // Enter looks for the folder at once; it does not submit the move.
  find.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return
    e.preventDefault()
    clearTimeout(timer)
    term = find.value.trim()
    load()
  })
  return { el, find, load, chosen: () => path.length ? path[path.length - 1].uid : null }
}

export async function loadTargets () {
  const [envs, locales] = await Promise.all([
    api('GET', '/v3/environments').then((r) => r.environments),
    api('GET', '/v3/locales').then((r) => r.locales),
  ])
  state.environments = envs
  state.locales = locales
}

// Where to publish: any number of environments and locales (the master locale, and a
// stack's only environment, ticked to begin with).
export function targetFields (prefix) {
  const master = state.stack ? state.stack.master_locale : 'en-us'
  const box = (group, value, label, checked) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: `${prefix}-${group}`, value, checked }), ` ${label}`)
  const envSet = h('fieldset', { class: 'targets' }, h('legend', {}, 'Environments'),
    state.environments.map((e) => box('env', e.name, e.name, state.environments.length === 1)))
  const localeSet = h('fieldset', { class: 'targets' }, h('legend', {}, 'Locales'),
    state.locales.map((l) => box('locale', l.code, `${l.name} (${l.code})`, l.code === master)))
  const ticked = (set) => [...set.querySelectorAll('input:checked')].map((i) => i.value)
  return { envs: () => ticked(envSet), locales: () => ticked(localeSet), fields: [envSet, localeSet] }
}

// The targets' problem in words, if any.
export function targetProblem (t) {
  if (!t.envs().length) return 'Tick at least one environment.'
  if (!t.locales().length) return 'Tick at least one locale.'
  return null
}

export function noEnvironments (title) {
  dialog(title, [h('p', {}, 'This stack has no environments yet. Create one under Settings first.')], 'OK', async () => true).open()
}

// The order of the list (the server sorts, §6): by name (folders first, then files, each
// without regard to case), newest first, or largest first.
export const SORTS = { name: ['asc', 'title', true], newest: ['desc', 'updated_at'], largest: ['desc', 'file_size'] }

// §11 renditions: images perma can decode are shown as small WebP renditions, so a library
// of large photos opens quickly; anything else as it is.
export const RENDERABLE = ['image/jpeg', 'image/png', 'image/gif', 'image/webp']

export function rendition (a, url, params) {
  return RENDERABLE.includes((a.content_type || '').toLowerCase()) ? `${url}?${params}` : url
}

export const PREVIEW = 'width=720&disable=upscale&format=webp&quality=80'
