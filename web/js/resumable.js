// Resumable uploads (§16) through tus-js-client 4.3.1 (web/vendor/tus.min.js, a classic
// script that defines window.tus; MIT licence beside it). Files from RESUMABLE_FROM up go
// this way: the bytes in 16 MiB requests, each retried from the offset the server
// acknowledged when the connection breaks; pause and resume; and after a reload of the page,
// the same file chosen again continues where the server stopped (the upload's address is
// kept in localStorage under the stack, name, type, size and modification time of the file).

import { headers } from './api.js'
import { state, store } from './state.js'

export const RESUMABLE_FROM = 8 * 1024 * 1024
const CHUNK = 16 * 1024 * 1024

const key = (file) => `perma/${state.apiKey}/${file.name}/${file.type}/${file.size}/${file.lastModified}`

function describe (err) {
  const res = err && err.originalResponse
  if (res) {
    try {
      const body = JSON.parse(res.getBody())
      if (body && body.error_message) return body.error_message
    } catch { /* not JSON */ }
    return `The upload was refused (${res.getStatus()}).`
  }
  return 'The upload was interrupted. Check your connection and resume.'
}

// Sends `file` (or continues an earlier upload of it); `done` resolves with the upload's id
// once every byte is on the server. `pause` stops sending (the server keeps what it has),
// `resume` continues.
export function startResumable (file, { onProgress, onResumed } = {}) {
  const tus = window.tus
  let upload
  const done = new Promise((resolve, reject) => {
    upload = new tus.Upload(file, {
      endpoint: '/v3/uploads',
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      headers: headers(),
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      fingerprint: (f) => Promise.resolve(key(f)),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => onProgress && onProgress(total ? sent / total : 0),
      onError: (err) => reject(new Error(describe(err))),
      onSuccess: () => resolve(upload.url.split('/').pop()),
    })
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0])
        if (onResumed) onResumed()
      }
      upload.start()
    }, reject)
  })
  return { done, pause: () => upload.abort(), resume: () => upload.start() }
}

// Uploads of this stack that a closed or reloaded page left unfinished: [{name, size, url, storeKey}].
export function unfinished () {
  const out = []
  const mine = `tus::perma/${state.apiKey}/`
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i)
    if (!k || !k.startsWith(mine)) continue
    try {
      const v = JSON.parse(store.getItem(k))
      out.push({ name: (v.metadata && v.metadata.filename) || 'file', size: v.size, url: v.uploadUrl, storeKey: k })
    } catch { /* not one of ours */ }
  }
  return out
}

// Gives up an unfinished upload: the server forgets it and its bytes.
export async function discard (u) {
  store.removeItem(u.storeKey)
  if (u.url) {
    try { await window.tus.Upload.terminate(u.url, { headers: headers() }) } catch { /* already gone */ }
  }
}
