#!/usr/bin/env bash
# What metrics and the access log cost delivery: bench/delivery.sh with PERMA_METRICS=off,
# with metrics on (the default), and with metrics and the access log to a file, in ABCCBA
# order so that drift on a shared machine cancels out. Each run measures nginx too, so the
# figures compared are perma/nginx ratios measured seconds apart.
#
#   bench/observability.sh            (PERMA_BIN, BENCH_* variables as for delivery.sh)
#   bench/observability.sh --smoke    one short pass per configuration (CI)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
smoke=()
[[ "${1:-}" == "--smoke" ]] && smoke=(--smoke)
bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
order=(off metrics logged logged metrics off)
((${#smoke[@]})) && order=(off metrics logged)
n=0
for config in "${order[@]}"; do
  n=$((n + 1))
  rm -f "$out/access.log"
  envs=(PERMA_METRICS=on PERMA_ACCESS_LOG=off)
  [[ $config == off ]] && envs=(PERMA_METRICS=off PERMA_ACCESS_LOG=off)
  [[ $config == logged ]] && envs=(PERMA_METRICS=on "PERMA_ACCESS_LOG=$out/access.log")
  echo "== run $n: $config (${envs[*]})"
  # The run's own output is shown only when it fails (its reason is in it).
  if ! env "${envs[@]}" PERMA_BIN="$bin" BENCH_ROUNDS="${BENCH_ROUNDS:-1}" "$root/bench/delivery.sh" "${smoke[@]}" \
    > "$out/$n-$config.txt" 2>&1; then
    tail -40 "$out/$n-$config.txt"; echo "bench/delivery.sh failed in run $n ($config)"; exit 1
  fi
  sed -n '/== ratios/,$p' "$out/$n-$config.txt"
  if [[ $config == logged ]]; then
    lines=$(wc -l < "$out/access.log" 2>/dev/null || echo 0)
    echo "   access log: $lines lines"
    [[ $lines -gt 0 ]] || { echo "the access log stayed empty"; exit 1; }
  fi
done
python3 - "$out" <<'PY'
import os, re, statistics, sys
d = sys.argv[1]
runs = {"off": [], "metrics": [], "logged": []}
for f in sorted(os.listdir(d)):
    if not f.endswith(".txt"):
        continue
    which = f.split("-", 1)[1][:-4]
    text = open(os.path.join(d, f)).read().split("== ratios", 1)[1]
    ratios = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"(.+?)\s+([0-9.]+)\s+\(", line)
        if m:
            ratios[m.group(1).strip()] = float(m.group(2))
    runs[which].append(ratios)
print("\n== perma/nginx ratio, median over runs: metrics off, metrics on, metrics + access log")
print(f"{'figure':<58} {'off':>6} {'on':>6} {'+log':>6} {'on/off':>7} {'+log/off':>9}")
for key in runs["off"][0]:
    o, m, l = (statistics.median(r[key] for r in runs[k]) for k in ("off", "metrics", "logged"))
    print(f"{key:<58} {o:6.2f} {m:6.2f} {l:6.2f} {m / o:7.2f} {l / o:9.2f}")
PY
