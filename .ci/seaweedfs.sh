#!/usr/bin/env bash
# Builds the SeaweedFS server (weed) that the cloud store's end-to-end tests
# run against, once per machine: the binary is cached outside the clone, in
# $IZYPOP3_CACHE (default /var/cache/izypop3), keyed by the pinned version, and
# a second run only prints its path. The source comes from the Go module
# proxy like any module (SeaweedFS is a Go program); the build takes ~15-20
# minutes on 2 cores and ~1 GB of module cache.
#
# Prints the path of the weed binary on its last line. With --check it builds
# nothing: it prints the path and exits 0 if the binary is there, else 1.
set -euo pipefail

# Pinned: the newest SeaweedFS the module proxy served when this was written.
VERSION=v0.0.0-20261109003541-7506e5f91cd6
MODULE=github.com/seaweedfs/seaweedfs

cache=${IZYPOP3_CACHE:-/var/cache/izypop3}
dir="$cache/seaweedfs-${VERSION##*-}"
weed="$dir/weed"

if [ -x "$weed" ]; then
	echo "$weed"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "seaweedfs: $weed not built (run .ci/seaweedfs.sh)" >&2
	exit 1
fi

export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "seaweedfs: building $MODULE@$VERSION into $dir (once per machine)" >&2
src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -d "$src/weed" ]; then
	echo "seaweedfs: go mod download of $MODULE@$VERSION gave no source" >&2
	exit 1
fi
# Build in the module's directory (read-only in the module cache: the output
# goes elsewhere) so its own go.mod and go.sum decide every dependency.
(cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$work/weed" ./weed)
mv "$work/weed" "$weed"
echo "$weed"
