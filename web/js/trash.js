// The trash (§15): what was deleted, how long it stays, restore or remove it for good.

import { api } from './api.js'
import { alertBox, date, dialog, fill, h, icon, size } from './dom.js'
import { remember } from './nav.js'
import { markNav, renderShell } from './shell.js'
import { may, state } from './state.js'

export async function openTrash (notice, lateError) {
  state.page = 'trash'
  state.selected = null
  remember()
  if (!document.getElementById('workspace')) renderShell()
  markNav('trash')
  document.getElementById('page-title').textContent = 'Trash'
  const ws = document.getElementById('workspace')
  ws.classList.remove('with-panel')
  let res = { trash: [], count: 0, retention_days: 14 }
  let error = null
  try { res = await api('GET', '/v3/trash', { query: { include_count: 'true' } }) } catch (err) { error = err.message }
  if (state.page !== 'trash') return
  const items = res.trash.map((a) => {
    const name = a.is_dir ? a.name : a.title
    const what = a.is_dir ? `Folder \u00b7 ${a.items} item${a.items === 1 ? '' : 's'} inside` : `${a.content_type} \u00b7 ${size(Number(a.file_size))}`
    return h('li', {},
      icon(a.is_dir ? 'folder' : 'file'),
      h('span', { class: 'what' },
        h('span', { class: 'name' }, name),
        h('span', { class: 'hint' }, `${what} \u00b7 deleted ${date(a.deleted_at)} \u00b7 ${a.days_left} day${a.days_left === 1 ? '' : 's'} left`)),
      may('delete') ? h('button', { class: 'btn', type: 'button', 'aria-label': `Restore ${name}`, onclick: () => restore(a, name) }, 'Restore') : null,
      may('administration') ? h('button', { class: 'btn danger', type: 'button', 'aria-label': `Delete ${name} for good`, onclick: () => removeDialog(`Delete \u201c${name}\u201d for good?`, a.is_dir ? 'The folder and everything in it can no longer be restored.' : 'It can no longer be restored. Its URLs keep answering that it was deleted.', `/v3/trash/${a.uid}`, `\u201c${name}\u201d deleted for good`) }, 'Delete for good') : null)
  })
  const emptyAll = res.count && may('administration')
    ? h('button', { class: 'btn danger', type: 'button', onclick: () => removeDialog('Empty the trash?', `All ${res.count} item${res.count === 1 ? '' : 's'} in the trash will be deleted for good.`, '/v3/trash', 'The trash was emptied') }, 'Empty trash')
    : null
  fill(ws, h('section', { class: 'settings', 'aria-labelledby': 'page-title' },
    notice ? h('p', { role: 'status', class: 'hint', id: 'trash-notice' }, notice) : null,
    error || lateError ? alertBox(error || lateError) : null,
    h('div', { class: 'card' },
      h('p', { class: 'hint' }, `Deleted assets and folders stay here for ${res.retention_days} days, then they are deleted for good. Restoring brings an asset back with its versions and permanent URL, unpublished.`),
      res.trash.length ? h('ul', { class: 'settings-list trash-list', 'aria-label': 'Deleted items' }, items) : h('p', { class: 'hint' }, 'The trash is empty.'),
      emptyAll)))
}

async function restore (a, name) {
  try {
    const res = await api('POST', `/v3/trash/${a.uid}/restore`)
    await openTrash(res.moved_to_root ? `\u201c${name}\u201d restored into the root: its folder is no longer there.` : `\u201c${name}\u201d restored`)
  } catch (err) { openTrash(null, err.message) }
}

function removeDialog (title, text, path, done) {
  const errorSlot = h('div')
  dialog(title, [h('p', {}, text), errorSlot], 'Delete for good', async () => {
    try { await api('DELETE', path); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => openTrash(done), { danger: true }).open()
}
