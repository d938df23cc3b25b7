#!/usr/bin/env bash
# Checks packaging/compose/ as far as this machine can (no image registry, so the compose
# file itself is not run): every PERMA_* setting it and perma.env.example give is one perma
# knows, with a valid value (`perma config check` on exactly those variables), and its
# nginx configuration passes `nginx -t` with Debian's cache-purge module (the compose
# service names mapped to 127.0.0.1, as they resolve only inside the compose network).
# The shape itself (two perma processes, one PostgreSQL, one S3 store) is what the
# PostgreSQL + S3 run of the test suite exercises.
#
#   packaging/test-compose.sh [PERMA_BINARY]   (default: target/debug/perma)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/perma}")"
dir="$root/packaging/compose"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# The variables a perma container gets: the env file, then the compose file's own
# environment (which wins), with ${VAR} and ${VAR:?…} taken from the env file.
python3 - "$dir/compose.yaml" "$dir/perma.env.example" > "$work/vars" <<'PY'
import re, sys
compose, example = open(sys.argv[1]).read(), open(sys.argv[2]).read()
env = dict(l.split("=", 1) for l in example.splitlines() if l and not l.startswith("#"))
block = compose.split("x-perma:", 1)[1].split("\nservices:", 1)[0]
given = dict(re.findall(r"^\s+(PERMA_[A-Z0-9_]+):\s*(.+?)\s*$", block, re.M))
if not given:
    sys.exit("test-compose.sh: no PERMA_* settings found in the compose file")
subst = lambda v: re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", lambda m: env[m.group(1)], v)
merged = {k: v for k, v in env.items() if k.startswith("PERMA_")}
merged.update({k: subst(v) for k, v in given.items()})
for k, v in sorted(merged.items()):
    print(f"{k}={v}")
PY
mapfile -t vars < "$work/vars"
if ! env -i PATH="$PATH" "${vars[@]}" "$bin" config check > "$work/effective" 2> "$work/err"; then
  cat "$work/err"; echo "test-compose.sh: perma config check refused the compose settings" >&2; exit 1
fi
echo "compose: ${#vars[@]} PERMA_* settings, all known and valid (perma config check)"

sed -e 's/server perma-[12]:8080;/server 127.0.0.1:8080;/' \
    -e "s|/var/cache/perma|$work/cache|" \
    -e "s|pid /run/nginx.pid;|pid $work/nginx.pid;|" \
    "$dir/nginx.conf" > "$work/nginx.conf"
if ! nginx -t -c "$work/nginx.conf" > "$work/nginx.out" 2>&1; then
  cat "$work/nginx.out"; echo "test-compose.sh: nginx -t failed" >&2; exit 1
fi
echo "compose: nginx.conf passes nginx -t (cache-purge module loaded)"
