// The asset panel: details, URLs, permanent URL (§3), versions, publishing.

import { api, sendFile } from './api.js'
import { RESUMABLE_FROM, startResumable } from './resumable.js'
import { SLUG_MAX, alertBox, copy, date, dialog, fill, h, icon, size, slugProblem, suggestSlug, toast } from './dom.js'
import { PREVIEW, RENDERABLE, loadTargets, moveDialog, noEnvironments, rendition, targetFields, targetProblem } from './assets.js'
import { usageSection } from './insights.js'
import { metadataSection } from './metadata.js'
import { changed, remember } from './nav.js'
import { may, state } from './state.js'

// ---------- asset panel ----------
// Details typed into the panel survive an expired session: kept in this tab until the
// panel of the same asset is shown again.
export function keepDraft () {
  const t = document.getElementById('f-title')
  if (!t || !state.selected) return
  const draft = { uid: state.selected, title: t.value, description: document.getElementById('f-desc').value, tags: document.getElementById('f-tags').value }
  window.sessionStorage.setItem('perma.draft', JSON.stringify(draft))
}

export function takeDraft (uid) {
  const draft = JSON.parse(window.sessionStorage.getItem('perma.draft') || 'null')
  if (!draft || draft.uid !== uid) return null
  window.sessionStorage.removeItem('perma.draft')
  return draft
}

