#!/usr/bin/env bash
# Scale benchmark (STYLE rule 14: cost follows the request, not the library): the same
# requests on a stack of 100 assets and on a stack of N (default 1,000,000), in one run, on
# SQLite and on PostgreSQL. Prints each figure with its target.
#
#   bench/scale.sh                 full run: N = 1,000,000, both backends
#   bench/scale.sh --smoke         N = 10,000, short load runs (CI; checks the script works)
#   BENCH_BACKENDS=sqlite bench/scale.sh      one backend only
#   BENCH_SQLITE_STATS=none bench/scale.sh    SQLite without the planner statistics perma
#                                             ships (schema v10), as a library was before
#
# The big stack also holds a folder of N/10 more assets that a member reaches through a
# custom role on that folder alone (§14): their listings have the admin's budgets.
#
# Listing latencies are the median of 5 requests (curl, one connection each). Delivery is
# wrk with random permanent URLs (uniform, and Zipf-like: a few assets get most requests)
# for BENCH_DURATION seconds. PostgreSQL runs as a throwaway cluster (Debian's packages).
# Talks only to 127.0.0.1, runs for a bounded time, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${BENCH_ASSETS:-1000000}" duration="${BENCH_DURATION:-5}"
backends="${BENCH_BACKENDS:-sqlite postgres}"
smoke=0
if [[ "${1:-}" == "--smoke" ]]; then n=10000 duration=1 smoke=1; fi
conns="${BENCH_CONNECTIONS:-32}" threads="${BENCH_THREADS:-2}"
source "$root/bench/common.sh"
need wrk curl python3

# start_perma (bench/common.sh), timed (started_ms) and logging at info, where the end of
# the index preload is read from.
start_timed() { # extra env assignments…
  local t0; t0=$(date +%s%N)
  start_perma PERMA_LOG=info "$@"
  started_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# Waits (up to 3 minutes) for the background preload of the delivery index to finish, so
# that measurements do not share the machine with it.
wait_preload() {
  for _ in $(seq 1 1800); do grep -q "delivery index loaded\|preload failed" "$work/perma.err" && return; sleep 0.1; done
}
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$perma_pid/status"; }

# Median wall time in ms of 5 GETs (after one warm-up) of a listing URL.
list_ms() { # api_key query-string
  local key=$1 qs=$2 t=()
  curl -sf -o /dev/null "$perma/v3/assets?$qs" -H "authtoken: $token" -H "api_key: $key"
  for _ in 1 2 3 4 5; do
    t+=("$(curl -sf -o /dev/null -w '%{time_total}' "$perma/v3/assets?$qs" -H "authtoken: $token" -H "api_key: $key")")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[3]*1000}'
}
# The same through the Content Delivery API (§12): a delivery token, environment production.
cda_ms() { # api_key access_token query-string
  local key=$1 tok=$2 qs=$3 t=()
  curl -sf -o /dev/null "$perma/v3/assets?environment=production&$qs" -H "access_token: $tok" -H "api_key: $key"
  for _ in 1 2 3 4 5; do
    t+=("$(curl -sf -o /dev/null -w '%{time_total}' "$perma/v3/assets?environment=production&$qs" -H "access_token: $tok" -H "api_key: $key")")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[3]*1000}'
}
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

# Median ms of 15 uploads and of 15 replaces of a 4 KiB file into a stack.
write_ms() { # api_key
  local key=$1 up=() rep=() uid
  head -c 4096 /dev/urandom > "$work/w.bin"
  # 15 of each (fsync-bound writes of about 15 ms vary by a third from one to the next).
  for _ in $(seq 1 15); do
    up+=("$(curl -sf -o "$work/up.json" -w '%{time_total}' "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/w.bin")")
    uid=$(json 'v["asset"]["uid"]' < "$work/up.json")
    rep+=("$(curl -sf -o /dev/null -w '%{time_total}' -X PUT "$perma/v3/assets/$uid" -H "authtoken: $token" -H "api_key: $key" -F "asset[upload]=@$work/w.bin")")
  done
  printf '%s %s\n' "$(printf '%s\n' "${up[@]}" | sort -n | sed -n 8p)" "$(printf '%s\n' "${rep[@]}" | sort -n | sed -n 8p)"
}

rps() { # paths-file
  PATHS_FILE="$1" wrk -t"$threads" -c"$conns" -d"${duration}s" -s "$root/bench/random_path.lua" "$perma" \
    | awk '/^Requests\/sec:/ {print $2} /Non-2xx/ {print "ERRORS " $0 > "/dev/stderr"}'
}

