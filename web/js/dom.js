// perma web UI (§7): the DOM helper, icons, formatting, toasts, dialogs. All user data goes
// into the DOM as text nodes, never as HTML.


export const SLUG_MAX = 255

// ---------- tiny DOM helper ----------
export function h (tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = v
    else el.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

// replaceChildren() would print "null" for absent optional parts.
export function fill (el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false))
}

export const svgNS = 'http://www.w3.org/2000/svg'

export function icon (name) {
  const paths = {
    assets: 'M4 5h16v14H4zM4 15l4-4 4 4 3-3 5 5M15 9.5a1.5 1.5 0 1 0 0-.01',
    stacks: 'M12 3l9 5-9 5-9-5zM3 13l9 5 9-5',
    logout: 'M15 12H4M11 8l-4 4 4 4M14 4h6v16h-6',
    folder: 'M3 6h7l2 2h9v11H3z',
    file: 'M6 3h8l4 4v14H6zM14 3v4h4',
    links: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
    trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6',
    settings: 'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6zM4 12h2M18 12h2M12 4v2M12 18v2M6.3 6.3l1.4 1.4M16.3 16.3l1.4 1.4M6.3 17.7l1.4-1.4M16.3 7.7l1.4-1.4',
  }
  const svg = document.createElementNS(svgNS, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('fill', 'none')
  svg.setAttribute('stroke', 'currentColor')
  svg.setAttribute('stroke-width', '1.8')
  svg.setAttribute('stroke-linejoin', 'round')
  const p = document.createElementNS(svgNS, 'path')
  p.setAttribute('d', paths[name] || paths.file)
  svg.append(p)
  return svg
}

// ---------- formatting ----------
export function size (n) {
  n = Number(n)
  if (!Number.isFinite(n)) return ''
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i ? n.toFixed(1) : n} ${units[i]}`
}

export function date (iso) {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function ext (name) {
  const i = (name || '').lastIndexOf('.')
  return i > 0 ? name.slice(i + 1, i + 5) : ''
}

// §3 slug grammar, mirrored from src/slug.rs.
export function slugProblem (s) {
  if (s.length === 0) return 'The slug can\u2019t be blank.'
  if ([...s].length > SLUG_MAX) return `The slug is too long (${[...s].length} characters; the maximum is ${SLUG_MAX}).`
  const bad = [...s].find((c) => !/[A-Za-z0-9\-_.~]/.test(c))
  if (bad) return `\u201c${bad}\u201d is not allowed: use letters, digits, \u2018-\u2019, \u2018_\u2019, \u2018.\u2019 and \u2018~\u2019.`
  if (s === '.' || s === '..') return 'The slug can\u2019t be \u201c.\u201d or \u201c..\u201d.'
  if (!/[A-Za-z0-9]/.test(s)) return 'The slug must contain at least one letter or digit.'
  return null
}

export function suggestSlug (filename) {
  let out = ''
  for (const c of (filename || '').toLowerCase()) {
    if (/[a-z0-9.~]/.test(c)) out += c
    else if (!out.endsWith('-')) out += '-'
  }
  out = out.replace(/^[-.]+|[-.]+$/g, '').replaceAll('-.', '.').slice(0, SLUG_MAX)
  return slugProblem(out) ? 'asset' : out
}

// ---------- feedback ----------
let toastTimer

export function toast (msg) {
  const t = document.getElementById('toast')
  t.textContent = msg
  t.classList.add('show')
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => t.classList.remove('show'), 2500)
}

export function alertBox (msg) {
  return h('p', { class: 'error', role: 'alert' }, msg)
}

export async function copy (text, what) {
  try {
    await navigator.clipboard.writeText(text)
  } catch {
    const ta = h('textarea', { class: 'sr-only', 'aria-hidden': 'true' })
    ta.value = text
    document.body.append(ta)
    ta.select()
    document.execCommand('copy')
    ta.remove()
  }
  toast(`${what} copied`)
}

// ---------- views ----------
export const root = () => document.getElementById('app')

// A modal <dialog>: focus moves in, Escape closes, focus returns to the opener.
export function dialog (title, body, confirmLabel, onConfirm, onDone, opts = {}) {
  const opener = document.activeElement
  const id = `dlg-${Math.random().toString(36).slice(2)}`
  const confirm = h('button', { class: `btn ${opts.danger ? 'danger' : 'primary'}`, type: 'submit' }, confirmLabel)
  const form = h('form', { method: 'dialog' }, h('h2', { id }, title), body, h('div', { class: 'dialog-actions' }, h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'), confirm))
  const dlg = h('dialog', { 'aria-labelledby': id }, form)
  let ok = false
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    if (opts.validate && !opts.validate()) return
    confirm.disabled = true
    ok = await onConfirm()
    confirm.disabled = false
    if (ok) dlg.close()
  })
  dlg.addEventListener('close', () => {
    dlg.remove()
    if (opener && opener.isConnected) opener.focus()
    if (ok && onDone) onDone()
  })
  document.body.append(dlg)
  return { el: dlg, confirm, open: () => { dlg.showModal(); (opts.focus || dlg.querySelector('input, select, textarea, button[type=submit]')).focus() } }
}
