#!/usr/bin/env bash
# The render attack (§11 limits): six heavy renders at once, twenty distinct renders of a
# GIF that declares a 12,000 px square screen, twenty distinct renders of a 49 MP PNG, and
# the heavy ones again, while a small file is fetched every 50 ms. Prints the server's
# idle and peak RSS against the render memory budget, and the small file's latencies
# (bench/render_attack.py has the targets and fails when one is missed).
#
#   bench/render_attack.sh           the attack with the default limits
#   bench/render_attack.sh --smoke   the same (it is short); CI runs it to keep it working
#
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for tool in vips curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install libvips-tools curl)"; exit 1; }
done
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma)
  bin="$root/target/release/perma"
fi
budget_mib="${BENCH_RENDER_MEMORY_MIB:-512}"
work="$(mktemp -d)"
perma_pid=""
cleanup() {
  [[ -n "$perma_pid" ]] && { kill "$perma_pid" 2>/dev/null || true; wait "$perma_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

echo "== test images"
(
  cd "$work"
  # A 1,500 × 1,000 photo with grain (expensive to encode), a 7,000 px square PNG.
  vips gaussnoise n.v 1500 1000 --sigma 40 --mean 128
  vips sines s.v 1500 1000 --hfreq 5 --vfreq 3
  vips linear s.v a.v 60 0
  vips add n.v a.v p.v
  vips bandjoin "p.v n.v p.v" photo.v
  vips cast photo.v photo8.v uchar
  vips copy photo8.v photo.jpg[Q=92]
  vips zone z.v 7000 7000
  vips linear z.v b.v 100 128
  vips cast b.v b8.v uchar
  vips copy b8.v big.png
  head -c 4096 /dev/urandom > small.bin
)
# A 43-byte GIF: logical screen 12,000 × 12,000, one 1 × 1 frame.
python3 - "$work/bomb.gif" <<'PY'
import struct, sys
gif = b"GIF89a" + struct.pack("<HH", 12000, 12000) + bytes([0, 0, 0])
gif += bytes([0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B])
open(sys.argv[1], "wb").write(gif)
PY
ls -l "$work/photo.jpg" "$work/big.png" "$work/bomb.gif" | awk '{print "  " $9 ": " $5 " bytes"}'

email=bench@example.com password=bench-password
PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
  PERMA_RENDER_MEMORY_BYTES=$((budget_mib << 20)) PERMA_RENDER_MISSES_PER_MINUTE=0 \
  PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$bin" serve > "$work/perma.out" 2> "$work/perma.err" &
perma_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/perma.out" 2>/dev/null && break; sleep 0.1; done
perma="$(sed -n 's/^perma listening on //p' "$work/perma.out")"
[[ -n "$perma" ]] || { cat "$work/perma.err"; exit 1; }
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
login=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
token=$(echo "$login" | json 'v["user"]["authtoken"]')
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"attack"}}' | json 'v["stack"]["api_key"]')
python3 "$root/bench/render_attack.py" "$perma" "$perma_pid" "$token" "$key" \
  "$work/photo.jpg" "$work/bomb.gif" "$work/big.png" "$work/small.bin" "$budget_mib"
