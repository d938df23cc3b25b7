#!/usr/bin/env bash
# `perma copy` at scale (§9, moving up): an embedded installation (SQLite) holding a stack
# of N assets, seeded as bench/scale.sh seeds it (each asset with a file, two versions,
# tags, published), copied into a throwaway PostgreSQL. Prints the rows copied, the time,
# rows per second and the copy's peak memory (VmHWM), against the SQLite file's size.
#
#   bench/copy.sh                     N = 100,000
#   BENCH_ASSETS=1000000 bench/copy.sh
#   bench/copy.sh --smoke             N = 2,000 (checks the script works)
#
# Talks only to 127.0.0.1, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${BENCH_ASSETS:-100000}"
if [[ "${1:-}" == "--smoke" ]]; then n=2000; fi
source "$root/bench/common.sh"
need curl python3 psql
copy_pid=""
trap 'if [[ -n "$copy_pid" ]]; then kill "$copy_pid" 2>/dev/null || true; fi; cleanup' EXIT

# The embedded installation: a user, a stack with an environment, one uploaded file (whose
# blob every seeded file shares), then N assets seeded straight into the database.
start_perma
login
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"big"}}' | json 'v["stack"]["api_key"]')
env_uid=$(curl -sf "$perma/v3/environments" -H "authtoken: $token" -H "api_key: $key" -d '{"environment":{"name":"production"}}' | json 'v["environment"]["uid"]')
head -c 4096 /dev/urandom > "$work/4k.bin"
sha=$(sha256sum "$work/4k.bin" | cut -d' ' -f1)
curl -sf -o /dev/null "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/4k.bin"
stop_perma
python3 "$root/bench/seed.py" "$work/data/perma.db" "$key" "$user_uid" "$sha" 4096 "$n" b "$env_uid" > /dev/null
db_mib=$(du -m "$work/data/perma.db" | cut -f1)

start_pg
# The copy, its peak resident memory read from /proc while it runs.
t0=$(date +%s%N)
PERMA_DATA_DIR="$work/data" PERMA_LOG=warn "$bin" copy --to-database "$pg_url" > "$work/copy.out" 2> "$work/copy.err" &
copy_pid=$!
peak=0
while kill -0 "$copy_pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$copy_pid/status" 2>/dev/null || true)
  [[ -n "$hwm" && "$hwm" -gt "$peak" ]] && peak=$hwm
  sleep 0.2
done
wait "$copy_pid" || { cat "$work/copy.out" "$work/copy.err"; exit 1; }
copy_pid=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rows=$(awk '/ rows$/ {s += $2} END {print s}' "$work/copy.out")
copied=$(awk '$1 == "assets:" {print $2}' "$work/copy.out")
[[ "$copied" == "$((n + 1))" ]] || { echo "copy.sh: copied $copied assets, not $((n + 1))"; cat "$work/copy.out"; exit 1; }
counted=$(psql -tAq "$pg_url" -c "SELECT SUM(n) FROM asset_counts WHERE api_key = '$key'")
[[ "$counted" == "$((n + 1))" ]] || { echo "copy.sh: the target's kept total is $counted, not $((n + 1))"; exit 1; }

printf '%-40s %12s\n' "assets in the stack" "$((n + 1))"
printf '%-40s %12s\n' "SQLite database" "${db_mib} MiB"
printf '%-40s %12s\n' "rows copied (every table)" "$rows"
printf '%-40s %12s\n' "copy time" "$(python3 -c "print(f'{$ms / 1000:.1f} s')")"
printf '%-40s %12s\n' "rows per second" "$(python3 -c "print(round($rows * 1000 / max($ms, 1)))")"
printf '%-40s %12s\n' "peak resident memory of perma copy" "$(( peak / 1024 )) MiB"
