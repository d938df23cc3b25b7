# Shared by the benchmarks that need PostgreSQL: a throwaway cluster from Debian's
# packages on a spare port (started as the postgres user, stopped and removed by stop_pg).
# Source it; it sets pg_url.

pg_dir="" pg_ctl_bin="" pg_url=""
stop_pg() {
  if [[ -n "$pg_dir" ]]; then
    runuser -u postgres -- "$pg_ctl_bin" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"; pg_dir=""
  fi
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# PostgreSQL's buffer cache: what delivery misses read at a million assets (assets, files
# and their indexes) is about 570 MB; with less, each miss also copies pages from the OS
# cache. A server for a library this size is given at least that (a quarter of the RAM
# is the usual advice; this machine has 24 GiB).
pg_buffers="${BENCH_PG_SHARED_BUFFERS:-1GB}"
start_pg() {
  local pgbin p
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  pg_dir="$(mktemp -d)"; chown postgres "$pg_dir"
  p="$(port)"
  runuser -u postgres -- "$pgbin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-p $p -k $pg_dir -c listen_addresses=127.0.0.1 -c shared_buffers=$pg_buffers -c fsync=off" start >/dev/null
  pg_ctl_bin="$pgbin/pg_ctl"
  psql -q "postgres://postgres@127.0.0.1:$p/postgres" -c "CREATE DATABASE perma" >/dev/null
  pg_url="postgres://postgres@127.0.0.1:$p/perma"
}
