// Link insights (§17) in the asset panel: requests of the last 30 days as a chart drawn in
// SVG (permanent URL against version URLs, one bar per day), and the pages that link to
// the asset. Loaded after the panel is drawn, so a slow answer never holds it up.

import { api } from './api.js'
import { fill, h, svgNS } from './dom.js'

const DAY = 86400000
const DAYS = 30

function svg (tag, attrs, ...kids) {
  const el = document.createElementNS(svgNS, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v)
  for (const k of kids) if (k) el.append(k)
  return el
}

// Served answers (200, 206, 304) per day of the last DAYS days, split by URL kind.
export function perDay (series, now = Date.now()) {
  const start = Math.floor(now / DAY) * DAY - (DAYS - 1) * DAY
  const days = Array.from({ length: DAYS }, (_, i) => ({ at: start + i * DAY, permanent: 0, version: 0, other: 0 }))
  for (const p of series) {
    if (p.status !== 'ok' && p.status !== 'not_modified') continue
    const i = Math.floor((Date.parse(p.at) - start) / DAY)
    if (i < 0 || i >= DAYS) continue
    const k = p.kind === 'permanent' || p.kind === 'version' ? p.kind : 'other'
    days[i][k] += p.requests
  }
  return days
}

// Stacked bars, one per day; scales to the panel's width (readable at 375 px).
export function chart (days, label) {
  const W = 300; const H = 80; const gap = 2
  const bw = W / days.length - gap
  const max = Math.max(1, ...days.map((d) => d.permanent + d.version + d.other))
  const bars = days.flatMap((d, i) => {
    const x = i * (bw + gap)
    let y = H
    const day = new Date(d.at).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    return [['permanent', 'bar-permanent'], ['version', 'bar-version'], ['other', 'bar-other']].map(([k, cls]) => {
      if (!d[k]) return null
      const bh = Math.max(1, (d[k] / max) * (H - 4))
      y -= bh
      return svg('rect', { x: x.toFixed(1), y: y.toFixed(1), width: bw.toFixed(1), height: bh.toFixed(1), class: cls },
        svg('title', {}, document.createTextNode(`${day}: ${d[k]} through ${k === 'other' ? 'renditions and the API' : `the ${k} URL`}`)))
    })
  })
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'usage-chart', preserveAspectRatio: 'none' },
    svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'axis' }), ...bars.filter(Boolean))
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

// The panel's "Usage" section for asset `a`: drawn empty, filled when the answers come.
export function usageSection (a, stillShown) {
  const body = h('div', {}, h('p', { class: 'hint' }, 'Loading usage\u2026'))
  load(a, body, stillShown)
  return h('div', { class: 'section', id: 'usage' }, h('h3', {}, 'Usage (last 30 days)'), body)
}

async function load (a, body, stillShown) {
  let ins, refs
  try {
    [ins, refs] = await Promise.all([
      api('GET', `/v3/assets/${a.uid}/insights`).then((r) => r.insights),
      api('GET', `/v3/assets/${a.uid}/referrers`, { query: { limit: '5' } }),
    ])
  } catch (err) {
    if (stillShown()) fill(body, h('p', { class: 'hint' }, `Usage is not available: ${err.message}`))
    return
  }
  if (!stillShown()) return
  const days = perDay(ins.series)
  const sum = (k) => days.reduce((n, d) => n + d[k], 0)
  const total = sum('permanent') + sum('version') + sum('other')
  const summary = total
    ? `${plural(total, 'request')}: ${sum('permanent')} through the permanent URL, ${sum('version')} through version URLs${sum('other') ? `, ${sum('other')} through renditions and the API` : ''}.`
    : 'Not requested in the last 30 days.'
  const pages = refs.referrers.filter((r) => r.page)
  fill(body,
    h('p', { id: 'usage-summary' }, summary),
    total ? chart(days, `Requests per day over the last 30 days: ${summary}`) : null,
    total ? h('p', { class: 'legend hint' },
      h('span', { class: 'key key-permanent' }), ' Permanent URL ',
      h('span', { class: 'key key-version' }), ' Version URLs ',
      sum('other') ? [h('span', { class: 'key key-other' }), ' Renditions and API'] : null) : null,
    h('h4', {}, 'Linked from'),
    pages.length
      ? h('ol', { class: 'referrers', 'aria-label': 'Pages linking to this asset' }, pages.map((r) => h('li', {},
        h('a', { href: r.page, target: '_blank', rel: 'noopener noreferrer nofollow' }, r.page),
        h('span', { class: 'hint' }, ` ${plural(r.requests, 'request')}`))))
      : h('p', { class: 'hint' }, 'No referring pages recorded (pages that link to it show up once visitors follow the link).'))
}
