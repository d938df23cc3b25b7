#!/usr/bin/env bash
# Builds perma's container image (Containerfile, target `prebuilt`) from a perma binary and
# runs it for real, with nothing pulled from an image registry:
#   1. a minimal Debian bookworm root made with debootstrap from the machine's apt mirror
#      (cached in $PERMA_IMAGE_CACHE, default /var/cache/perma), imported as the local
#      debian:bookworm-slim;
#   2. `buildah bud --pull=never` of the runtime image with the given binary (stripped);
#   3. the image started with `buildah run --isolation chroot`, its /data a volume: the admin from
#      the environment logs in, uploads a file, generates a permanent URL, fetches it,
#      replaces the file and fetches the new bytes through the same URL; SIGTERM stops it
#      (exit 0 in under 10 s); started again on the same volume, the asset and its permanent
#      URL are still there.
# Prints the image's compressed size (gzip layers, as a registry stores them).
#
#   packaging/test-image.sh [PERMA_BINARY]     (default: target/debug/perma; needs root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/debug/perma}"
cache="${PERMA_IMAGE_CACHE:-/var/cache/perma}"
for t in buildah debootstrap curl python3 strip; do
  command -v "$t" >/dev/null || { echo "test-image.sh: missing $t" >&2; exit 1; }
done
b() { buildah --storage-driver vfs "$@"; }
work="$(mktemp -d)"
pid="" ctrs=()
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  for c in "${ctrs[@]}"; do b rm "$c" >/dev/null 2>&1 || true; done
  b rmi localhost/perma:test >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
source "$root/packaging/lib.sh"

# 1. The base image, made here.
rootfs=$(bookworm_root "$cache")
if ! b inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
  say "importing it as debian:bookworm-slim"
  ctr=$(b from scratch)
  mnt=$(b mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  b umount "$ctr" >/dev/null
  b config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  b commit --rm -q "$ctr" docker.io/library/debian:bookworm-slim >/dev/null
fi

# 2. The runtime image from the binary.
say "buildah bud --target prebuilt"
mkdir "$work/ctx"
cp "$root/Containerfile" "$work/ctx/"
strip -o "$work/ctx/perma" "$bin"
b bud --pull=never --isolation chroot --target prebuilt -q -t localhost/perma:test \
  -f "$work/ctx/Containerfile" "$work/ctx" > "$work/bud.log" 2>&1 || { cat "$work/bud.log"; fail "the image did not build"; }
b push -q localhost/perma:test "oci:$work/oci" > /dev/null
size=$(du -sb "$work/oci/blobs" | cut -f1)
say "image size, compressed layers: $(( size / 1048576 )) MiB (target < 60 MiB)"

# 3. Run it, as an operator would. `buildah run` always mounts a volume of its own on the
# image's declared VOLUME (/data), whatever `-v` says; that volume lives with the working
# container, so both starts run in one container: the second finds what the first wrote
# in /data, with the image's own defaults (PERMA_DATA_DIR=/data, user perma).
email=ops@example.com password='image test password'
ctr=$(b from --pull=never -q localhost/perma:test); ctrs+=("$ctr")
start() {
  local out="$work/perma.out"
  : > "$out"
  b run --isolation chroot \
    -e PERMA_LISTEN=127.0.0.1:0 -e PERMA_LOG=warn \
    -e PERMA_ADMIN_EMAIL="$email" -e PERMA_ADMIN_PASSWORD="$password" \
    "$ctr" -- /usr/local/bin/perma serve > "$out" 2> "$work/perma.err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "perma listening on" "$out" && break; sleep 0.1; done
  base=$(sed -n 's/^perma listening on //p' "$out")
  [[ -n "$base" ]] || { cat "$work/perma.err"; fail "perma did not start in the image"; }
  # The process inside: the child of `buildah run` (stopped by its pid, never its name).
  inner=""
  local p=$pid
  for _ in 1 2 3 4; do
    p=$(ps -o pid= --ppid "$p" | head -1 | tr -d ' ')
    [[ -n "$p" ]] || break
    if [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == perma ]]; then inner=$p; break; fi
  done
  [[ -n "$inner" ]] || fail "no perma process under buildah run"
  [[ "$(stat -c %u "/proc/$inner")" == 10001 ]] || fail "perma runs as uid $(stat -c %u "/proc/$inner"), not 10001"
}
say "start, log in, upload, permanent URL, replace"
start
first_steps

say "SIGTERM"
t0=$(date +%s%N)
kill -TERM "$inner"
rc=0; wait "$pid" || rc=$?
pid=""
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $rc == 0 ]] || fail "perma exited with $rc on SIGTERM"
(( ms < 10000 )) || fail "SIGTERM took ${ms} ms"
say "stopped with exit 0 in ${ms} ms"

say "start again on the same volume"
start
check_still_there
kill -TERM "$inner"; wait "$pid" || true; pid=""
say "the image works"
