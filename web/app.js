// perma web UI (§7). Plain ES modules, no build step; talks to the same /v3 API as the SDKs.
// Modules by view in js/: router (addresses, login, stacks), library, panel, settings;
// and their helpers: dom, api, state.

import { openLibrary } from './js/library.js'
import { closePanel } from './js/panel.js'
import { openStack, route } from './js/router.js'
import { state, store } from './js/state.js'

window.addEventListener('popstate', () => { route() })

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
