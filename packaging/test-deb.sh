#!/usr/bin/env bash
# Builds perma's Debian package (`cargo deb`, [package.metadata.deb] in Cargo.toml) around a
# perma binary and uses it as an operator would, in a minimal Debian bookworm root made with
# debootstrap (shared with test-image.sh, cached in $PERMA_IMAGE_CACHE):
#   1. the package: the binary stripped (its line tables in perma-dbgsym), the unit as in
#      packaging/, /etc/perma/perma.env a conffile of mode 0640;
#   2. `dpkg -i` in a chroot: the `perma` system user, /var/lib/perma (0750, perma's), the
#      settings readable by perma and by no one else, the unit enabled;
#   3. perma started from the installed files as the unit starts it (its user, its
#      environment, the settings file), then through its port: sign in as the admin from
#      the settings, upload, permanent URL, replace; SIGTERM ends it with exit 0;
#   4. an upgrade to a new revision keeps the edited settings file (content, owner, mode)
#      and the data;
#   5. removal keeps settings and data, purge removes the settings and keeps the data.
#
#   packaging/test-deb.sh [PERMA_BINARY]     (default: target/debug/perma; needs root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$root/target/debug/perma}")"
cache="${PERMA_IMAGE_CACHE:-/var/cache/perma}"
for t in cargo-deb dpkg-deb debootstrap chroot curl python3 readelf; do
  command -v "$t" >/dev/null || { echo "test-deb.sh: missing $t" >&2; exit 1; }
done
work="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
source "$root/packaging/lib.sh"
chr="$work/root"
in_root() { chroot "$chr" "$@"; }

# 1. The package, around the given binary (cargo-deb takes it from the target directory).
mkdir -p "$work/target/release"
cp "$bin" "$work/target/release/perma"
build() { # revision
  (cd "$root" && CARGO_TARGET_DIR="$work/target" cargo deb --no-build --fast -q \
    --deb-revision "$1" -o "$work/deb$1/") > "$work/cargo-deb.log" 2>&1 \
    || { cat "$work/cargo-deb.log"; fail "cargo deb failed"; }
  ls "$work/deb$1"/perma_*-"$1"_amd64.deb
}
say "cargo deb"
deb1=$(build 1)
[[ -f "$(ls "$work"/deb1/perma-dbgsym_*.ddeb)" ]] || fail "no perma-dbgsym package"
dpkg-deb -c "$deb1" > "$work/contents"
has() { grep -Eq "^$1 +(root/root|0/0) .* \./$2\$" "$work/contents" || { cat "$work/contents"; fail "the package lacks $2 ($1)"; }; }
has -rwxr-xr-x usr/bin/perma
has -rw-r----- etc/perma/perma.env
has -rw-r--r-- usr/lib/systemd/system/perma.service
[[ "$(dpkg-deb -I "$deb1" conffiles)" == /etc/perma/perma.env ]] || fail "perma.env is not a conffile"
dpkg-deb -x "$deb1" "$work/x"
cmp -s "$work/x/usr/lib/systemd/system/perma.service" "$root/packaging/perma.service" \
  || fail "the packaged unit differs from packaging/perma.service"
if readelf -S "$work/x/usr/bin/perma" | grep -Eq '\.debug_(info|line)\b'; then
  fail "the packaged binary is not stripped"
fi
say "$(basename "$deb1"): $(( $(stat -c %s "$deb1") / 1048576 )) MiB, stripped binary $(( $(stat -c %s "$work/x/usr/bin/perma") / 1048576 )) MiB"

# 2. Installed into a Debian root.
rootfs=$(bookworm_root "$cache")
cp -a "$rootfs" "$chr"
cp "$deb1" "$chr/tmp/perma-1.deb"
say "dpkg -i in a bookworm chroot"
in_root dpkg -i /tmp/perma-1.deb > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
IFS=: read -r _ _ perma_uid _ _ home shell < <(in_root getent passwd perma) || fail "no perma user"
(( perma_uid < 1000 )) || fail "perma is not a system user (uid $perma_uid)"
[[ "$shell" == /usr/sbin/nologin && "$home" == /var/lib/perma ]] || fail "perma user: home $home, shell $shell"
# (owners as the root's own /etc/passwd names them)
mode() { in_root stat -c '%U:%G %a' "$1"; }
[[ "$(mode /var/lib/perma)" == "perma:perma 750" ]] || fail "/var/lib/perma is $(mode /var/lib/perma)"
env_mode() { mode /etc/perma/perma.env; }
[[ "$(env_mode)" == "root:perma 640" ]] || fail "/etc/perma/perma.env is $(env_mode)"
in_root chroot --userspec=perma:perma / cat /etc/perma/perma.env >/dev/null \
  || fail "perma cannot read /etc/perma/perma.env"
