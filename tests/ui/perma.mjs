// What the UI tests share: a real perma started from the binary on a free port, and Debian's
// Chromium driven by playwright-core.

import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const bin = process.env.PERMA_BIN || resolve(here, '../../target/debug/perma')

// Starts `perma serve` on a fresh data directory with these settings; resolves with
// { server, base, dataDir } once it listens.
export async function startPerma (env) {
  const dataDir = mkdtempSync(join(tmpdir(), 'perma-ui-'))
  const server = spawn(bin, ['serve'], {
    env: { ...process.env, PERMA_DATA_DIR: dataDir, PERMA_LISTEN: '127.0.0.1:0', PERMA_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const base = await new Promise((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (d) => {
      out += d
      const m = out.match(/perma listening on (http:\/\/\S+)/)
      if (m) resolve(m[1])
    })
    server.on('exit', (code) => reject(new Error(`perma exited with ${code}`)))
  })
  return { server, base, dataDir }
}

// Debian's Chromium, headless.
export function launch () {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}