report="$work/report.txt"
line() { printf '%-64s %12s   %s\n' "$1" "$2" "$3" | tee -a "$report"; }

for backend in $backends; do
  rm -rf "$work/data"; mkdir -p "$work/data"
  env_db=()
  if [[ $backend == postgres ]]; then
    start_pg
    url="$pg_url"
    env_db=(PERMA_DATABASE_URL="$url")
  fi
  start_timed "${env_db[@]}"
  login
  stack() { curl -sf "$perma/v3/stacks" -H "authtoken: $token" -d "{\"stack\":{\"name\":\"$1\"}}" | json 'v["stack"]["api_key"]'; }
  small=$(stack small) big=$(stack big)
  # An environment and a delivery token in each stack; every seeded asset is published.
  env_of() { curl -sf "$perma/v3/environments" -H "authtoken: $token" -H "api_key: $1" -d '{"environment":{"name":"production"}}' | json 'v["environment"]["uid"]'; }
  dtoken() { curl -sf "$perma/v3/stacks/delivery_tokens" -H "authtoken: $token" -H "api_key: $1" -d '{"token":{"name":"bench","scope":[{"module":"environment","environments":["production"]}]}}' | json 'v["token"]["token"]'; }
  small_env=$(env_of "$small") big_env=$(env_of "$big")
  small_tok=$(dtoken "$small") big_tok=$(dtoken "$big")
  head -c 4096 /dev/urandom > "$work/4k.bin"
  sha=$(sha256sum "$work/4k.bin" | cut -d' ' -f1)
  curl -sf -o /dev/null "$perma/v3/assets" -H "authtoken: $token" -H "api_key: $small" -F "asset[upload]=@$work/4k.bin"
  # A member whose only role reaches one folder of the big stack (§14): the folder, a
  # custom role on it, and the member, invited and signed in (the session outlives restarts).
  big_api() { local path=$1; shift; curl -sf "$perma$path" -H "authtoken: $token" -H "api_key: $big" -H 'content-type: application/json' "$@"; }
  team=$(big_api /v3/assets/folders -d '{"asset":{"name":"team"}}' | json 'v["asset"]["uid"]')
  acl='{"read":true,"create":true,"update":true,"delete":true,"publish":true}'
  role=$(big_api /v3/roles -d "{\"role\":{\"name\":\"Team folder\",\"rules\":[{\"module\":\"folder\",\"folders\":[\"$team\"],\"propagate_to_children\":true,\"acl\":$acl}]}}" | json 'v["role"]["uid"]')
  invitation=$(big_api /v3/stacks/share -d "{\"emails\":[\"member@example.com\"],\"roles\":{\"member@example.com\":[\"$role\"]}}" | json 'v["invitations"][0]["invitation_token"]')
  member_token=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' \
    -d "{\"user\":{\"email\":\"member@example.com\",\"password\":\"member-password\",\"invitation_token\":\"$invitation\"}}" | json 'v["user"]["authtoken"]')
  m=$(( n / 10 ))
  stop_perma
  dbarg="$work/data/perma.db"; [[ $backend == postgres ]] && dbarg="$url"
  started=$(date +%s.%N)
  python3 "$root/bench/seed.py" "$dbarg" "$small" "$user_uid" "$sha" 4096 100 s "$small_env" > "$work/paths-small-once"
  python3 "$root/bench/seed.py" "$dbarg" "$big" "$user_uid" "$sha" 4096 "$n" b "$big_env" > "$work/paths-big"
  SEED_PARENT=$team python3 "$root/bench/seed.py" "$dbarg" "$big" "$user_uid" "$sha" 4096 "$m" m > /dev/null
  seeded=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$(date +%s.%N)")
  # Equal-length path lists, so that wrk's own cost per request is the same for both stacks.
  python3 - "$work" "$n" <<'PY'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
