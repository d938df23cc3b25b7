#!/usr/bin/env bash
# The official Contentstack CLI (csdx, pinned in package.json) against perma. Starts two
# perma instances (the source and the target of the CLI's own import) behind one nginx
# TLS front with a throwaway certificate for `perma.test` (the CLI speaks only https and
# refuses IP and localhost hosts; test-host.cjs resolves the name in the node process),
# then runs cli.test.mjs: export, CLI import, cm:assets:publish, and a round trip through
# `perma import contentstack` into a third perma.
# Usage: compat/cli/run.sh PERMA_BIN
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$1"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP_WORK:-}" ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

spare_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_perma NAME: a perma on a fresh data dir; sets ${NAME}_URL.
start_perma() {
  local name="$1"
  PERMA_DATA_DIR="$work/$name" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
    PERMA_ADMIN_EMAIL="$PERMA_EMAIL" PERMA_ADMIN_PASSWORD="$PERMA_PASSWORD" \
    "$bin" serve > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "listening on" "$work/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  local url
  url="$(sed -n 's/^perma listening on //p' "$work/$name.out" | head -1)"
  [[ -n "$url" ]] || { echo "perma $name did not start"; cat "$work/$name.err"; exit 1; }
  printf -v "${name}_URL" '%s' "$url"
}

export PERMA_EMAIL="${PERMA_EMAIL:-sdk@example.com}" PERMA_PASSWORD="${PERMA_PASSWORD:-sdk-password-123}"
start_perma SOURCE
start_perma TARGET

tls="$work/tls"
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=perma.test" \
  -addext "subjectAltName=DNS:perma.test" \
  -keyout "$tls/key.pem" -out "$tls/cert.pem" >/dev/null 2>&1
source_port="$(spare_port)"
target_port="$(spare_port)"
server_block() {
  cat <<NGINX
  server {
    listen 127.0.0.1:$1 ssl;
    server_name perma.test;
    ssl_certificate $tls/cert.pem;
    ssl_certificate_key $tls/key.pem;
    location / {
      proxy_pass $2;
      proxy_set_header Host \$host:\$server_port;
    }
  }
NGINX
}
cat > "$tls/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $tls/nginx.pid;
error_log $tls/error.log warn;
daemon off;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tls/body;
  proxy_temp_path $tls/proxy;
  client_max_body_size 0;
  # The CMA's api_key header has an underscore; nginx drops such headers without this.
  underscores_in_headers on;
$(server_block "$source_port" "$SOURCE_URL")
$(server_block "$target_port" "$TARGET_URL")
}
NGINX
nginx -c "$tls/nginx.conf" -p "$tls" &
pids+=($!)
for _ in $(seq 1 50); do
  curl -sf --cacert "$tls/cert.pem" --resolve "perma.test:$source_port:127.0.0.1" \
    "https://perma.test:$source_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
cd "$here"
PERMA_BIN="$bin" WORK="$work" SOURCE_URL="$SOURCE_URL" TARGET_URL="$TARGET_URL" \
  SOURCE_HOST="perma.test:$source_port" TARGET_HOST="perma.test:$target_port" \
  NODE_EXTRA_CA_CERTS="$tls/cert.pem" PERMA_TEST_HOSTNAME=perma.test \
  npm test
