// The session is shared by the browser's tabs (a second tab needs no second login); which
// stack, folder, search and asset are shown lives in the address (router.js).
export const store = window.localStorage

export const state = {
  session: JSON.parse(store.getItem('perma.session') || 'null'),
  apiKey: null,
  page: 'library', // or 'settings'
  stack: null,
  folder: null, // current folder uid, null = root
  crumbs: [], // [{uid, name}]
  view: store.getItem('perma.view') || 'list',
  sort: store.getItem('perma.sort') || 'name',
  search: '',
  type: '', // a content-type filter (TYPES)
  since: '', // a date filter (SINCE)
  usage: '', // a link insights filter (USAGE, §17)
  tag: '', // a tag filter
  paths: null, // folder uid -> path, for saying where search results live
  folders: null, // every folder [{uid, parent, path}], loaded for searches
  items: [],
  total: null, // matches in all (folders), null for searches
  more: false, // another page may follow
  selected: null,
  picked: new Set(), // assets ticked for a bulk action
  environments: [],
  locales: [],
  uploads: [],
}

// Whether the member's roles allow something (§14), from the stack's `permissions`: an
// asset action (`read`, `create`, `update`, `delete`, `publish`) that reaches `all` or
// `some` assets (the API decides each one), or a part of the stack (`stack_settings`,
// `administration`, `audit_log`). Views leave out what is not allowed; the API still
// answers whatever is asked.
export function may (what) {
  const p = state.stack && state.stack.permissions
  if (!p) return true
  if (p.assets && what in p.assets) return p.assets[what] !== 'none'
  return Boolean(p[what])
}

// Whether the member reads every asset (the trash shows all of them).
export function readsAll () {
  const p = state.stack && state.stack.permissions
  return !p || p.assets.read === 'all'
}
