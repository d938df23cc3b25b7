#!/usr/bin/env bash
# Link insights at scale (§17): a stack of N assets (default 1,000,000) with traffic on N/10
# of them over the last 30 days, on SQLite. Measures the stack-wide lists (top 100, unused,
# dead links) and an asset's series, each the median of 5 requests, against its target.
#
#   bench/insights.sh            full run: 1,000,000 assets, 100,000 with traffic
#   bench/insights.sh --smoke    10,000 assets (CI; checks the script works)
#
# Traffic is written straight into the tables as the flusher would have (hourly rows and
# referrers): each requested asset gets 1 to 24 active hours over the 30 days (most few, a
# few many: a long tail, as links are), so the hourly table holds several rows per asset.
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${BENCH_ASSETS:-1000000}"
if [[ "${1:-}" == "--smoke" ]]; then n=10000; fi
source "$root/bench/common.sh"
need curl python3

start_perma
login
key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -H 'content-type: application/json' \
  -d '{"stack":{"name":"insights"}}' | json 'v["stack"]["api_key"]')
head -c 4096 /dev/urandom > "$work/file.bin"
curl -sf "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/file.bin" > /dev/null
sha=$(sha256sum "$work/file.bin" | cut -d' ' -f1)
stop_perma
db="$work/data/perma.db"
t0=$(date +%s)
python3 "$root/bench/seed.py" "$db" "$key" "$user_uid" "$sha" 4096 "$n" b > "$work/paths"
rows=$(python3 - "$db" "$key" "$work/paths" <<'PY'
import random, sqlite3, sys, time
db, key, paths = sys.argv[1:4]
uids = [p.split("/")[4] for p in open(paths).read().split()]
random.seed(7)
hit = random.sample(uids, len(uids) // 10)
HOUR, DAY = 3_600_000, 86_400_000
now = int(time.time() * 1000)
start = now - now % HOUR - 30 * DAY
con = sqlite3.connect(db)
rows = refs = 0
def cells():
    global rows
    for i, uid in enumerate(hit):
        hours = min(24, int(random.paretovariate(1.2)))
        for h in random.sample(range(30 * 24), hours):
            n = int(random.paretovariate(1.1)) + (1000 if i < 100 else 0)
            rows += 1
            yield (key, uid, start + h * HOUR, random.choice(["permanent", "version"]), "ok", n, n * 4096)
def pages():
    global refs
    for uid in hit[:20000]:
        day = now - now % DAY - random.randrange(30) * DAY
        for p in range(random.randrange(1, 4)):
            refs += 1
            yield (key, uid, day, 0, f"https://site{random.randrange(500)}.example/page{p}", random.randrange(1, 50))
    for uid in hit[-1000:]:
        refs += 1
        yield (key, uid, now - now % DAY, 1, "https://old.example/newsletter", 3)
with con:
    con.executemany("INSERT OR IGNORE INTO traffic_hourly VALUES (?,?,?,?,?,?,?)", cells())
    con.executemany("INSERT OR IGNORE INTO traffic_referrers VALUES (?,?,?,?,?,?)", pages())
    # The last 1,000 are in the trash and still requested: dead links.
    con.executemany("UPDATE assets SET deleted_at = ?, trash_root = uid WHERE uid = ?", [(now - DAY, u) for u in hit[-1000:]])
    con.executemany("INSERT OR IGNORE INTO traffic_hourly VALUES (?,?,?,?,?,?,?)",
                    [(key, u, now - now % HOUR - HOUR, "permanent", "gone", 3, 0) for u in hit[-1000:]])
print(rows)
PY
)
echo "== $n assets, $((n / 10)) with traffic: $rows hourly rows (seeded in $(( $(date +%s) - t0 )) s); perma $($bin --version | cut -d' ' -f2)"
start_perma
login

# Median of 5 (after one warm-up) of a GET's total time in ms.
median_ms() {
  local path=$1 i times=()
  curl -sf -o /dev/null "$perma$path" -H "authtoken: $token" -H "api_key: $key"
  for i in 1 2 3 4 5; do
    times+=("$(curl -sf -o /dev/null -w '%{time_total}' "$perma$path" -H "authtoken: $token" -H "api_key: $key")")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{printf "%.0f", $1 * 1000}'
}
report() { # label path target_ms
  local ms; ms=$(median_ms "$2")
  printf '  %-52s %6s ms   (target %s ms)\n' "$1" "$ms" "$3"
}
uid=$(head -1 "$work/paths" | cut -d/ -f5)
report "top 100 over 30 days" "/v3/insights/top?limit=100" 250
report "top 100 over 7 days" "/v3/insights/top?limit=100&from=$(date -u -d '7 days ago' +%F)" 250
report "dead links, first 100" "/v3/insights/dead_links?limit=100" 250
report "unused since 30 days, first 100" "/v3/insights/unused?limit=100" 250
report "unused since 30 days, first 100 with count" "/v3/insights/unused?limit=100&include_count=true" 1000
report "one asset's daily series, 30 days" "/v3/assets/$uid/insights" 50
report "one asset's referrers" "/v3/assets/$uid/referrers" 50
