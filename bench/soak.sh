#!/usr/bin/env bash
# Soak: an hour (SOAK_SECONDS) of mixed load at a fixed rate (SOAK_RATE requests a second):
# permanent-URL reads, list queries, uploads and replaces (bench/soak.py). Reports errors
# (target 0), the p99 latency of the last tenth of the run against the first (drift), and
# perma's RSS after warm-up and at the end (target: flat).
#
#   bench/soak.sh              an hour at 200 requests a second
#   bench/soak.sh --smoke      20 s (CI)
#   SOAK_COUNT=0 bench/soak.sh no list with `include_count` in the mix, to see drift
#                              in the rest apart from the count's
#
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${SOAK_SECONDS:-3600}" rate="${SOAK_RATE:-200}"
if [[ "${1:-}" == "--smoke" ]]; then seconds=20 rate=100; fi
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi
work="$(mktemp -d)"
perma_pid=""
cleanup() {
  [[ -n "$perma_pid" ]] && { kill "$perma_pid" 2>/dev/null || true; wait "$perma_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
email=soak@example.com password=soak-password
PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
  PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$bin" serve > "$work/perma.out" 2> "$work/perma.err" &
perma_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/perma.out" 2>/dev/null && break; sleep 0.1; done
perma="$(sed -n 's/^perma listening on //p' "$work/perma.out")"
[[ -n "$perma" ]] || { cat "$work/perma.err"; exit 1; }
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
token=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' \
  -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}" | json 'v["user"]["authtoken"]')
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"soak"}}' | json 'v["stack"]["api_key"]')
echo "== soak: ${seconds}s at ${rate} requests/s against perma $($bin --version | cut -d' ' -f2), $(nproc) cores"
python3 "$root/bench/soak.py" "$perma" "$token" "$key" "$perma_pid" "$seconds" "$rate"
