# Shared by the benchmark scripts: source it with `root` set. It checks the tools a
# script names (`need`), picks the perma binary (PERMA_BIN, or a release build), makes a
# work directory that is removed on exit with the perma it started (and a PostgreSQL
# cluster from lib.sh, if one was started), and starts and stops perma with an admin.
# Sets: bin, work, email, password; start_perma sets perma (its base URL) and perma_pid;
# login sets token and user_uid.

need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || { echo "missing $t"; exit 1; }; done
}

bin="${PERMA_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --quiet --bin perma $(command -v nasm >/dev/null && echo --features avif-asm))
  bin="$root/target/release/perma"
fi
work="$(mktemp -d)"
chmod 755 "$work"
perma_pid=""
source "$root/bench/lib.sh"
stop_perma() {
  if [[ -n "$perma_pid" ]]; then kill "$perma_pid" 2>/dev/null || true; wait "$perma_pid" 2>/dev/null || true; fi
  perma_pid=""
}
cleanup() {
  stop_perma
  stop_pg
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

email=bench@example.com password=bench-password
# start_perma [VAR=value…]: perma on a free port of 127.0.0.1 over $work/data, with those
# variables (PERMA_LOG=warn unless one says otherwise); its output in $work/perma.out and
# $work/perma.err.
start_perma() {
  env PERMA_DATA_DIR="$work/data" PERMA_LISTEN=127.0.0.1:0 PERMA_LOG=warn \
    PERMA_ADMIN_EMAIL=$email PERMA_ADMIN_PASSWORD=$password "$@" "$bin" serve > "$work/perma.out" 2> "$work/perma.err" &
  perma_pid=$!
  for _ in $(seq 1 300); do grep -q "listening on" "$work/perma.out" 2>/dev/null && break; sleep 0.1; done
  perma="$(sed -n 's/^perma listening on //p' "$work/perma.out")"
  [[ -n "$perma" ]] || { cat "$work/perma.err"; exit 1; }
}
# login: an authtoken of the admin (token) and the admin's uid (user_uid).
login() {
  local answer
  answer=$(curl -sf "$perma/v3/user-session" -H 'content-type: application/json' -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}")
  token=$(echo "$answer" | json 'v["user"]["authtoken"]')
  user_uid=$(echo "$answer" | json 'v["user"]["uid"]')
}
