# Shared by packaging/test-image.sh and packaging/test-deb.sh (sourced; needs `work`, a
# scratch directory, set by the caller).

say() { printf '==> %s\n' "$*"; }
fail() { echo "$(basename "$0"): $*" >&2; exit 1; }
json() { python3 -c "import sys,json; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# A minimal Debian bookworm root made with debootstrap from the machine's apt mirror, cached
# in $1 (one build per machine), trimmed as Debian's slim images are (no documentation,
# manual pages, translations or package caches). Prints its path.
bookworm_root() {
  local cache="$1" rootfs="$1/bookworm-rootfs" mirror
  if [[ ! -f "$rootfs/etc/debian_version" ]]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [[ -n "$mirror" ]] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
    say "debootstrap bookworm (minbase) from the apt mirror" >&2
    rm -rf "$rootfs.tmp"; mkdir -p "$cache"
    debootstrap --variant=minbase bookworm "$rootfs.tmp" "$mirror" > "$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    mv "$rootfs.tmp" "$rootfs"
  fi
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old
  echo "$rootfs"
}

# Signs in at $base as $email/$password; sets `token`.
sign_in() {
  token=$(curl -sf "$base/v3/user-session" -H 'content-type: application/json' \
    -d "{\"user\":{\"email\":\"$email\",\"password\":\"$password\"}}" | json 'v["user"]["authtoken"]') \
    || fail "could not sign in as $email"
}

# What an operator tries first, through perma's port at $base: sign in, make a stack, upload
# a file, generate its permanent URL and fetch it, replace the file and fetch the new bytes
# through the same URL. Sets `token`, `key`, `uid` and `permanent`; the file now served is
# $work/two.txt.
first_steps() {
  sign_in
  key=$(curl -sf "$base/v3/stacks" -H "authtoken: $token" -H 'content-type: application/json' \
    -d '{"stack":{"name":"Packaging test"}}' | json 'v["stack"]["api_key"]')
  printf 'first file of the packaging test\n' > "$work/one.txt"
  printf 'second file, replaced\n' > "$work/two.txt"
  uid=$(curl -sf "$base/v3/assets" -H "authtoken: $token" -H "api_key: $key" \
    -F "asset[upload]=@$work/one.txt" | json 'v["asset"]["uid"]')
  curl -sf -o /dev/null -X PUT "$base/v3/assets/$uid" -H "authtoken: $token" -H "api_key: $key" \
    -H 'content-type: application/json' -d '{"asset":{"permanent_url":"notes.txt"}}'
  permanent="/v3/assets/$key/$uid/notes.txt"
  check_permanent "$work/one.txt"
  curl -sf -o /dev/null -X PUT "$base/v3/assets/$uid" -H "authtoken: $token" -H "api_key: $key" \
    -F "asset[upload]=@$work/two.txt"
  check_permanent "$work/two.txt"
}

# The permanent URL answers 200 with the bytes of $1, an ETag, Cache-Control and the type.
check_permanent() {
  local got="$work/got" headers="$work/headers"
  curl -s -D "$headers" -o "$got" "$base$permanent" || fail "GET $permanent failed"
  grep -q "^HTTP/1.1 200" "$headers" || { cat "$headers" "$got"; fail "GET $permanent: $(head -1 "$headers")"; }
  cmp -s "$got" "$1" || fail "the permanent URL served other bytes"
  grep -qi '^etag: ' "$headers" || fail "no ETag"
  grep -qi '^cache-control: ' "$headers" || fail "no Cache-Control"
  grep -qi '^content-type: text/plain' "$headers" || fail "wrong Content-Type: $(grep -i content-type "$headers")"
}

# After a restart: the permanent URL still serves the replaced file, and the asset kept both
# versions.
check_still_there() {
  check_permanent "$work/two.txt"
  sign_in
  local versions
  versions=$(curl -sf "$base/v3/assets/$uid/versions" -H "api_key: $key" -H "authtoken: $token" \
    | json 'len(v["versions"])')
  (( versions >= 2 )) || fail "the asset lost its history ($versions versions)"
}
