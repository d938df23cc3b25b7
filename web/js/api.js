// The /v3 API, as the SDKs use it (§5).

import { state } from './state.js'

// ---------- API ----------
export class ApiError extends Error {
  constructor (status, body) {
    const fields = body && body.errors ? Object.entries(body.errors).map(([k, v]) => `${k}: ${[].concat(v).join(', ')}`) : []
    const base = (body && body.error_message) || `Request failed (${status})`
    super(fields.length && !base.includes(fields[0].split(': ')[1]) ? `${base} (${fields.join('; ')})` : base)
    this.status = status
    this.body = body
  }
}

export function headers (extra = {}) {
  const hd = { ...extra }
  if (state.session) hd.authtoken = state.session.authtoken
  if (state.apiKey) hd.api_key = state.apiKey
  return hd
}

export async function api (method, path, { body, query } = {}) {
  const url = new URL(path, location.origin)
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v)
  let res
  try {
    res = await fetch(url, {
      method,
      headers: headers(body ? { 'content-type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    })
  } catch (e) {
    throw new ApiError(0, { error_message: 'perma could not be reached. Check your connection and try again.' })
  }
  const text = await res.text()
  let data = null
  try { data = text ? JSON.parse(text) : null } catch { data = null }
  if (!res.ok) {
    // The router keeps what was typed, logs out and says so.
    if (res.status === 401 && state.session) window.dispatchEvent(new Event('perma:session-ended'))
    throw new ApiError(res.status, data)
  }
  return data
}

// Multipart upload with progress (fetch has no upload progress).
export function sendFile (method, path, file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, path)
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total) }
    xhr.onload = () => {
      let data = null
      try { data = JSON.parse(xhr.responseText) } catch { data = null }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data)
      else reject(new ApiError(xhr.status, data))
    }
    xhr.onerror = () => reject(new ApiError(0, { error_message: 'The upload was interrupted.' }))
    const form = new FormData()
    for (const [k, v] of Object.entries(fields || {})) form.append(k, v)
    form.append('asset[upload]', file, file.name)
    xhr.send(form)
  })
}
