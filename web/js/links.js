// The stack's links (§17): dead links (trashed, deleted or unpublished assets that pages
// still ask for, with those pages and what to link instead), the most requested assets,
// and those nobody requested in the last 30 days.

import { api } from './api.js'
import { alertBox, date, fill, h } from './dom.js'
import { navigate, remember } from './nav.js'
import { markNav, renderShell } from './shell.js'
import { state } from './state.js'

const STATES = { trashed: 'In the trash', deleted: 'Deleted for good', live: 'Not published where it was asked for, or restored since' }
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`
/** Unused assets listed; past this the view says "more than" (a count would walk the whole stack). */
const UNUSED_SHOWN = 20

// A link that opens the asset's panel in the library.
function assetLink (uid, title) {
  const href = `/stacks/${encodeURIComponent(state.apiKey)}?asset=${encodeURIComponent(uid)}`
  return h('a', { href, onclick: (e) => { e.preventDefault(); state.selected = uid; navigate('library') } }, title || uid)
}

const pageLink = (p) => p.page
  ? h('a', { href: p.page, target: '_blank', rel: 'noopener noreferrer nofollow' }, p.page)
  : h('span', { class: 'hint' }, 'Other pages')

export async function openLinks () {
  state.page = 'links'
  state.selected = null
  remember()
  if (!document.getElementById('workspace')) renderShell()
  markNav('links')
  document.getElementById('page-title').textContent = 'Links'
  const ws = document.getElementById('workspace')
  ws.classList.remove('with-panel')
  let dead, top, unused
  let error = null
  try {
    [dead, top, unused] = await Promise.all([
      api('GET', '/v3/insights/dead_links', { query: { limit: '50' } }),
      api('GET', '/v3/insights/top', { query: { limit: '10' } }),
      api('GET', '/v3/insights/unused', { query: { limit: String(UNUSED_SHOWN + 1) } }),
    ])
  } catch (err) { error = err.message }
  if (state.page !== 'links') return
  if (error) return fill(ws, h('section', { class: 'settings', 'aria-labelledby': 'page-title' }, alertBox(error)))
  const deadItems = dead.dead_links.map((d) => h('li', {},
    h('strong', {}, d.title || d.asset_uid), ' ',
    h('span', { class: 'hint' }, `${STATES[d.state] || d.state} \u00b7 ${plural(d.requests, 'request')} \u00b7 last ${date(d.last_requested_at)}`),
    d.link_instead ? h('p', {}, 'Link instead: ', h('a', { href: d.link_instead, target: '_blank', rel: 'noopener' }, d.link_instead)) : null,
    d.pages.length ? h('ul', { class: 'pages', 'aria-label': `Pages asking for ${d.title || d.asset_uid}` }, d.pages.map((p) => h('li', {}, pageLink(p), h('span', { class: 'hint' }, ` ${plural(p.requests, 'request')}`)))) : null))
  const topItems = top.assets.map((t) => h('li', {}, assetLink(t.uid, t.title), h('span', { class: 'hint' }, ` ${plural(t.requests, 'request')}`)))
  const more = unused.assets.length > UNUSED_SHOWN
  const unusedItems = unused.assets.slice(0, UNUSED_SHOWN).map((u) => h('li', {}, assetLink(u.uid, u.title), h('span', { class: 'hint' }, ` added ${date(u.created_at)}`)))
  fill(ws, h('section', { class: 'settings', 'aria-labelledby': 'page-title' },
    h('div', { class: 'card' },
      h('h2', {}, 'Dead links'),
      h('p', { class: 'hint' }, 'Assets pages still ask for, although they are in the trash, deleted, or not published there (last 30 days).'),
      deadItems.length ? h('ul', { class: 'links-list', id: 'dead-links', 'aria-label': 'Dead links' }, deadItems) : h('p', { class: 'hint' }, 'No dead links.')),
    h('div', { class: 'card' },
      h('h2', {}, 'Most requested'),
      topItems.length ? h('ol', { class: 'links-list', id: 'most-requested', 'aria-label': 'Most requested assets' }, topItems) : h('p', { class: 'hint' }, 'Nothing was requested in the last 30 days.')),
    h('div', { class: 'card' },
      h('h2', {}, 'Not requested in 30 days'),
      h('p', { class: 'hint' }, `${more ? `More than ${UNUSED_SHOWN} assets` : plural(unusedItems.length, 'asset')} nobody asked for: candidates to clean up.`),
      unusedItems.length ? h('ul', { class: 'links-list', id: 'unused', 'aria-label': 'Assets not requested' }, unusedItems) : null)))
}
