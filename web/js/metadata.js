// Asset metadata in the panel: the fields of the one extension chosen in the stack's
// settings (alt text, for example), saved without a new version of the asset, and
// published to where the asset is published, so that websites read them.

import { api } from './api.js'
import { alertBox, fill, h } from './dom.js'
import { state } from './state.js'

// The metadata's own bookkeeping, never shown as a field.
const RESERVED = new Set(['uid', 'entity_uid', 'type', 'extension_uid', 'locale', '_content_type_uid', 'scope', '_version', 'is_published', 'publish_details', 'created_by', 'updated_by', 'created_at', 'updated_at', 'deleted_at', 'api_key'])

// The fields to edit: what the extension's config names (`fields` or `field`), then any
// other text field the metadata already has; `alt` when nothing names one.
function fieldsOf (extension, md) {
  const config = extension.config || {}
  const named = Array.isArray(config.fields) ? config.fields : config.field ? [config.field] : []
  const present = Object.entries(md || {}).filter(([k, v]) => !RESERVED.has(k) && typeof v === 'string').map(([k]) => k)
  const all = [...new Set([...named, ...present].filter((f) => typeof f === 'string' && f))]
  return all.length ? all : ['alt']
}

// The panel's metadata section for asset `a`, or null when the stack has chosen no
// extension. `refresh(notice)` shows the panel again after a change.
export async function metadataSection (a, refresh) {
  const ext = state.stack && state.stack.settings && state.stack.settings.metadata_extension
  if (!ext) return null
  const master = state.stack.master_locale || 'en-us'
  let extension, md
  try {
    [extension, md] = await Promise.all([
      api('GET', `/v3/extensions/${encodeURIComponent(ext)}`).then((r) => r.extension),
      api('GET', '/v3/metadata', { query: { entity_uid: a.uid, extension_uid: ext } })
        .then((r) => r.metadata.find((m) => m.locale === master) || null),
    ])
  } catch (err) {
    return h('div', { class: 'section' }, h('h3', {}, 'Metadata'), alertBox(err.message))
  }
  const fields = fieldsOf(extension, md)
  const inputs = fields.map((f, i) => {
    const id = `md-${i}`
    const input = h('textarea', { id, name: f, rows: '2', maxlength: '4000' }, md && typeof md[f] === 'string' ? md[f] : '')
    return { f, input, row: h('div', { class: 'field' }, h('label', { for: id }, fields.length === 1 ? extension.title : f), input) }
  })
  const errorSlot = h('div')
  const form = h('form', { 'aria-label': `Edit ${extension.title}` },
    ...inputs.map((x) => x.row),
    errorSlot,
    h('button', { class: 'btn primary', type: 'submit' }, `Save ${extension.title}`))
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const body = {}
    for (const { f, input } of inputs) body[f] = input.value
    try {
      if (md) {
        await api('PUT', `/v3/metadata/${md.uid}`, { body: { metadata: body } })
      } else {
        await api('POST', '/v3/metadata', { body: { metadata: { ...body, entity_uid: a.uid, type: 'asset', extension_uid: ext, locale: master } } })
      }
      await refresh(`${extension.title} saved`)
    } catch (err) { fill(errorSlot, alertBox(err.message)) }
  })
  return h('div', { class: 'section' }, h('h3', {}, extension.title), form, publishState(a, md, extension, refresh))
}

// Where the metadata is published, and a button that publishes it where the asset is.
function publishState (a, md, extension, refresh) {
  if (!md) return h('p', { class: 'hint' }, 'Saved without a new version of the asset.')
  const name = (env) => (state.environments.find((e) => e.uid === env || e.name === env) || { name: env }).name
  const where = (md.publish_details || []).map((p) => `${name(p.environment)} \u00b7 ${p.locale}`)
  const targets = a.publish_details || []
  const out = h('div', { 'aria-live': 'polite' })
  const publish = targets.length
    ? h('button', { class: 'btn', type: 'button', onclick: async () => {
      const environments = [...new Set(targets.map((p) => p.environment_name || p.environment))]
      const locales = [...new Set(targets.map((p) => p.locale))]
      try {
        await api('POST', `/v3/metadata/${md.uid}/publish`, { body: { metadata: { environments, locales } } })
        await refresh(`${extension.title} published to ${environments.join(', ')}`)
      } catch (err) { fill(out, alertBox(err.message)) }
    } }, `Publish ${extension.title}`)
    : null
  return h('div', {},
    h('p', { class: 'hint', id: 'metadata-status' }, where.length
      ? `Published to ${where.join(', ')}. A change is read by websites once published again.`
      : targets.length ? 'Not published yet: websites read it once it is published.' : 'Websites read it once the asset and it are published.'),
    publish, out)
}