small = open(f"{work}/paths-small-once").read().split()
big = open(f"{work}/paths-big").read().split()
lines = min(n, 1_000_000)
random.seed(1)
open(f"{work}/paths-small", "w").write("\n".join(random.choice(small) for _ in range(lines)) + "\n")
open(f"{work}/paths-uniform", "w").write("\n".join(random.choice(big) for _ in range(lines)) + "\n")
# Zipf-like (s = 1): the k-th most popular asset is asked for in proportion to 1/k. The
# ranks are shuffled: seed.py's uids count up, and popular assets must not be neighbours.
weights = [1 / (k + 1) for k in range(len(big))]
ranked = big[:]
random.shuffle(ranked)
open(f"{work}/paths-zipf", "w").write("\n".join(random.choices(ranked, weights, k=lines)) + "\n")
PY

  echo | tee -a "$report"
  echo "== $backend: 100 assets vs $n assets, and $m in a folder (seeded in ${seeded}s), $(nproc) cores" | tee -a "$report"
  # SQLite: the seeded library keeps the planner statistics perma ships (schema v10).
  # BENCH_SQLITE_STATS=none removes them instead: a library as it was until v10, with none.
  if [[ $backend == sqlite && "${BENCH_SQLITE_STATS:-shipped}" == none ]]; then
    python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM sqlite_stat1"); c.commit()' "$work/data/perma.db"
    echo "(SQLite planner statistics removed: BENCH_SQLITE_STATS=none)" | tee -a "$report"
  elif [[ $backend == sqlite ]]; then
    python3 - "$work/data/perma.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
missing = con.execute(
    "SELECT m.name FROM sqlite_master m LEFT JOIN sqlite_stat1 s ON s.idx = m.name "
    "WHERE m.type = 'index' AND m.tbl_name = 'assets' AND s.stat IS NULL").fetchall()