in_root chroot --userspec=nobody:nogroup / cat /etc/perma/perma.env >/dev/null 2>&1 \
  && fail "another user can read /etc/perma/perma.env"
[[ -L "$chr/etc/systemd/system/multi-user.target.wants/perma.service" ]] || fail "the unit is not enabled"
in_root /usr/bin/perma --version | grep -q '^perma ' || fail "the installed perma does not run"

# 3. perma as the unit runs it: its user, its Environment= and EnvironmentFile=, its
# working directory (systemd is not running in a chroot, so this is done by hand).
email=ops@example.com password='package test password'
cat >> "$chr/etc/perma/perma.env" <<SETTINGS
PERMA_ADMIN_EMAIL=$email
PERMA_ADMIN_PASSWORD=$password
PERMA_LISTEN=127.0.0.1:0
PERMA_LOG=warn
SETTINGS
cp "$chr/etc/perma/perma.env" "$work/settings"
unit_env=$(sed -n 's/^Environment=//p' "$root/packaging/perma.service")
[[ -n "$unit_env" ]] || fail "no Environment= in the unit"
start() {
  local out="$work/perma.out"
  : > "$out"
  # The settings file as systemd reads it: one VAR=value per line, the value the rest of the
  # line (spaces included).
  local settings=()
  mapfile -t settings < <(grep -Ev '^[[:space:]]*(#|$)' "$chr/etc/perma/perma.env")
  # shellcheck disable=SC2086 # the unit's Environment= words, one variable each
  chroot --userspec=perma:perma "$chr" /usr/bin/env -i PATH=/usr/bin:/bin $unit_env "${settings[@]}" \
    /bin/sh -c 'cd /var/lib/perma && exec /usr/bin/perma serve' > "$out" 2> "$work/perma.err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "perma listening on" "$out" && break; sleep 0.1; done
  base=$(sed -n 's/^perma listening on //p' "$out")
  [[ -n "$base" ]] || { cat "$work/perma.err"; fail "the installed perma did not start"; }
  [[ "$(stat -c %u "/proc/$pid")" == "$perma_uid" ]] || fail "perma runs as uid $(stat -c %u "/proc/$pid"), not perma's $perma_uid"
}
stop() {
  kill -TERM "$pid"
  local rc=0; wait "$pid" || rc=$?
  pid=""
  [[ $rc == 0 ]] || { cat "$work/perma.err"; fail "perma exited with $rc on SIGTERM"; }
}
say "serve from the installed files: sign in, upload, permanent URL, replace"
start
first_steps
[[ -f "$chr/var/lib/perma/perma.db" ]] || fail "no database in /var/lib/perma"
stop

# 4. An upgrade keeps the edited settings and the data.
say "upgrade to revision 2"
deb2=$(build 2)
cp "$deb2" "$chr/tmp/perma-2.deb"
in_root dpkg -i /tmp/perma-2.deb > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "the upgrade failed"; }
[[ "$(in_root dpkg-query -W -f '${Version}' perma)" == *-2 ]] || fail "revision 2 is not installed"
cmp -s "$chr/etc/perma/perma.env" "$work/settings" || fail "the upgrade changed /etc/perma/perma.env"
[[ "$(env_mode)" == "root:perma 640" ]] || fail "after the upgrade /etc/perma/perma.env is $(env_mode)"
start
check_still_there
stop

# 5. Removal keeps settings and data; purge removes the settings only.
say "dpkg -r, dpkg -P"
in_root dpkg -r perma > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r failed"; }
[[ ! -e "$chr/usr/bin/perma" ]] || fail "dpkg -r left /usr/bin/perma"
cmp -s "$chr/etc/perma/perma.env" "$work/settings" || fail "dpkg -r removed the settings"
in_root dpkg -P perma > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -P failed"; }
[[ ! -e "$chr/etc/perma" ]] || fail "purge left /etc/perma"
[[ ! -e "$chr/etc/systemd/system/multi-user.target.wants/perma.service" ]] || fail "purge left the unit enabled"
[[ -f "$chr/var/lib/perma/perma.db" ]] || fail "purge removed the data"
say "the package works"
