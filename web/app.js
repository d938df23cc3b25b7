// perma web UI (§7). Plain ES modules, no build step; talks to the same /v3 API as the SDKs.
// Modules in js/, imported one way only (tests/integration/layering.rs): state and dom at
// the bottom; the API client (api) and the address (nav); the shell and what the views
// share (assets, metadata); the views (panel, then library, settings and trash); the router on
// top. A view asks for navigation or announces a change with an event (nav.js), never by
// importing a module above it.

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
