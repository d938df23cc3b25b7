#!/usr/bin/env bash
# Fuzzes every target in fuzz/ (cargo-fuzz, nightly toolchain) for FUZZ_SECONDS each
# (default 3600), one after the other, and reports executions and new corpus entries.
# New interesting inputs land in fuzz/corpus/TARGET/ (commit the useful ones); a crash
# stops the run with its input in fuzz/artifacts/TARGET/: copy it into fuzz/corpus/TARGET/
# once fixed, and `cargo test` replays it from then on (tests/integration/fuzz_corpus.rs).
#
#   bench/fuzz.sh                  an hour per target
#   FUZZ_SECONDS=30 bench/fuzz.sh  what CI runs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-3600}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd "$root"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^perma-fuzz$')
for t in $targets; do
  before=$(ls "fuzz/corpus/$t" | wc -l)
  log="$(mktemp)"
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1 > "$log" 2>&1 || {
    tail -40 "$log"; echo "fuzz target $t failed"; rm -f "$log"; exit 1; }
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "   ${execs:-?} executions, corpus $before -> $(ls "fuzz/corpus/$t" | wc -l), no crash"
  rm -f "$log"
done
