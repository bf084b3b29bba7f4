#!/usr/bin/env bash
# fetch-arm64-debs.sh DIR PACKAGE... - download Debian arm64 packages with a private apt state
# (dpkg's architecture list and the system's apt stay untouched) and unpack them under DIR.
# The aarch64 cross build uses it for the target's zlib (libz.a + zlib.h), which the host's
# cross tool chain does not ship. Needs apt-get and network access, like `make deps`.
set -euo pipefail
dir=$1
shift
state=$(mktemp -d /tmp/trim-apt-arm64.XXXXXX)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$dir"
touch "$state/status"
cat > "$state/apt.conf" <<CONF
Dir::State::Lists "$state/lists";
Dir::State::status "$state/status";
Dir::Cache "$state/cache";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
CONF
export APT_CONFIG="$state/apt.conf"
apt-get update -qq
(cd "$state/debs" && apt-get download -qq "$@")
for d in "$state"/debs/*.deb; do dpkg-deb -x "$d" "$dir"; done
echo "fetch-arm64-debs: unpacked $* under $dir"
