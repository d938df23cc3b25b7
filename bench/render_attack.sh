#!/usr/bin/env bash
# The render attack (§11 limits): six heavy renders at once, twenty distinct renders of a
# GIF that declares a 12,000 px square screen, twenty distinct renders of a 49 MP PNG, and
# the heavy ones again, while a small file is fetched every 50 ms. Prints the server's
# idle and peak RSS against the render memory budget, and the small file's latencies
# (bench/render_attack.py has the targets and fails when one is missed).
#
#   bench/render_attack.sh           the attack with the default limits
#   bench/render_attack.sh --smoke   heavy renders of 900 px instead of 1,800 (CI, debug build)
#
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/common.sh"
need vips curl python3
budget_mib="${BENCH_RENDER_MEMORY_MIB:-512}"
smoke=""
if [[ "${1:-}" == "--smoke" ]]; then smoke=smoke; fi

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

start_perma PERMA_RENDER_MEMORY_BYTES=$((budget_mib << 20)) PERMA_RENDER_MISSES_PER_MINUTE=0
login
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"attack"}}' | json 'v["stack"]["api_key"]')
python3 "$root/bench/render_attack.py" "$perma" "$perma_pid" "$token" "$key" \
  "$work/photo.jpg" "$work/bomb.gif" "$work/big.png" "$work/small.bin" "$budget_mib" $smoke
