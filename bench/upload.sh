#!/usr/bin/env bash
# Resumable uploads (§16) measured on loopback, against nginx in the same run:
#   1. a 1 GiB file through tus (POST /v3/uploads, one PATCH, POST /v3/assets with its
#      upload_uid) against nginx receiving the same file with `dav_methods PUT` (body to a
#      temp file, then renamed: the same work of writing the bytes once); median of rounds,
#      alternating which goes first. Goal: perma's time ≤ 1.2× nginx's.
#   2. resume after a cut at 50 %: a client sends half the file and drops the connection;
#      the resume (HEAD, PATCH of the rest) is timed against a whole upload, and the bytes
#      sent in all are counted. Goal: the resume costs at most the unsent half.
#   3. peak RSS of perma for a 10 GiB upload through tus and the download of that file.
#      Goal: < 100 MiB each.
#
#   bench/upload.sh [--smoke]      (PERMA_BIN, UPLOAD_MIB=1024, BIG_GIB=10, ROUNDS=3)
# --smoke: 32 MiB, one round, a 64 MiB "big" file: keeps the script working (CI), not a
# measurement. Talks only to 127.0.0.1, stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
smoke=0
[[ "${1:-}" == "--smoke" ]] && smoke=1
mib="${UPLOAD_MIB:-1024}" rounds="${ROUNDS:-3}" big_mib=$(( ${BIG_GIB:-10} * 1024 ))
if (( smoke )); then mib=32 rounds=1 big_mib=64; fi
source "$root/bench/common.sh"
need nginx curl python3 sha256sum
nginx_pid=""
stop_nginx() {
  if [[ -n "$nginx_pid" ]]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  nginx_pid=""
}
trap 'stop_nginx; cleanup' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$perma_pid/status"; }

echo "== a ${mib} MiB file of random bytes"
head -c "$(( mib << 20 ))" /dev/urandom > "$work/file.bin"
want=$(sha256sum "$work/file.bin" | cut -d' ' -f1)

# nginx with WebDAV PUT into a directory of its own, one worker per core, no access log.
nginx_port=$(port)
mkdir -p "$work/nginx/root" "$work/nginx/tmp"
# nginx workers run as an unprivileged user: the directories they write are theirs too.
chmod 777 "$work/nginx/root" "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/root;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
EOF
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && break; sleep 0.1; done

start_perma PERMA_MAX_RESUMABLE_BYTES=$(( (big_mib + 1) << 20 )) PERMA_MAX_UPLOAD_BYTES_IN_FLIGHT=$(( (big_mib + 1) << 20 ))
login
api_key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -H 'content-type: application/json' \
  -d '{"stack":{"name":"upload bench"}}' | json 'v["stack"]["api_key"]')
auth=(-H "authtoken: $token" -H "api_key: $api_key" -H "tus-resumable: 1.0.0")

# create LENGTH NAME: a new upload; prints its path.
create() {
  curl -sf -D - -o /dev/null -X POST "$perma/v3/uploads" "${auth[@]}" -H "upload-length: $1" \
    -H "upload-metadata: filename $(printf '%s' "$2" | base64 -w0)" \
    | tr -d '\r' | sed -n 's/^[Ll]ocation: //p'
}
# finish PATH: the upload becomes an asset; prints its version URL.
finish() {
  curl -sf "$perma/v3/assets" "${auth[@]}" -H 'content-type: application/json' \
    -d "{\"asset\":{\"upload_uid\":\"${1##*/}\"}}" | json 'v["asset"]["url"]'
}
# tus_upload FILE: the whole file in one PATCH, then an asset; prints the version URL.
tus_upload() {
  local len path
  len=$(stat -c %s "$1")
  path=$(create "$len" "$(basename "$1")")
  curl -sf -o /dev/null -X PATCH "$perma$path" "${auth[@]}" -H "upload-offset: 0" \
    -H 'content-type: application/offset+octet-stream' -T "$1"
  finish "$path"
}