// Opens an asset's panel (Enter or a click on its row) and moves focus into it.
export async function selectAsset (uid) {
  state.selected = uid
  remember()
  document.querySelectorAll('.items button.item[aria-pressed]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.uid === uid)))
  await renderPanel()
  document.getElementById('panel')?.focus()
}

// Closes the panel (its Close button or Escape); focus goes back to the asset's row.
export function closePanel () {
  const uid = state.selected
  state.selected = null
  remember()
  removePanel()
  changed({ reload: false })
  if (uid) document.querySelector(`.items button.item[data-uid="${uid}"]`)?.focus()
}

export function removePanel () {
  document.getElementById('panel')?.remove()
  document.getElementById('workspace')?.classList.remove('with-panel')
}

// How the panel's history names audit log events.
const EVENTS = { create: 'Uploaded', replace: 'Replaced', update: 'Changed', restore: 'Version restored', trashed: 'Deleted (to the trash)', restored: 'Restored from the trash', purged: 'Deleted for good', publish: 'Published', unpublish: 'Unpublished' }

export async function renderPanel (notice) {
  const ws = document.getElementById('workspace')
  let panel = document.getElementById('panel')
  if (!panel) {
    panel = h('aside', { class: 'panel', id: 'panel', role: 'region', 'aria-label': 'Asset details', tabindex: '-1' })
    ws.append(panel)
    ws.classList.add('with-panel')
  }
  let a, versions, logs
  const uid = state.selected
  try {
    [a, versions, logs] = await Promise.all([
      api('GET', `/v3/assets/${uid}`, { query: { include_dimension: 'true', include_publish_details: 'true' } }).then((r) => r.asset),
      api('GET', `/v3/assets/${uid}/versions`).then((r) => r.versions),
      // Who changed it (§14 audit log); an older server without one shows none.
      api('GET', '/v3/audit-logs', { query: { uid, limit: '10' } }).then((r) => r.logs, () => []),
      loadTargets(),
    ])
  } catch (err) {
    if (state.selected !== uid) return
    fill(panel, h('header', {}, h('h2', {}, 'Asset'), h('button', { class: 'btn', type: 'button', onclick: closePanel }, 'Close')), alertBox(err.message))
    return
  }
  const described = await metadataSection(a, renderPanel)
  // Another asset (or none) was chosen while this one loaded, or the panel was closed.
  if (state.selected !== uid || !panel.isConnected) return
  const rel = (u) => { try { const x = new URL(u); return x.pathname + x.search } catch { return u } }
  const isImage = a.content_type.startsWith('image/') && a.content_type !== 'image/svg+xml' && Boolean(a.dimension)
  const kind = a.content_type.toLowerCase()
  const preview = h('div', { class: 'preview' },
    isImage ? h('img', { src: rendition(a, rel(a.url), PREVIEW), alt: `Preview of ${a.title}` })
      // SVG as an image: its scripts never run there (and the file itself is served sandboxed).
      : kind === 'image/svg+xml' ? h('img', { src: rel(a.url), alt: `Preview of ${a.title}` })
        : kind.startsWith('video/') ? h('video', { src: rel(a.url), controls: true, preload: 'metadata', 'aria-label': `Preview of ${a.title}` })
          : kind.startsWith('audio/') ? h('audio', { src: rel(a.url), controls: true, preload: 'metadata', 'aria-label': `Preview of ${a.title}` })
            : kind === 'application/pdf' ? h('a', { href: a.url, target: '_blank', rel: 'noopener', class: 'btn' }, icon('file'), ' Open the PDF')
              : h('span', {}, icon('file'), h('span', { class: 'sr-only' }, `No preview for ${a.content_type}`)))

  const draft = takeDraft(a.uid)
  if (draft && !notice) notice = 'Your unsaved changes were kept; save them when ready.'
  const title = h('input', { id: 'f-title', value: draft ? draft.title : a.title })
  const desc = h('textarea', { id: 'f-desc' }, draft ? draft.description : a.description || '')
  const tags = h('input', { id: 'f-tags', value: draft ? draft.tags : (a.tags || []).join(', ') })
  const metaError = h('div')
  const meta = h('form', { 'aria-label': 'Edit details' },
    h('div', { class: 'field' }, h('label', { for: 'f-title' }, 'Title'), title),
    h('div', { class: 'field' }, h('label', { for: 'f-desc' }, 'Description'), desc),
    h('div', { class: 'field' }, h('label', { for: 'f-tags' }, 'Tags'), tags, h('span', { class: 'hint' }, 'Separate tags with commas.')),
    metaError,
    may('update') ? h('button', { class: 'btn primary', type: 'submit' }, 'Save changes') : null)
  meta.addEventListener('submit', async (e) => {
    e.preventDefault()
    try {
      await api('PUT', `/v3/assets/${a.uid}`, { body: { asset: { title: title.value, description: desc.value, tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean) } } })
      await renderPanel('Changes saved')
      changed()
    } catch (err) { fill(metaError, alertBox(err.message)) }
  })

  const dims = a.dimension ? `${a.dimension.width} \u00d7 ${a.dimension.height} px` : '\u2014'
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, 'File name'), h('dd', {}, a.filename),
    h('dt', {}, 'Type'), h('dd', {}, a.content_type),
    h('dt', {}, 'Size'), h('dd', {}, size(a.file_size)),
    h('dt', {}, 'Dimensions'), h('dd', {}, dims),
    h('dt', {}, 'Version'), h('dd', {}, String(a._version)))

  const permanent = a.permanent_url
    ? h('div', { class: 'permanent' },
      h('h3', {}, 'Permanent URL'),
      h('div', { class: 'urlbox' }, h('code', { id: 'permanent-url' }, a.permanent_url), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy permanent URL', onclick: () => copy(a.permanent_url, 'Permanent URL') }, 'Copy')),
      h('p', { class: 'note' }, 'Always serves the current file. It can never be changed.'))
    : !may('update') ? h('p', { class: 'hint' }, 'No permanent URL yet.')
    : h('div', {}, h('button', { class: 'btn primary', type: 'button', onclick: () => generateDialog(a) }, 'Generate permanent URL'),
      h('p', { class: 'hint' }, 'A link that keeps working, and always shows the current file, however often it is replaced.'))

  const replaceInput = h('input', { type: 'file', hidden: true, 'aria-hidden': 'true', tabindex: '-1' })
  const actionError = h('div')
  const progress = h('div', { class: 'replace-progress' })
  replaceInput.addEventListener('change', async () => {
    const f = replaceInput.files[0]
    if (!f) return
    // While the file goes up: a progress bar, and no second change to the asset.
    const busy = [...panel.querySelectorAll('.actions button, .permanent button, form button[type=submit]')]
    busy.forEach((b) => { b.disabled = true })
    const bar = h('progress', { max: '1', value: '0', 'aria-label': `Replacing with ${f.name}` })
    fill(progress, bar)
    fill(actionError)
    try {
      if (f.size < RESUMABLE_FROM) {
        await sendFile('PUT', `/v3/assets/${a.uid}`, f, {}, (p) => { bar.value = p })
      } else {
        const uploadUid = await startResumable(f, { onProgress: (p) => { bar.value = p } }).done
        await api('PUT', `/v3/assets/${a.uid}`, { body: { asset: { upload_uid: uploadUid } } })
      }
      await renderPanel(a.permanent_url ? 'File replaced. The permanent URL is unchanged and now serves the new file; the version URL is new.' : 'File replaced. The version URL is new.')
      changed()
    } catch (err) {
      fill(progress)
      busy.forEach((b) => { b.disabled = false })
      fill(actionError, alertBox(err.message))
    }
  })

  const history = logs.length
    ? h('ol', { class: 'versions', id: 'history', 'aria-label': 'Who changed this asset' }, logs.map((l) => h('li', {},
      h('span', {}, `${EVENTS[l.event_type] || l.event_type.replace('_', ' ')} by ${l.actor.name} \u00b7 ${date(l.created_at)}`))))
    : h('p', { class: 'hint' }, 'No recorded changes.')

  // Image versions show a small rendition of their own file, so they can be told apart.
  const versionThumb = (v) => isImage && v.url && RENDERABLE.includes((v.content_type || kind).toLowerCase()) ? h('img', { class: 'vthumb', src: `${rel(v.url)}?width=48&height=48&fit=crop&format=webp&quality=60`, alt: '', loading: 'lazy' }) : null
  const versionList = h('ol', { class: 'versions', 'aria-label': 'Version history' }, versions.map((v) => h('li', {}, versionThumb(v),
    h('span', {}, `Version ${v._version} \u00b7 ${v.action.replace('_', ' ')} \u00b7 ${date(v.created_at)}${v.file_size ? ` \u00b7 ${size(v.file_size)}` : ''}${v._version_name ? ` \u00b7 \u201c${v._version_name}\u201d` : ''} `),
    v.url ? h('a', { href: v.url, target: '_blank', rel: 'noopener', 'aria-label': `Open version ${v._version}` }, v.filename) : null,
    v._version === a._version ? h('span', { class: 'hint' }, ' (current)') : h('button', { class: 'btn small', type: 'button', 'aria-label': `Restore version ${v._version}`, onclick: () => restoreDialog(a, v) }, 'Restore'))))

  fill(panel,
    h('header', {}, h('h2', { id: 'panel-title' }, a.title), h('button', { class: 'btn', type: 'button', onclick: closePanel }, 'Close')),
    notice ? h('p', { role: 'status', class: 'hint', id: 'panel-notice' }, notice) : null,
    preview,
    facts,
    h('div', { class: 'section' }, h('h3', {}, 'Version URL'),
      h('div', { class: 'urlbox' }, h('code', { id: 'version-url' }, a.url), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy version URL', onclick: () => copy(a.url, 'Version URL') }, 'Copy')),
      h('p', { class: 'hint' }, 'Serves exactly this file forever; a replace makes a new one.')),
    a.integrity ? h('div', { class: 'section' }, h('h3', {}, 'Integrity'),
      h('div', { class: 'urlbox' }, h('code', { id: 'integrity' }, a.integrity), h('button', { class: 'btn', type: 'button', 'aria-label': 'Copy integrity value', onclick: () => copy(a.integrity, 'Integrity value') }, 'Copy')),
      h('p', { class: 'hint' }, 'For <script integrity> or <link integrity> with the version URL: browsers refuse a file that does not match.')) : null,
    h('div', { class: 'section' }, permanent),
    usageSection(a, () => state.selected === uid && panel.isConnected),
    h('div', { class: 'section' }, signedLink(a)),
    h('div', { class: 'section' }, meta),
    described,
    h('div', { class: 'section' }, h('h3', {}, 'Actions'), actionError, progress,
      h('div', { class: 'actions' },
        may('update') ? h('button', { class: 'btn', type: 'button', onclick: () => replaceInput.click() }, 'Replace file') : null, replaceInput,
        may('update') ? h('button', { class: 'btn', type: 'button', onclick: () => moveDialog([a.uid], `\u201c${a.title}\u201d`) }, 'Move') : null,
        may('publish') ? h('button', { class: 'btn', type: 'button', onclick: () => publishDialog(a) }, 'Publish') : null,
        may('delete') ? h('button', { class: 'btn danger', type: 'button', onclick: () => deleteDialog(a) }, 'Delete') : null)),
    h('div', { class: 'section' }, h('h3', {}, 'Publishing'), publishedList(a)),
    h('div', { class: 'section' }, h('h3', {}, 'Versions'), asOf(a), versionList),
    h('div', { class: 'section' }, h('h3', {}, 'History'), history))
  if (notice) panel.focus()
}

// "Open as of…": the permanent URL as it answered at a past moment (RFC 7089 `at=`).
export function asOf (a) {
  if (!a.permanent_url) return null
  const when = h('input', { type: 'datetime-local', id: 'as-of', step: '1', max: new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19) })
  const out = h('div', { 'aria-live': 'polite' })
  const open = h('button', { class: 'btn', type: 'button', onclick: () => {
    if (!when.value) { fill(out, alertBox('Choose a date and time first.')); return }
    // The input is local time; `at=` is UTC.
    const url = `${a.permanent_url}?at=${encodeURIComponent(new Date(when.value).toISOString())}`
    fill(out, h('div', { class: 'urlbox' }, h('code', { id: 'as-of-url' }, url)))
    window.open(url, '_blank', 'noopener')
  } }, 'Open as of\u2026')
  return h('div', {}, h('div', { class: 'inline' }, h('label', { for: 'as-of', class: 'sr-only' }, 'Date and time'), when, open),
    h('p', { class: 'hint' }, 'What the permanent URL served at that moment.'), out)
}