sys.exit(f"scale.sh: indexes without planner statistics: {missing}" if missing else 0)
PY
  fi
  start_timed "${env_db[@]}"
  line "start-up until listening" "${started_ms} ms" "(the index fills in the background)"
  t0=$(date +%s%N); wait_preload
  line "background preload of the delivery index" "$(( ($(date +%s%N) - t0) / 1000000 )) ms" "($(sed 's/\x1b\[[0-9;]*m//g' "$work/perma.err" | grep -o 'assets=[0-9]*' | head -1) in the index)"
  # The seeded stack's totals (kept per folder, recounted by seed.py) before any timing.
  count_of() { # authtoken
    curl -sf "$perma/v3/assets?limit=1&include_count=true" -H "authtoken: $1" -H "api_key: $big" \
      | python3 -c 'import sys, json; print(json.load(sys.stdin)["count"])'
  }
  counted=$(count_of "$token")
  [[ "$counted" == "$((n + m))" ]] || { echo "scale.sh: the big stack counts $counted assets, not $((n + m))" >&2; exit 1; }
  counted=$(count_of "$member_token")
  [[ "$counted" == "$m" ]] || { echo "scale.sh: the member sees $counted assets, not the folder's $m" >&2; exit 1; }
  # Listing (§6).
  for spec in \
    "first page|limit=100|50" \
    "first page, include_count|limit=100&include_count=true|250" \
    "last page (skip = N + M - 100)|limit=100&skip=SKIP|250" \
    "title equality|query=$(enc '{"title":"b-12345.bin"}')|50" \
    "filename \$in|query=$(enc '{"filename":{"$in":["b-1.bin","b-777.bin"]}}')|50" \
    "tags equality|query=$(enc '{"tags":"t-7"}')&limit=100|50" \
    "content_type equality|query=$(enc '{"content_type":"video/mp4"}')&limit=100|50" \
    "parent_uid equality (root)|query=$(enc '{"parent_uid":"nonexistent"}')|50" \
    "anchored regex ^b-99|query=$(enc '{"title":{"$regex":"^b-99"}}')&limit=10|50" \
    "anchored regex ^B-99, \$options i|query=$(enc '{"title":{"$regex":"^B-99","$options":"i"}}')&limit=10|50" \
    "web UI's first screen (root, by name, ignore_case, count)|folder=cs_root&include_folders=true&asc=title&ignore_case=true&include_count=true|250" \
    "web UI's last page by name (skip = N - 100)|folder=cs_root&include_folders=true&asc=title&ignore_case=true&skip=ROOTSKIP|250"; do
    IFS='|' read -r label qs target <<< "$spec"
    # The whole stack holds N + M assets; its root N and the folder.
    qs_small=${qs//ROOTSKIP/0} qs_small=${qs_small//SKIP/0}
    qs_big=${qs//ROOTSKIP/$((n - 100))} qs_big=${qs_big//SKIP/$((n + m - 100))}
    a=$(list_ms "$small" "$qs_small") b=$(list_ms "$big" "$qs_big")
    line "list: $label" "${b} ms" "(100 assets: ${a} ms; target <= ${target} ms)"
  done
  # The member limited to the folder (§14): what they see is decided in the query.
  for spec in \
    "first page|limit=100|50" \
    "first page, include_count|limit=100&include_count=true|250" \
    "last page (skip = M - 100)|limit=100&skip=SKIP|250" \
    "the folder by name, with count (web UI)|folder=$team&include_folders=true&asc=title&ignore_case=true&include_count=true|250" \
    "the folder's last page by name|folder=$team&include_folders=true&asc=title&ignore_case=true&skip=SKIP|250"; do
    IFS='|' read -r label qs target <<< "$spec"
    b=$(token=$member_token list_ms "$big" "${qs//SKIP/$((m - 100))}")
    line "member with one folder ($m of $((n + m))): $label" "${b} ms" "(target <= ${target} ms)"
  done
  # The Content Delivery API (§12) over the published rows: the same cases, same targets.
  for spec in \
    "first page|limit=100|50" \
    "first page, include_count|limit=100&include_count=true|250" \
    "last page (skip = N - 100)|limit=100&skip=SKIP|250" \
    "title equality|query=$(enc '{"title":"b-12345.bin"}')|50" \
    "tags equality|query=$(enc '{"tags":"t-7"}')&limit=100|50" \
    "anchored regex ^b-99|query=$(enc '{"title":{"$regex":"^b-99"}}')&limit=10|50"; do
    IFS='|' read -r label qs target <<< "$spec"
    qs_small=${qs//SKIP/0} qs_big=${qs//SKIP/$((n - 100))}
    a=$(cda_ms "$small" "$small_tok" "$qs_small") b=$(cda_ms "$big" "$big_tok" "$qs_big")
    line "delivery API list: $label" "${b} ms" "(100 assets: ${a} ms; target <= ${target} ms)"
  done
  # Delivery (§4): default budget.
  for set in small uniform; do PATHS_FILE="$work/paths-$set" wrk -t"$threads" -c"$conns" -d1s -s "$root/bench/random_path.lua" "$perma" >/dev/null; done
  # The small stack is measured before and after the big one (its mean is the reference),
  # so that drift during the run does not favour either.
  s1=$(rps "$work/paths-small") u=$(rps "$work/paths-uniform") z=$(rps "$work/paths-zipf") s2=$(rps "$work/paths-small")
  s=$(python3 -c "import sys; print(f'{(float(sys.argv[1]) + float(sys.argv[2])) / 2:.2f}')" "$s1" "$s2")
  ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
  line "permanent URL, random asset: $n / 100 assets, req/s" "$(ratio "$u" "$s")" "($u vs $s req/s; target >= 0.8)"
  line "permanent URL, Zipf-like choice: $n / 100 assets" "$(ratio "$z" "$s")" "($z req/s; target >= 0.9)"
  line "server RSS after the load" "$(rss_mib) MiB" "(target <= 400 MiB)"
  read -r up_s rep_s <<< "$(write_ms "$small")"
  read -r up_b rep_b <<< "$(write_ms "$big")"
  line "upload latency, big / small stack" "$(ratio "$up_b" "$up_s")" "(${up_b}s vs ${up_s}s; target <= 1.2)"
  line "replace latency, big / small stack" "$(ratio "$rep_b" "$rep_s")" "(${rep_b}s vs ${rep_s}s; target <= 1.2)"
  stop_perma
  # Delivery with an index budget of a tenth of the stack.
  tenth=$(( n / 10 * 350 ))  # about 350 bytes an entry (docs/operations.md, "Memory")
  start_timed "${env_db[@]}" PERMA_INDEX_BYTES=$tenth
  wait_preload
  PATHS_FILE="$work/paths-uniform" wrk -t"$threads" -c"$conns" -d1s -s "$root/bench/random_path.lua" "$perma" >/dev/null
  t1=$(rps "$work/paths-small") u2=$(rps "$work/paths-uniform") t2=$(rps "$work/paths-small")
  s2=$(python3 -c "import sys; print(f'{(float(sys.argv[1]) + float(sys.argv[2])) / 2:.2f}')" "$t1" "$t2")
  line "permanent URL, random asset, index budget $((tenth >> 20)) MiB (a tenth)" "$(ratio "$u2" "$s2")" "($u2 vs $s2 req/s; target >= 0.5)"
  stop_perma
  stop_pg
done
echo
echo "== summary"
cat "$report"
