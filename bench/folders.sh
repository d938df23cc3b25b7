#!/usr/bin/env bash
# Deleting a big folder (§5: a folder goes with everything in it): one stack holding a
# folder of 100 files and one of N (default 20,000), each file published (seeded as
# bench/scale.sh seeds); then DELETE /v3/assets/folders/{uid} of each, on SQLite and on
# PostgreSQL. Prints the time of each and the cost per file of the big one against the
# small one's (1.0: the cost grows with the folder, no faster).
#
#   bench/folders.sh                       N = 20,000, both backends
#   BENCH_ASSETS=100000 bench/folders.sh
#   BENCH_BACKENDS=postgres bench/folders.sh
#   bench/folders.sh --smoke               N = 1,000
#
# Talks only to 127.0.0.1, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${BENCH_ASSETS:-20000}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
if [[ "${1:-}" == "--smoke" ]]; then n=1000; fi
for tool in curl python3 psql; do command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }; done

bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma)
  bin="$root/target/release/perma"
fi
work="$(mktemp -d)"
chmod 755 "$work"
pid=""
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  stop_pg
  rm -rf "$work"
}
trap cleanup EXIT
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

email=bench@example.com password=bench-password
start_perma() {
  env PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
    PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$@" "$bin" serve > "$work/out" 2> "$work/err" &
  pid=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
  perma="$(sed -n 's/^perma listening on //p' "$work/out")"
  [[ -n "$perma" ]] || { cat "$work/err"; exit 1; }
}
stop_perma() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

for backend in $backends; do
  rm -rf "$work/data" "$work/out"; mkdir -p "$work/data"
  env_db=()
  dbarg="$work/data/perma.db"
  if [[ $backend == postgres ]]; then
    start_pg
    env_db=(PERMA_DATABASE_URL="$pg_url")
    dbarg="$pg_url"
  fi
  start_perma "${env_db[@]}"
  login=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
  token=$(echo "$login" | json 'v["user"]["authtoken"]')
  user_uid=$(echo "$login" | json 'v["user"]["uid"]')
  key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"folders"}}' | json 'v["stack"]["api_key"]')
  env_uid=$(curl -sf "$perma/v3/environments" -H "authtoken: $token" -H "api_key: $key" -d '{"environment":{"name":"production"}}' | json 'v["environment"]["uid"]')
  folder() { curl -sf "$perma/v3/assets/folders" -H "authtoken: $token" -H "api_key: $key" -H 'content-type: application/json' -d "{\"asset\":{\"name\":\"$1\"}}" | json 'v["asset"]["uid"]'; }
  small=$(folder small) big=$(folder big)
  head -c 4096 /dev/urandom > "$work/4k.bin"
  sha=$(sha256sum "$work/4k.bin" | cut -d' ' -f1)
  curl -sf -o /dev/null "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/4k.bin"
  stop_perma
  SEED_PARENT=$small python3 "$root/bench/seed.py" "$dbarg" "$key" "$user_uid" "$sha" 4096 100 s "$env_uid" > /dev/null
  SEED_PARENT=$big python3 "$root/bench/seed.py" "$dbarg" "$key" "$user_uid" "$sha" 4096 "$n" b "$env_uid" > /dev/null
  start_perma "${env_db[@]}"
  delete_s() { # folder uid -> seconds
    local out
    out=$(curl -s -o "$work/del.json" -w '%{http_code} %{time_total}' --max-time 1800 -X DELETE \
      "$perma/v3/assets/folders/$1" -H "authtoken: $token" -H "api_key: $key")
    [[ "${out%% *}" == 200 ]] || { echo "folders.sh: delete answered ${out%% *}: $(cat "$work/del.json")"; exit 1; }
    echo "${out#* }"
  }
  a=$(delete_s "$small") b=$(delete_s "$big")
  left=$(curl -sf "$perma/v3/assets?include_count=true&include_folders=true&limit=1" -H "authtoken: $token" -H "api_key: $key" | json 'v["count"]')
  [[ "$left" == 1 ]] || { echo "folders.sh: $left assets left in the stack, not 1"; exit 1; }
  stop_perma
  [[ $backend == postgres ]] && stop_pg
  printf '%-10s delete a folder of %7s files: %8.3f s   (of 100: %.3f s; cost per file %s x the small folder'"'"'s)\n' \
    "$backend" "$n" "$b" "$a" "$(python3 -c "print(f'{($b / $n) / ($a / 100):.2f}')")"
done