// A signed link that expires (§13): opens the file even on a secured stack.
export function signedLink (a) {
  const expiry = h('select', { id: 'signed-expiry', 'aria-label': 'Signed link expires in' },
    h('option', { value: '3600' }, '1 hour'), h('option', { value: '86400' }, '1 day'), h('option', { value: '604800' }, '7 days'))
  const out = h('div', { 'aria-live': 'polite' })
  const button = h('button', { class: 'btn', type: 'button', onclick: async () => {
    try {
      const res = await api('POST', `/v3/assets/${a.uid}/signed_url`, { body: { expires_in: Number(expiry.value), url_kind: a.permanent_url ? 'permanent' : 'version' } })
      fill(out, h('div', { class: 'urlbox' }, h('code', { id: 'signed-url' }, res.signed_url)), h('p', { class: 'hint' }, `Expires ${date(res.expires_at)}.`))
      await copy(res.signed_url, 'Signed link')
    } catch (err) { fill(out, alertBox(err.message)) }
  } }, 'Copy signed link')
  return h('div', {}, h('h3', {}, 'Signed link'),
    h('div', { class: 'inline' }, expiry, button),
    h('p', { class: 'hint' }, 'A link that stops working when it expires; changing any character of it breaks it.'),
    out)
}

export function generateDialog (a) {
  const base = `${(a.url.match(/^https?:\/\/[^/]+/) || [location.origin])[0]}/v3/assets/${state.apiKey}/${a.uid}/`
  const slug = h('input', { id: 'slug', name: 'slug', value: suggestSlug(a.filename), autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'slug-counter slug-problem' })
  const counter = h('p', { class: 'counter', id: 'slug-counter', 'aria-live': 'polite' })
  const problem = h('p', { class: 'error', id: 'slug-problem', 'aria-live': 'polite' })
  const previewUrl = h('p', { class: 'preview-url', id: 'slug-preview' })
  const serverError = h('div')
  const update = () => {
    const n = [...slug.value].length
    counter.textContent = `${n} / ${SLUG_MAX}`
    counter.classList.toggle('over', n > SLUG_MAX)
    const p = slugProblem(slug.value)
    problem.textContent = p || ''
    slug.setAttribute('aria-invalid', p ? 'true' : 'false')
    previewUrl.textContent = base + slug.value
    d.confirm.disabled = Boolean(p)
  }
  const d = dialog('Generate permanent URL', [
    h('p', { class: 'warning', role: 'note' }, h('strong', {}, 'This can be done only once. '), 'The permanent URL can be generated only once and can never be changed afterwards. It will always serve the current file of this asset.'),
    h('div', { class: 'field' }, h('label', { for: 'slug' }, 'Slug'), slug, counter, problem),
    h('p', { class: 'hint' }, 'Preview of the permanent URL:'),
    previewUrl,
    serverError,
  ], 'Save', async () => {
    try {
      await api('PUT', `/v3/assets/${a.uid}`, { body: { asset: { permanent_url: base + slug.value } } })
      return true
    } catch (err) {
      const conflict = err.status === 422 && /already set/.test(err.message)
      stale = stale || conflict
      fill(serverError, alertBox(conflict
        ? 'This asset already has a permanent URL (it was generated elsewhere meanwhile), so it cannot be changed. Close this dialog to see it.'
        : err.message))
      return false
    }
  }, () => renderPanel('Permanent URL generated'), { focus: slug, validate: () => !slugProblem(slug.value) })
  // After a conflict the panel shows what the server has now, once the dialog closes.
  let stale = false
  d.el.addEventListener('close', () => { if (stale) renderPanel('This asset already had a permanent URL, generated elsewhere meanwhile.') })
  slug.addEventListener('input', update)
  update()
  d.open()
}

