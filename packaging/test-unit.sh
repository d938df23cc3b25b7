#!/usr/bin/env bash
# Checks the systemd unit (packaging/perma.service): `systemd-analyze verify` passes (with
# ExecStart pointing at the binary given, as the package installs it at /usr/bin/perma),
# and `systemd-analyze security` rates its exposure at most 2.0 (printed).
#
#   packaging/test-unit.sh [PERMA_BINARY]   (default: target/debug/perma)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/perma}")"
unit="$root/packaging/perma.service"
command -v systemd-analyze >/dev/null || { echo "test-unit.sh: missing systemd-analyze" >&2; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/usr/bin/perma |ExecStart=$bin |" "$unit" > "$work/perma.service"
grep -q "^ExecStart=$bin serve" "$work/perma.service" || { echo "test-unit.sh: no ExecStart=/usr/bin/perma serve" >&2; exit 1; }
if ! out=$(systemd-analyze verify "$work/perma.service" 2>&1) || [[ -n "$out" ]]; then
  echo "$out"; echo "test-unit.sh: systemd-analyze verify failed" >&2; exit 1
fi
score=$(systemd-analyze security --offline=true "$unit" 2>/dev/null \
  | sed -n 's/.*Overall exposure level for perma.service: \([0-9.]*\).*/\1/p')
[[ -n "$score" ]] || { echo "test-unit.sh: no exposure score" >&2; exit 1; }
echo "perma.service: systemd-analyze verify passes; exposure $score (target <= 2.0)"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$score" \
  || { echo "test-unit.sh: exposure $score is over 2.0" >&2; exit 1; }
