#!/usr/bin/env bash
# Delivery benchmark: perma's version URL and permanent URL against nginx serving the very
# same blob files, measured with wrk in one run on this machine.
#
#   bench/delivery.sh            full run: 3 rounds of 5 s per case, 100 vs 100,000 assets
#   bench/delivery.sh --smoke    one round of a second per case, 100 vs 2,000 assets (CI)
#
# BENCH_DURATION (seconds per case), BENCH_ROUNDS, BENCH_CONNECTIONS and BENCH_THREADS
# override the defaults; BENCH_ONLY=scale measures only the 100 vs 100,000 assets case,
# BENCH_ONLY=small only 4 KiB and 304 (each against nginx; 4 KiB also against the canned
# answer of bench/canned.c, the ceiling of a small answer on this machine).
# BENCH_PIN=1 runs every server on the first half of the CPUs and wrk (one thread per CPU
# it gets) on the other half, so that client and server never take turns on one core: on a
# small machine that turn-taking, not the servers, decides much of a round's figure.
# Each round measures nginx and perma back to back; the summary gives the median of each
# figure and the median of the per-round ratios, so that one noisy moment on a shared
# machine does not decide a ratio.
#
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
duration="${BENCH_DURATION:-5}" rounds="${BENCH_ROUNDS:-3}" big_n=100000 warm=3
if [[ "${1:-}" == "--smoke" ]]; then duration=1 rounds=1 big_n=2000 warm=1; fi
conns="${BENCH_CONNECTIONS:-50}" threads="${BENCH_THREADS:-2}" only="${BENCH_ONLY:-all}"
server_cpus=() client_cpus=()
if [[ -n "${BENCH_PIN:-}" ]]; then
  command -v taskset >/dev/null || { echo "BENCH_PIN needs taskset (util-linux)"; exit 1; }
  cpus=$(nproc) half=$(( $(nproc) / 2 ))
  ((half >= 1)) || { echo "BENCH_PIN needs two CPUs"; exit 1; }
  server_cpus=(taskset -c "0-$((half - 1))") client_cpus=(taskset -c "$half-$((cpus - 1))")
  threads="${BENCH_THREADS:-$((cpus - half))}"
fi
for tool in nginx wrk curl python3 cc; do command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nginx wrk curl)"; exit 1; }; done

# PERMA_BIN: use an existing binary (CI's smoke run uses the debug build it already has).
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi
work="$(mktemp -d)"
perma_pid="" nginx_pid="" canned_pid=""
cleanup() {
  for p in $perma_pid $nginx_pid $canned_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

email=bench@example.com password=bench-password
start_perma() {
  PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn PERMA_MAX_UPLOAD_BYTES=$((128 << 20)) \
    PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "${server_cpus[@]}" "$bin" serve > "$work/perma.out" 2> "$work/perma.err" &
  perma_pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$work/perma.out" 2>/dev/null && break; sleep 0.1; done
  perma="$(sed -n 's/^perma listening on //p' "$work/perma.out")"
  [[ -n "$perma" ]] || { cat "$work/perma.err"; exit 1; }
}
stop_perma() { kill "$perma_pid"; wait "$perma_pid" 2>/dev/null || true; perma_pid=""; }
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

start_perma
login=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
token=$(echo "$login" | json 'v["user"]["authtoken"]')
user_uid=$(echo "$login" | json 'v["user"]["uid"]')
stack() { curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d "{\"stack\":{\"name\":\"$1\"}}" | json 'v["stack"]["api_key"]'; }
key=$(stack bench) key_small=$(stack scale-small) key_big=$(stack scale-big)

declare -A version_path perm_path sha
for spec in 4k:4096 1m:1048576 64m:67108864; do
  name=${spec%%:*} bytes=${spec##*:}
  head -c "$bytes" /dev/urandom > "$work/$name.bin"
  sha[$name]=$(sha256sum "$work/$name.bin" | cut -d' ' -f1)
  a=$(curl -sf "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/$name.bin")
  uid=$(echo "$a" | json 'v["asset"]["uid"]')
  version_path[$name]=$(echo "$a" | json 'v["asset"]["url"].split("127.0.0.1",1)[1].split("/",1)[1]')
  p=$(curl -sf -X PUT "$perma/v3/assets/$uid" -H "authtoken: $token" -H "api_key: $key" -H 'content-type: application/json' \
    -d "{\"asset\":{\"permanent_url\":\"$name.bin\"}}" | json 'v["asset"]["permanent_url"]')
  perm_path[$name]="/${p#*://*/}"
  version_path[$name]="/${version_path[$name]}"
done

# nginx serving the same blob directory: sendfile, open_file_cache, no access log, one worker per core.
ngport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<NGINX
user root;
worker_processes ${half:-$(nproc)};
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=200000 inactive=60s;
  open_file_cache_valid 60s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$ngport;
    root $work/data/blobs;
  }
}
NGINX
"${server_cpus[@]}" nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
sleep 0.5
blob() { echo "/${1:0:2}/${1:2:2}/$1"; }