// Where the asset is published: environment, locale, version, with Unpublish for each.
export function publishedList (a) {
  const pubs = a.publish_details || []
  if (!pubs.length) return h('p', { class: 'hint', id: 'publish-status' }, 'Not published anywhere.')
  return h('ul', { class: 'settings-list', id: 'publish-status', 'aria-label': 'Published to' }, pubs.map((p) => {
    const name = p.environment_name || p.environment
    return h('li', {},
      h('span', { class: 'name' }, `${name} · ${p.locale}`),
      h('span', { class: 'hint' }, `version ${p.version}${p.version === a._version ? '' : ' (not the current one)'} · ${date(p.time)}`),
      h('button', { class: 'btn', type: 'button', 'aria-label': `Unpublish from ${name} ${p.locale}`, onclick: () => unpublish(a, name, p.locale) }, 'Unpublish'))
  }))
}

export async function unpublish (a, env, locale) {
  try {
    await api('POST', `/v3/assets/${a.uid}/unpublish`, { body: { asset: { environments: [env], locales: [locale] } } })
    await renderPanel(`Unpublished from ${env}`)
  } catch (err) { toast(err.message) }
}

export function publishDialog (a) {
  const errorSlot = h('div')
  if (!state.environments.length) return noEnvironments('Publish')
  const t = targetFields('pub')
  const d = dialog('Publish', [
    ...t.fields,
    h('p', { class: 'hint' }, `Publishes version ${a._version}, the current one.`),
    errorSlot,
  ], 'Publish', async () => {
    try {
      const problem = targetProblem(t)
      if (problem) { fill(errorSlot, alertBox(problem)); return false }
      await api('POST', `/v3/assets/${a.uid}/publish`, { body: { asset: { environments: t.envs(), locales: t.locales() }, version: a._version } })
      return true
    } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => renderPanel(`Published to ${t.envs().join(', ')}`))
  d.open()
}

// Restoring makes the chosen version's file and details the current ones, as a new version
// (§5); the permanent URL then serves that file.
export function restoreDialog (a, v) {
  const errorSlot = h('div')
  const d = dialog(`Restore version ${v._version}?`, [
    h('p', {}, `Version ${v._version}${v.filename ? ` (${v.filename})` : ''} becomes the current file and details of \u201c${a.title}\u201d, as a new version. Every version stays in the history.`),
    errorSlot,
  ], 'Restore', async () => {
    try { await api('PUT', `/v3/assets/${a.uid}`, { body: { version: v._version } }); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => { renderPanel(`Version ${v._version} restored as the current version`); changed() })
  d.open()
}

export function deleteDialog (a) {
  const errorSlot = h('div')
  const d = dialog('Delete asset?', [
    h('p', {}, `\u201c${a.title}\u201d will be deleted. Its version URLs${a.permanent_url ? ' and its permanent URL' : ''} will stop working.`),
    errorSlot,
  ], 'Delete asset', async () => {
    try { await api('DELETE', `/v3/assets/${a.uid}`); return true } catch (err) { fill(errorSlot, alertBox(err.message)); return false }
  }, () => { toast('Asset deleted'); closePanel(); changed() }, { danger: true })
  d.open()
}
