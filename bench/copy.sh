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

# The embedded installation: a user, a stack with an environment, one uploaded file (whose
# blob every seeded file shares), then N assets seeded straight into the database.
email=bench@example.com password=bench-password
PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
  PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$bin" serve > "$work/out" 2> "$work/err" &
pid=$!
for _ in $(seq 1 300); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.1; done
perma="$(sed -n 's/^perma listening on //p' "$work/out")"
[[ -n "$perma" ]] || { cat "$work/err"; exit 1; }
login=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
token=$(echo "$login" | json 'v["user"]["authtoken"]')
user_uid=$(echo "$login" | json 'v["user"]["uid"]')
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d '{"stack":{"name":"big"}}' | json 'v["stack"]["api_key"]')
env_uid=$(curl -sf "$perma/v3/environments" -H "authtoken: $token" -H "api_key: $key" -d '{"environment":{"name":"production"}}' | json 'v["environment"]["uid"]')
head -c 4096 /dev/urandom > "$work/4k.bin"
sha=$(sha256sum "$work/4k.bin" | cut -d' ' -f1)
curl -sf -o /dev/null "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/4k.bin"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
python3 "$root/bench/seed.py" "$work/data/perma.db" "$key" "$user_uid" "$sha" 4096 "$n" b "$env_uid" > /dev/null
db_mib=$(du -m "$work/data/perma.db" | cut -f1)

start_pg
# The copy, its peak resident memory read from /proc while it runs.
t0=$(date +%s%N)
PERMA_DATA_DIR="$work/data" PERMA_LOG=warn "$bin" copy --to-database "$pg_url" > "$work/copy.out" 2> "$work/copy.err" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [[ -n "$hwm" && "$hwm" -gt "$peak" ]] && peak=$hwm
  sleep 0.2
done
wait "$pid" || { cat "$work/copy.out" "$work/copy.err"; exit 1; }
pid=""
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
