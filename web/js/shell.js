// The shell around a stack's views: the navigation bar and the workspace.

import { fill, h, icon, root } from './dom.js'
import { navigate } from './nav.js'
import { may, readsAll, state } from './state.js'

// Marks the main navigation's entry of the view shown (`assets`, `settings`, `links`,
// `trash`) as the current one.
export function markNav (view) {
  for (const v of ['assets', 'settings', 'links', 'trash']) {
    const b = document.getElementById(`nav-${v}`)
    if (!b) continue
    if (v === view) b.setAttribute('aria-current', 'page')
    else b.removeAttribute('aria-current')
  }
}

export function renderShell () {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    h('span', { class: 'brand' }, 'perma'),
    h('button', { type: 'button', id: 'nav-assets', 'aria-label': 'Assets', 'aria-keyshortcuts': 'A', onclick: () => navigate('library') }, icon('assets'), h('span', { 'aria-hidden': 'true' }, 'Assets')),
    may('stack_settings') ? h('button', { type: 'button', id: 'nav-settings', 'aria-label': 'Settings', onclick: () => navigate('settings') }, icon('settings'), h('span', { 'aria-hidden': 'true' }, 'Settings')) : null,
    readsAll() ? h('button', { type: 'button', id: 'nav-links', 'aria-label': 'Links', onclick: () => navigate('links') }, icon('links'), h('span', { 'aria-hidden': 'true' }, 'Links')) : null,
    readsAll() ? h('button', { type: 'button', id: 'nav-trash', 'aria-label': 'Trash', onclick: () => navigate('trash') }, icon('trash'), h('span', { 'aria-hidden': 'true' }, 'Trash')) : null,
    h('button', { type: 'button', 'aria-label': 'Stacks', onclick: () => navigate('stacks') }, icon('stacks'), h('span', { 'aria-hidden': 'true' }, 'Stacks')),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', 'aria-label': 'Log out', onclick: () => navigate('logout') }, icon('logout'), h('span', { 'aria-hidden': 'true' }, 'Log out')))
  const main = h('div', { class: 'main' },
    h('header', { class: 'topbar' }, h('h1', { id: 'page-title' }, 'Assets'), h('span', { class: 'hint' }, state.stack ? state.stack.name : '')),
    h('div', { class: 'workspace', id: 'workspace' }, h('section', { class: 'library', id: 'library', 'aria-labelledby': 'page-title' }), null))
  fill(root(), h('div', { class: 'shell' }, nav, main))
}
