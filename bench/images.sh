#!/usr/bin/env bash
# Image delivery benchmark (§11): perma's first render of a rendition against libvips'
# `vipsthumbnail` on the same files in the same run, and a cached rendition's req/s
# against the same bytes served as a plain file.
#
#   bench/images.sh            5 timed runs per case, 5 s of wrk per throughput case
#   bench/images.sh --smoke    1 run per case, 1 s of wrk (CI: keeps the script working)
#
# Cases: a 12-megapixel JPEG → 800 px wide WebP (q 80) and AVIF (q 60), and a 4000 px PNG →
# 400 px JPEG (q 85). Each perma run renders a copy of the source that differs only in a
# byte after its end (so it has its own renditions and every request renders); the time
# includes the HTTP round trip and storing the rendition. vipsthumbnail's includes starting
# the process and writing the file.
#
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs=5 duration="${BENCH_DURATION:-5}"
if [[ "${1:-}" == "--smoke" ]]; then runs=1 duration=1; fi
for tool in vips vipsthumbnail wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install libvips-tools wrk curl)"; exit 1; }
done
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

echo "== test images"
# A 12 MP "photo": smooth structure plus grain (JPEG q 85, about 5 MB), and a 4000 × 3000
# PNG without grain (an illustration).
(
  cd "$work"
  vips sines s.v 4000 3000 --hfreq 3 --vfreq 2
  vips linear s.v a.v 90 128
  vips zone z.v 4000 3000
  vips linear z.v b.v 100 128
  vips gaussnoise n.v 4000 3000 --sigma 6 --mean 0
  vips add a.v n.v an.v
  vips add b.v n.v bn.v
  vips bandjoin "an.v bn.v a.v" photo.v
  vips cast photo.v photo8.v uchar
  vips copy photo8.v photo.jpg[Q=85]
  vips bandjoin "a.v a.v a.v" flat.v
  vips cast flat.v flat8.v uchar
  vips copy flat8.v big.png
)
ls -l "$work/photo.jpg" "$work/big.png" | awk '{print "  " $9 ": " $5 " bytes"}'

email=bench@example.com password=bench-password
start_perma() {
  PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn PERMA_MAX_UPLOAD_BYTES=$((128 << 20)) \
    PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$@" "$bin" serve > "$work/perma.out" 2> "$work/perma.err" &
  perma_pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$work/perma.out" 2>/dev/null && break; sleep 0.1; done
  perma="$(sed -n 's/^perma listening on //p' "$work/perma.out")"
  [[ -n "$perma" ]] || { cat "$work/perma.err"; exit 1; }
}
stop_perma() { kill "$perma_pid"; wait "$perma_pid" 2>/dev/null || true; perma_pid=""; }
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
setup() {
  login=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
  token=$(echo "$login" | json 'v["user"]["authtoken"]')
  key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"images"}}' | json 'v["stack"]["api_key"]')
}
upload() {
  curl -sf "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$1" | json 'v["asset"]["url"]'
}

# Median wall time in ms of a command run $runs times; `{}` in it is the run number.
median_ms() {
  python3 - "$runs" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
times = []
for i in range(runs):
    t = time.perf_counter()
    subprocess.run([c.replace("{}", str(i)) for c in cmd], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(times):.1f}")
PY
}

echo "== first renders (median of $runs): perma vs vipsthumbnail"
start_perma env
setup
declare -A perma_ms vips_ms
for i in $(seq 0 $((runs - 1))); do
  for f in photo.jpg big.png; do
    { cat "$work/$f"; printf 'copy %d' "$i"; } > "$work/copy-$i-$f"
  done
  upload "$work/copy-$i-photo.jpg" > "$work/url-photo-$i"
  upload "$work/copy-$i-big.png" > "$work/url-png-$i"
done
# Each run requests the rendition of its own copy.
fetch() { curl -sf -o "$work/$2" "$(cat "$work/url-$1-$3")?$4"; }
export -f fetch
export work
perma_ms[webp]=$(median_ms bash -c 'fetch photo p.webp {} "width=800&format=webp&quality=80"')
vips_ms[webp]=$(median_ms vipsthumbnail "$work/photo.jpg" --size 800x -o "$work/v.webp[Q=80]")
perma_ms[avif]=$(median_ms bash -c 'fetch photo p.avif {} "width=800&format=avif&quality=60"')
vips_ms[avif]=$(median_ms vipsthumbnail "$work/photo.jpg" --size 800x -o "$work/v.avif[Q=60]")
perma_ms[jpeg]=$(median_ms bash -c 'fetch png p.jpg {} "width=400&format=jpg&quality=85"')
vips_ms[jpeg]=$(median_ms vipsthumbnail "$work/big.png" --size 400x -o "$work/v.jpg[Q=85]")
rendered=$(curl -sf "$perma/metrics" | awk '/^perma_renditions_rendered_total/ {print $2}')
[[ "$rendered" == "$((3 * runs))" ]] || { echo "expected $((3 * runs)) renders, metrics say $rendered"; exit 1; }
for c in webp avif jpeg; do
  out="$work/p.$c"; [[ $c == jpeg ]] && out="$work/p.jpg"
  vout="$work/v.$c"; [[ $c == jpeg ]] && vout="$work/v.jpg"
  printf '  %-5s perma %8s ms (%7s bytes, %s)   vips %8s ms (%7s bytes, %s)\n' "$c" \
    "${perma_ms[$c]}" "$(stat -c %s "$out")" "$(vipsheader -f width "$out" 2>/dev/null || echo ?)px" \
    "${vips_ms[$c]}" "$(stat -c %s "$vout")" "$(vipsheader -f width "$vout" 2>/dev/null || echo ?)px"
done

echo "== cached rendition vs the same bytes as a plain file (wrk, $duration s, 50 connections)"
photo_url=$(cat "$work/url-photo-0")
rendition="$photo_url?width=800&format=webp&quality=80"
curl -sf -o "$work/rendition.webp" "$rendition"
plain_url=$(upload "$work/rendition.webp")
curl -sf -o "$work/plain.webp" "$plain_url"
cmp -s "$work/rendition.webp" "$work/plain.webp" || { echo "plain file differs from the rendition"; exit 1; }
rps() {
  wrk -t2 -c50 -d"${duration}s" "$1" | awk '/Requests\/sec/ {print $2}'
}
# ABBA order so that drift cancels out.
r1=$(rps "$rendition"); p1=$(rps "$plain_url"); p2=$(rps "$plain_url"); r2=$(rps "$rendition")
stop_perma
echo "  rendition: $r1, $r2 req/s   plain file: $p1, $p2 req/s"

echo
echo "== ratios"
python3 - "${perma_ms[webp]}" "${vips_ms[webp]}" "${perma_ms[avif]}" "${vips_ms[avif]}" \
  "${perma_ms[jpeg]}" "${vips_ms[jpeg]}" "$r1" "$r2" "$p1" "$p2" <<'PY'
import sys
v = [float(x) for x in sys.argv[1:]]
print(f"  12 MP JPEG -> 800 px WebP q80, perma/vips time   {v[0]/v[1]:5.2f}x  (target <= 1.5)")
print(f"  12 MP JPEG -> 800 px AVIF q60, perma/vips time   {v[2]/v[3]:5.2f}x  (target <= 1.5)")
print(f"  4000 px PNG -> 400 px JPEG q85, perma/vips time  {v[4]/v[5]:5.2f}x  (target <= 1.5)")
print(f"  cached rendition / plain file req/s              {(v[6]+v[7])/(v[8]+v[9]):5.2f}   (target >= 0.9)")
PY
