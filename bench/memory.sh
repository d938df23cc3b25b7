#!/usr/bin/env bash
# Peak resident memory of perma while uploading and downloading one large file.
# Usage: bench/memory.sh [size-in-MiB]   (default 1024 = 1 GiB; the target is < 100 MiB peak)
# Talks only to 127.0.0.1, stops everything it started.
set -euo pipefail
size_mib="${1:-1024}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi

work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

email=bench@example.com password=bench-password
PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
  PERMA_MAX_UPLOAD_BYTES=$(( (size_mib + 1) * 1024 * 1024 )) \
  PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password \
  "$bin" serve > "$work/out" 2> "$work/err" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^perma listening on //p' "$work/out")"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
idle=$(rss_kib)

token=$(curl -sf "$url/v3/user-session" -H 'content-type: application/json' \
  -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}" | python3 -c 'import sys,json;print(json.load(sys.stdin)["user"]["authtoken"])')
api_key=$(curl -sf "$url/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"bench"}}' \
  | python3 -c 'import sys,json;print(json.load(sys.stdin)["stack"]["api_key"])')

echo "creating a ${size_mib} MiB file of random bytes"
head -c "$(( size_mib * 1024 * 1024 ))" /dev/urandom > "$work/big.bin"
want=$(sha256sum "$work/big.bin" | cut -d' ' -f1)

start=$(date +%s.%N)
asset_url=$(curl -sf "$url/v3/assets" -H "authtoken: $token" -H "api_key: $api_key" \
  -F "asset[upload]=@$work/big.bin" | python3 -c 'import sys,json;print(json.load(sys.stdin)["asset"]["url"])')
up=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
after_upload=$(hwm_kib)
rm -f "$work/big.bin"

start=$(date +%s.%N)
got=$(curl -sf "$asset_url" | sha256sum | cut -d' ' -f1)
down=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
peak=$(hwm_kib)
[[ "$got" == "$want" ]] || { echo "downloaded bytes differ"; exit 1; }

awk -v s="$size_mib" -v i="$idle" -v u="$after_upload" -v p="$peak" -v up="$up" -v down="$down" 'BEGIN {
  printf "file size          %8d MiB\n", s
  printf "idle RSS           %8.1f MiB\n", i / 1024
  printf "peak after upload  %8.1f MiB   (upload %.1f s, %.0f MiB/s)\n", u / 1024, up, s / up
  printf "peak overall       %8.1f MiB   (download %.1f s, %.0f MiB/s)\n", p / 1024, down, s / down
  printf "peak / file size   %8.4f\n", p / (s * 1024)
}'
if (( peak > 100 * 1024 )); then echo "FAIL: peak RSS above 100 MiB"; exit 1; fi
echo "OK: peak RSS below 100 MiB"
