# Sourced by .ci/run: a throwaway PostgreSQL cluster from Debian's packages on a spare port.
# Sets PERMA_TEST_POSTGRES; stop_postgres stops it (by its data directory's pid file).
start_postgres() {
  local pgbin port
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  pg_dir="$(mktemp -d)"
  chown postgres "$pg_dir"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  runuser -u postgres -- "$pgbin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
  # fsync off: a throwaway cluster for tests (perma's own durability is tested by killing perma).
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=600 -c fsync=off" start >/dev/null
  pg_ctl_bin="$pgbin/pg_ctl"
  export PERMA_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port"
  echo "PostgreSQL at $PERMA_TEST_POSTGRES"
}

stop_postgres() {
  if [[ -n "${pg_dir:-}" ]]; then
    runuser -u postgres -- "$pg_ctl_bin" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
    pg_dir=""
  fi
}
