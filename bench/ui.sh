#!/usr/bin/env bash
# The web UI on a library of 2,000 assets (issue budgets, §7), in Debian's Chromium driven
# by playwright-core (tests/ui's node_modules): the library's first rows after the A key,
# and the bytes of the grid's first screen once its renditions exist. Prints each figure
# with its target. Talks only to 127.0.0.1; stops by itself.
#
#   bench/ui.sh                  2,000 assets (100 of them photos)
#   UI_ASSETS=300 bench/ui.sh    a smaller library
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi
(cd "$root/tests/ui" && [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund --loglevel=error)
PERMA_BIN="$bin" NODE_PATH="$root/tests/ui/node_modules" node "$root/bench/ui.mjs"
