# Sourced by compat/run: an HTTPS front for perma, because the Python delivery SDK builds
# https://{host}/v3 only. nginx (Debian's) with a throwaway self-signed certificate for
# `localhost`, proxying to PERMA_URL on a spare port; clients trust it through
# REQUESTS_CA_BUNDLE. Sets PERMA_TLS_HOST (localhost:PORT) and PERMA_TLS_CA;
# stop_tls_front stops nginx by its pid.
start_tls_front() {
  tls_dir="$(mktemp -d)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" \
    -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" >/dev/null 2>&1
  local port upstream
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  upstream="${PERMA_URL#http://}"
  cat > "$tls_dir/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $tls_dir/nginx.pid;
error_log $tls_dir/error.log warn;
daemon off;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tls_dir/body;
  proxy_temp_path $tls_dir/proxy;
  # The CMA and CDA headers api_key and access_token carry underscores.
  underscores_in_headers on;
  server {
    listen 127.0.0.1:$port ssl;
    server_name localhost;
    ssl_certificate $tls_dir/cert.pem;
    ssl_certificate_key $tls_dir/key.pem;
    location / {
      proxy_pass http://$upstream;
      proxy_set_header Host \$host:\$server_port;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
  nginx -c "$tls_dir/nginx.conf" -p "$tls_dir" &
  tls_pid=$!
  for _ in $(seq 1 50); do
    curl -sf --cacert "$tls_dir/cert.pem" "https://localhost:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export PERMA_TLS_HOST="localhost:$port" PERMA_TLS_CA="$tls_dir/cert.pem"
  echo "compat: TLS front at https://$PERMA_TLS_HOST"
}

stop_tls_front() {
  if [[ -n "${tls_pid:-}" ]]; then
    kill "$tls_pid" 2>/dev/null || true
    wait "$tls_pid" 2>/dev/null || true
    tls_pid=""
  fi
  [[ -n "${tls_dir:-}" ]] && rm -rf "$tls_dir"
  tls_dir=""
}