# The ceiling: perma's own 4 KiB answer, sent byte for byte by a server that does nothing else.
cc -O2 -pthread -o "$work/canned" "$root/bench/canned.c"
curl -sf -i "$perma${perm_path[4k]}" -o "$work/answer"
cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${server_cpus[@]}" "$work/canned" "$cport" "$work/answer" &
canned_pid=$!
sleep 0.2

results="$work/results.tsv"
run() { # label round url [extra wrk args...]
  local label=$1 round=$2 url=$3; shift 3
  local out rps mbs p99 non2xx
  out=$("${client_cpus[@]}" wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@" "$url")
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  mbs=$(echo "$out" | awk '/^Transfer\/sec:/ {v=$2; u=substr(v,length(v)-1); n=v+0; if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u!="MB") n/=1048576; printf "%.1f", n}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx or 3xx/ {print $5}')
  [[ -z "$non2xx" ]] || { echo "$label: $non2xx error responses"; echo "$out"; exit 1; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$round" "$rps" "$mbs" "$p99" >> "$results"
  printf '  %-30s %12s req/s %10s MB/s   p99 %s\n' "$label" "$rps" "$mbs" "$p99"
}

echo "== $(nproc) cores, wrk -t$threads -c$conns, ${duration}s per case, $rounds round(s); perma $($bin --version | cut -d' ' -f2), $(nginx -v 2>&1 | cut -d' ' -f3)"
ngetag=$(curl -sI "http://127.0.0.1:$ngport$(blob "${sha[4k]}")" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
for ((r = 1; r <= rounds; r++)); do
  [[ $only == scale ]] && break
  echo "-- round $r"
  # Odd rounds measure nginx first, even rounds last, so order effects cancel out.
  for name in 4k 1m 64m; do
    [[ $only == small && $name != 4k ]] && continue
    ((r % 2)) && run "nginx $name" "$r" "http://127.0.0.1:$ngport$(blob "${sha[$name]}")"
    [[ $name == 4k ]] && ((r % 2)) && run "canned answer 4k" "$r" "http://127.0.0.1:$cport${perm_path[4k]}"
    run "perma version URL $name" "$r" "$perma${version_path[$name]}"
    run "perma permanent URL $name" "$r" "$perma${perm_path[$name]}"
    [[ $name == 4k ]] && ! ((r % 2)) && run "canned answer 4k" "$r" "http://127.0.0.1:$cport${perm_path[4k]}"
    ((r % 2)) || run "nginx $name" "$r" "http://127.0.0.1:$ngport$(blob "${sha[$name]}")"
  done
  ((r % 2)) && run "nginx 304" "$r" "http://127.0.0.1:$ngport$(blob "${sha[4k]}")" -H "If-None-Match: $ngetag"
  run "perma permanent URL 304" "$r" "$perma${perm_path[4k]}" -H "If-None-Match: \"${sha[4k]}\""
  ((r % 2)) || run "nginx 304" "$r" "http://127.0.0.1:$ngport$(blob "${sha[4k]}")" -H "If-None-Match: $ngetag"
done

# Scale: the same lookup with 100 and with $big_n assets in a stack, random assets per request.
if [[ $only != small ]]; then
  stop_perma
  db="$work/data/perma.db"
  python3 "$root/bench/seed.py" "$db" "$key_small" "$user_uid" "${sha[4k]}" 4096 100 small > "$work/paths-small-once"
  # wrk draws from a list as long as the big stack's, so that its own cost per request (a
  # random pick from a large Lua table) is the same in both cases and only perma's differs.
  for ((i = 0; i < big_n / 100; i++)); do cat "$work/paths-small-once"; done > "$work/paths-small"
  python3 "$root/bench/seed.py" "$db" "$key_big" "$user_uid" "${sha[4k]}" 4096 "$big_n" big > "$work/paths-big"
  start_perma
  for set in small big; do # warm-up, not measured
    PATHS_FILE="$work/paths-$set" "${client_cpus[@]}" wrk -t"$threads" -c"$conns" -d"${warm}s" -s "$root/bench/random_path.lua" "$perma" > /dev/null
  done
  echo "-- scale"
  for ((r = 1; r <= rounds; r++)); do
    ((r % 2)) && PATHS_FILE="$work/paths-small" run "perma permanent 100 assets" "$r" "$perma" -s "$root/bench/random_path.lua"
    PATHS_FILE="$work/paths-big" run "perma permanent $big_n assets" "$r" "$perma" -s "$root/bench/random_path.lua"
    ((r % 2)) || PATHS_FILE="$work/paths-small" run "perma permanent 100 assets" "$r" "$perma" -s "$root/bench/random_path.lua"
  done
fi

echo
python3 - "$results" "$big_n" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
big = sys.argv[2]
by = {}
for label, rnd, rps, mbs, p99 in rows:
    by.setdefault(label, {})[rnd] = (float(rps), float(mbs), p99)
print("== medians over rounds")
for label, runs in by.items():
    rps = statistics.median(v[0] for v in runs.values())
    mbs = statistics.median(v[1] for v in runs.values())
    p99 = sorted(v[2] for v in runs.values())[len(runs) // 2]
    print(f"{label:<32} {rps:12.2f} req/s {mbs:10.1f} MB/s   p99 {p99}")
def ratio(a, b, field):
    rs = [by[a][r][field] / by[b][r][field] for r in by[a] if r in by[b] and by[b][r][field] > 0]
    return statistics.median(rs), min(rs), max(rs)
print()
print("== ratios (median of per-round ratios; min..max over rounds)")
for text, a, b, field in [
    ("permanent URL / nginx, req/s, 4 KiB   (target >= 1.3)", "perma permanent URL 4k", "nginx 4k", 0),
    ("version URL / nginx, req/s, 4 KiB", "perma version URL 4k", "nginx 4k", 0),
    ("permanent URL / canned answer, req/s, 4 KiB (target >= 0.9)", "perma permanent URL 4k", "canned answer 4k", 0),
    ("nginx / canned answer, req/s, 4 KiB", "nginx 4k", "canned answer 4k", 0),
    ("permanent URL / nginx, MB/s, 1 MiB", "perma permanent URL 1m", "nginx 1m", 1),
    ("permanent URL / nginx, MB/s, 64 MiB  (target >= 1.0)", "perma permanent URL 64m", "nginx 64m", 1),
    ("version URL / nginx, MB/s, 64 MiB", "perma version URL 64m", "nginx 64m", 1),
    ("304 revalidation / nginx 304, req/s   (target >= 1.2)", "perma permanent URL 304", "nginx 304", 0),
    (f"{big} assets / 100 assets, req/s   (target >= 0.95)", f"perma permanent {big} assets", "perma permanent 100 assets", 0),
]:
    if a not in by or b not in by:
        continue
    m, lo, hi = ratio(a, b, field)
    print(f"{text:<62} {m:.2f}   ({lo:.2f}..{hi:.2f})")
PY
