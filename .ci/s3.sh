# Sourced by .ci/run: a real S3-compatible server (s3s-fs, which checks request signatures)
# on a spare port, with bucket `perma-test`. Sets PERMA_TEST_S3_ENDPOINT and the AWS_*
# credentials; stop_s3 stops it by PID.
start_s3() {
  command -v s3s-fs >/dev/null 2>&1 || cargo install s3s-fs --version 0.14.1 --features binary --locked
  s3_dir="$(mktemp -d)"
  mkdir -p "$s3_dir/perma-test"
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  export AWS_ACCESS_KEY_ID="perma-test-key" AWS_SECRET_ACCESS_KEY="perma-test-secret-0123456789"
  s3s-fs --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" \
    --secret-key "$AWS_SECRET_ACCESS_KEY" "$s3_dir" > "$s3_dir.log" 2>&1 &
  s3_pid=$!
  for _ in $(seq 1 100); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  kill -0 "$s3_pid" || { cat "$s3_dir.log"; return 1; }
  export PERMA_TEST_S3_ENDPOINT="http://127.0.0.1:$port" PERMA_TEST_S3_BUCKET="perma-test"
  echo "S3 (s3s-fs) at $PERMA_TEST_S3_ENDPOINT"
}

stop_s3() {
  if [[ -n "${s3_pid:-}" ]]; then
    kill "$s3_pid" 2>/dev/null || true
    wait "$s3_pid" 2>/dev/null || true
    rm -rf "$s3_dir" "$s3_dir.log"
    s3_pid=""
  fi
}
