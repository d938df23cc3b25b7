// Where the UI is: the address (History API) as a function of the state, and the events
// by which a view asks for navigation or says that assets changed, so that no view
// imports one above it (the router listens for `perma:navigate`, the library for
// `perma:changed`).

import { api } from './api.js'
import { state } from './state.js'

// The address names the view (§7): `/` (stacks), `/stacks/{api_key}` with `?folder=`,
// `?q=` and `?asset=`, and `/stacks/{api_key}/settings`. Each navigation records one
// (History API), so a view can be linked to, reloaded, and left and found again with Back
// and Forward; `route()` draws whatever the address says.
export function addressOf () {
  if (!state.apiKey) return '/'
  const base = `/stacks/${encodeURIComponent(state.apiKey)}`
  if (state.page === 'settings') return `${base}/settings`
  if (state.page === 'trash') return `${base}/trash`
  if (state.page === 'links') return `${base}/links`
  const q = new URLSearchParams()
  if (state.folder) q.set('folder', state.folder)
  if (state.search) q.set('q', state.search)
  if (state.type) q.set('type', state.type)
  if (state.since) q.set('since', state.since)
  if (state.usage) q.set('usage', state.usage)
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

// Asks the router to show `to`: 'library', 'settings', 'trash', 'links', 'stacks' or
// 'logout'.
export function navigate (to) {
  window.dispatchEvent(new CustomEvent('perma:navigate', { detail: to }))
}

// Says that assets changed: the library lists them again (`reload`) or redraws what it
// has; with `notice`, the open asset panel is drawn again with that notice.
export function changed ({ reload = true, notice = null } = {}) {
  window.dispatchEvent(new CustomEvent('perma:changed', { detail: { reload, notice } }))
}
