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
