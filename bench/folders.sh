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
source "$root/bench/common.sh"
need curl python3 psql

for backend in $backends; do
  rm -rf "$work/data" "$work/perma.out"; mkdir -p "$work/data"
  env_db=()
  dbarg="$work/data/perma.db"
  if [[ $backend == postgres ]]; then
    start_pg
    env_db=(PERMA_DATABASE_URL="$pg_url")
    dbarg="$pg_url"
  fi
  start_perma "${env_db[@]}"
  login
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
