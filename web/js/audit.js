// The stack's audit log (§14) as a settings card: newest first, filtered by kind, paged.

import { api } from './api.js'
import { alertBox, date, fill, h } from './dom.js'

const MODULES = ['', 'asset', 'folder', 'trash', 'metadata', 'role', 'member', 'management_token', 'delivery_token', 'environment', 'locale', 'webhook', 'extension', 'stack', 'user']
const PAGE = 25

// A card that loads its entries itself (so the rest of the settings page never waits).
export function auditCard () {
  const kind = h('select', { id: 'audit-module' },
    MODULES.map((m) => h('option', { value: m }, m ? m.replace('_', ' ') : 'everything')))
  const list = h('div', { 'aria-live': 'polite' })
  let skip = 0
  const load = async (more) => {
    if (!more) skip = 0
    let res
    try {
      res = await api('GET', '/v3/audit-logs', { query: { include_count: 'true', limit: String(PAGE), skip: String(skip), module: kind.value || undefined } })
    } catch (err) { fill(list, alertBox(err.message)); return }
    skip += res.logs.length
    const rows = res.logs.map((l) => h('li', {},
      h('span', { class: 'name' }, `${l.module.replace('_', ' ')} ${l.event_type.replace('_', ' ')}${l.metadata.title ? ` \u201c${l.metadata.title}\u201d` : ''}`),
      h('span', { class: 'hint' }, `${l.actor.name} \u00b7 ${date(l.created_at)}${l.remote_addr ? ` \u00b7 ${l.remote_addr}` : ''}`)))
    const ul = more && list.querySelector('ul') ? list.querySelector('ul') : h('ul', { class: 'settings-list', id: 'audit-list', 'aria-label': 'Audit log' })
    ul.append(...rows)
    const next = skip < res.count ? h('button', { class: 'btn', type: 'button', onclick: () => load(true) }, 'Older changes') : null
    fill(list, h('p', { class: 'hint' }, `${res.count} change${res.count === 1 ? '' : 's'}`), res.count ? ul : null, next)
  }
  kind.addEventListener('change', () => load(false))
  load(false)
  return h('div', { class: 'card' }, h('h2', {}, 'Audit log'),
    h('p', { class: 'hint' }, 'Every change to this stack: who, what, when and from where. Entries cannot be changed or deleted.'),
    h('div', { class: 'field' }, h('label', { for: 'audit-module' }, 'Show changes of'), kind), list)
}
