#!/usr/bin/env bash
# Compares two perma binaries (say, the commit before a change and the change) on the
# delivery benchmark, in one run: bench/delivery.sh alternately for each, in ABBA order so
# that drift on a shared machine cancels out. Each run measures nginx too, so the figures
# compared are perma/nginx ratios measured seconds apart.
#
#   bench/compare.sh OLD_BIN NEW_BIN          (BENCH_* variables as for delivery.sh)
#
# Build an older commit without touching this checkout:
#   git worktree add /tmp/perma-old <commit> && (cd /tmp/perma-old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
old="${1:?old binary}" new="${2:?new binary}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
n=0
for which in old new new old; do
  n=$((n + 1))
  bin=$old; [[ $which == new ]] && bin=$new
  echo "== run $n: $which ($bin)"
  PERMA_BIN="$bin" BENCH_ROUNDS="${BENCH_ROUNDS:-1}" "$root/bench/delivery.sh" | tee "$out/$n-$which.txt" | sed -n '/== ratios/,$p'
done
python3 - "$out" <<'PY'
import os, re, statistics, sys
d = sys.argv[1]
runs = {"old": [], "new": []}
for f in sorted(os.listdir(d)):
    which = f.split("-")[1].split(".")[0]
    text = open(os.path.join(d, f)).read().split("== ratios", 1)[1]
    ratios = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"(.+?)\s+([0-9.]+)\s+\(", line)
        if m:
            ratios[m.group(1).strip()] = float(m.group(2))
    runs[which].append(ratios)
print("\n== old vs new: median over runs of each run's ratio")
print(f"{'figure':<58} {'old':>6} {'new':>6} {'new/old':>8}")
for key in runs["old"][0]:
    o = statistics.median(r[key] for r in runs["old"])
    n = statistics.median(r[key] for r in runs["new"])
    print(f"{key:<58} {o:6.2f} {n:6.2f} {n / o:8.2f}")
PY
