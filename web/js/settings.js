// Settings: environments, delivery tokens, webhooks, the asset panel's metadata.

import { api } from './api.js'
import { auditCard } from './audit.js'
import { alertBox, copy, date, dialog, fill, h } from './dom.js'
import { remember } from './nav.js'
import { markNav, renderShell } from './shell.js'
import { may, state } from './state.js'

// ---------- settings: environments and delivery tokens ----------
export async function openSettings (notice, secret, lateError) {
  state.page = 'settings'
  remember()
  if (!document.getElementById('workspace')) renderShell()
  markNav('settings')
  document.getElementById('page-title').textContent = 'Settings'
  const ws = document.getElementById('workspace')
  ws.classList.remove('with-panel')
  let envs = []
  let tokens = []
  let hooks = []
  let extensions = []
  let error = null
  try {
    [envs, tokens, hooks, extensions] = await Promise.all([
      api('GET', '/v3/environments').then((r) => r.environments),
      api('GET', '/v3/stacks/delivery_tokens').then((r) => r.tokens),
      api('GET', '/v3/webhooks').then((r) => r.webhooks),
      api('GET', '/v3/extensions').then((r) => r.extensions),
    ])
  } catch (err) { error = err.message }
  // The author may have gone elsewhere (Back, another view) while this loaded.
  if (state.page !== 'settings') return
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
      hookSecretBox, hooksCard),
    h('div', { class: 'card' }, h('h2', {}, 'Asset metadata'),
      h('p', { class: 'hint' }, 'Metadata such as alt text belongs to an extension; the asset panel shows and edits the one chosen here, without a new version of the asset.'),
      metadataCard(extensions)),
    may('audit_log') ? auditCard() : null))
}

// ---------- settings: the extension whose metadata the asset panel edits ----------
async function chooseExtension (uid, notice) {
  try {
    const res = await api('POST', '/v3/stacks/settings', { body: { stack_settings: { metadata_extension: uid || null } } })
    if (state.stack) state.stack.settings = { ...(state.stack.settings || {}), ...res.stack_settings }
    openSettings(notice)
  } catch (err) { openSettings(null, null, err.message) }
}

function metadataCard (extensions) {
  const chosen = (state.stack && state.stack.settings && state.stack.settings.metadata_extension) || ''
  const select = h('select', { id: 'md-extension' },
    h('option', { value: '' }, 'None'),
    extensions.map((e) => h('option', { value: e.uid, selected: e.uid === chosen }, e.title)))
  const form = h('form', { 'aria-label': 'Choose the metadata the asset panel edits', class: 'inline' },
    h('div', { class: 'field' }, h('label', { for: 'md-extension' }, 'Shown in the asset panel'), select),
    h('button', { class: 'btn primary', type: 'submit' }, 'Save'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const title = select.selectedOptions[0].textContent
    chooseExtension(select.value, select.value ? `The asset panel edits ${title}` : 'The asset panel edits no metadata')
  })
  const add = h('button', { class: 'btn', type: 'button', onclick: async () => {
    try {
      const res = await api('POST', '/v3/extensions', { body: { extension: { title: 'Alt text', type: 'asset_sidebar_widget', srcdoc: '<p>Alt text, edited in the asset panel.</p>', config: { field: 'alt' } } } })
      await chooseExtension(res.extension.uid, 'Alt text extension added; the asset panel edits it')
    } catch (err) { openSettings(null, null, err.message) }
  } }, 'Add an alt text extension')
  return h('div', {}, form, extensions.some((e) => e.title === 'Alt text') ? null : add)
}

// ---------- settings: webhooks and their executions (§13) ----------
export const HOOK_CHANNELS = [
  ['assets.create', 'Asset created'],
  ['assets.update', 'Asset updated'],
  ['assets.replace', 'File replaced'],
  ['assets.permanent_url.create', 'Permanent URL generated'],
  ['assets.delete', 'Asset deleted'],
  ['assets.environments.*.publish.success', 'Published (any environment)'],
  ['assets.environments.*.unpublish.success', 'Unpublished (any environment)'],
]

export function webhooksCard (hooks) {
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

export async function executionsDialog (w) {
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

export function confirmDelete (title, text, path, done) {
  const errorSlot = h('div')
  dialog(title, [h('p', {}, text), errorSlot], 'Delete', async () => {
    try { await api('DELETE', path); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => openSettings(done), { danger: true }).open()
}