echo "== 1. ${mib} MiB upload: perma (tus) against nginx (dav PUT), ${rounds} round(s)"
ratios=()
for r in $(seq 1 "$rounds"); do
  order=(nginx perma); (( r % 2 == 0 )) && order=(perma nginx)
  for who in "${order[@]}"; do
    # Each starts with no one's dirty pages to write back.
    sync
    t0=$(now)
    if [[ $who == nginx ]]; then
      curl -sf -o /dev/null -T "$work/file.bin" "http://127.0.0.1:$nginx_port/r$r.bin"
      t_nginx=$(since "$t0")
      rm -f "$work/nginx/root/r$r.bin"
    else
      url=$(tus_upload "$work/file.bin")
      t_perma=$(since "$t0")
    fi
  done
  got=$(curl -sf "$url" | sha256sum | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || { echo "perma served other bytes"; exit 1; }
  ratio=$(awk -v p="$t_perma" -v n="$t_nginx" 'BEGIN{printf "%.2f", p/n}')
  ratios+=("$ratio")
  printf 'round %d: nginx %6.2f s (%4.0f MiB/s)   perma %6.2f s (%4.0f MiB/s)   perma/nginx time %s\n' \
    "$r" "$t_nginx" "$(awk -v m="$mib" -v t="$t_nginx" 'BEGIN{print m/t}')" \
    "$t_perma" "$(awk -v m="$mib" -v t="$t_perma" 'BEGIN{print m/t}')" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
echo "perma/nginx upload time, median   $median   (goal <= 1.2)"

echo "== 2. resume after a cut at 50 %, ${rounds} round(s)"
len=$(stat -c %s "$work/file.bin")
resume_ratios=()
for r in $(seq 1 "$rounds"); do
  sync
  t0=$(now)
  tus_upload "$work/file.bin" > /dev/null
  t_whole=$(since "$t0")
  path=$(create "$len" cut.bin)
  # Half the body, then the connection drops (a client gone mid-way).
  python3 - "$perma" "$path" "$token" "$api_key" "$work/file.bin" "$(( len / 2 ))" <<'PY'
import os, socket, sys
base, path, token, key, file, half = sys.argv[1:7]
host, port = base.split("://", 1)[1].split(":")
size = os.path.getsize(file)
s = socket.create_connection((host, int(port)))
s.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
           f"authtoken: {token}\r\napi_key: {key}\r\nUpload-Offset: 0\r\n"
           f"Content-Type: application/offset+octet-stream\r\nContent-Length: {size}\r\n\r\n").encode())
with open(file, "rb") as f:
    left = int(half)
    while left:
        chunk = f.read(min(left, 1 << 20))
        s.sendall(chunk)
        left -= len(chunk)
s.close()
PY
  sleep 0.5
  offset=$(curl -sf -I "$perma$path" "${auth[@]}" | tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: //p')
  tail -c +"$(( offset + 1 ))" "$work/file.bin" > "$work/rest.bin"
  sync
  t0=$(now)
  offset=$(curl -sf -I "$perma$path" "${auth[@]}" | tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: //p')
  curl -sf -o /dev/null -X PATCH "$perma$path" "${auth[@]}" -H "upload-offset: $offset" \
    -H 'content-type: application/offset+octet-stream' -T "$work/rest.bin"
  url=$(finish "$path")
  t_resume=$(since "$t0")
  rm -f "$work/rest.bin"
  got=$(curl -sf "$url" | sha256sum | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || { echo "the resumed upload has other bytes"; exit 1; }
  sent=$(( len / 2 + len - offset ))
  ratio=$(awk -v w="$t_whole" -v r="$t_resume" 'BEGIN{printf "%.2f", r/w}')
  resume_ratios+=("$ratio")
  awk -v w="$t_whole" -v r="$t_resume" -v o="$offset" -v l="$len" -v s="$sent" -v n="$r" 'BEGIN {
    printf "round %d: whole %.2f s; cut with %.1f %% on the server; resume %.2f s = %.2f of a whole; sent in all %.3f x the file\n", n, w, 100*o/l, r, r/w, s/l
  }'
done
median=$(printf '%s\n' "${resume_ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
echo "resume / whole upload time, median   $median   (the unsent half: 0.50; nothing sent twice)"

echo "== 3. peak RSS for a ${big_mib} MiB upload and download"
stop_perma
rm -rf "$work/data" "$work/file.bin"
start_perma PERMA_MAX_RESUMABLE_BYTES=$(( (big_mib + 1) << 20 )) PERMA_MAX_UPLOAD_BYTES_IN_FLIGHT=$(( (big_mib + 1) << 20 ))
login
api_key=$(curl -sf "$perma/v3/stacks" -H "authtoken: $token" -H 'content-type: application/json' \
  -d '{"stack":{"name":"big"}}' | json 'v["stack"]["api_key"]')
auth=(-H "authtoken: $token" -H "api_key: $api_key" -H "tus-resumable: 1.0.0")
idle=$(hwm_kib)
# A sparse file: the disk holds perma's copy only.
truncate -s "$(( big_mib << 20 ))" "$work/big.bin"
t0=$(now)
url=$(tus_upload "$work/big.bin")
t_up=$(since "$t0")
after_up=$(hwm_kib)
t0=$(now)
got=$(curl -sf "$url" | sha256sum | cut -d' ' -f1)
t_down=$(since "$t0")
peak=$(hwm_kib)
want=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
[[ "$got" == "$want" ]] || { echo "the big file came back different"; exit 1; }
awk -v m="$big_mib" -v i="$idle" -v u="$after_up" -v p="$peak" -v tu="$t_up" -v td="$t_down" 'BEGIN {
  printf "idle peak RSS %.1f MiB\n", i/1024
  printf "after the upload (%.1f s, %.0f MiB/s)   peak RSS %.1f MiB (goal < 100)\n", tu, m/tu, u/1024
  printf "after the download (%.1f s, %.0f MiB/s) peak RSS %.1f MiB (goal < 100)\n", td, m/td, p/1024
}'
if (( peak > 100 * 1024 )); then echo "FAIL: peak RSS above 100 MiB"; exit 1; fi
