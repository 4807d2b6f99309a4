#!/bin/sh
# dist-check.sh — prove the release builds reproducible: build the same
# source twice, in two different directories, and compare every file's
# SHA-256 (binaries and archives).
#
#   scripts/dist-check.sh          all targets; the second build with an
#                                  empty Go build cache (slow: minutes);
#                                  then the ARM binaries run under qemu-user
#                                  when it is installed
#   scripts/dist-check.sh quick    linux/amd64 only, shared cache (make test)
set -eu
cd "$(dirname "$0")/.."
mode=${1:-full}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export VERSION SOURCE_DATE_EPOCH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

# One snapshot of the tree (tracked and new files), copied to two paths of
# different names and lengths: -trimpath must keep them out of the binary.
mkdir -p "$tmp/a/src" "$tmp/b/another-checkout/pda-agent"
git ls-files -co --exclude-standard -z | grep -zv "^dist/" | xargs -0 tar -cf "$tmp/tree.tar"
tar -xf "$tmp/tree.tar" -C "$tmp/a/src"
tar -xf "$tmp/tree.tar" -C "$tmp/b/another-checkout/pda-agent"

if [ "$mode" = quick ]; then
	export TARGETS=linux/amd64
	(cd "$tmp/a/src" && scripts/dist.sh "$tmp/out-a") >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; exit 1; }
	(cd "$tmp/b/another-checkout/pda-agent" && scripts/dist.sh "$tmp/out-b") >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; exit 1; }
else
	(cd "$tmp/a/src" && scripts/dist.sh "$tmp/out-a") >"$tmp/a.log" 2>&1 || { cat "$tmp/a.log"; exit 1; }
	# The second build compiles everything again, from an empty cache.
	(cd "$tmp/b/another-checkout/pda-agent" && GOCACHE="$tmp/gocache" scripts/dist.sh "$tmp/out-b") >"$tmp/b.log" 2>&1 || { cat "$tmp/b.log"; exit 1; }
fi
grep -v '^[0-9a-f]\{64\} ' "$tmp/a.log"
if ! diff "$tmp/out-a/SHA256SUMS" "$tmp/out-b/SHA256SUMS"; then
	echo "dist-check: NOT reproducible (above: first build < > second build)" >&2
	exit 1
fi
echo "dist-check ($mode): $(wc -l <"$tmp/out-a/SHA256SUMS") files identical across two builds in two directories ($(($(date +%s) - start)) s)"

# The ARM binaries are only built here; where qemu-user is installed, run
# them: the version stamp, and the whole demo (queue, fsync, SM2/SM4,
# uploads to the sandboxes on loopback) on the target's instruction set.
if [ "$mode" = full ]; then
	for t in arm64:qemu-aarch64-static armv7:qemu-arm-static; do
		arch=${t%%:*} q=${t#*:} bin="$tmp/out-a/pda-agent-linux-$arch"
		if ! command -v "$q" >/dev/null 2>&1; then
			echo "dist-check: $q not installed: linux/$arch binary not run (apt-get install qemu-user-static)"
			continue
		fi
		"$q" "$bin" version | grep -q "$VERSION" || { echo "dist-check: linux/$arch: version not stamped" >&2; exit 1; }
		if ! (cd "$tmp" && timeout 600 "$q" "$bin" demo >"$tmp/demo-$arch.log" 2>&1); then
			tail -20 "$tmp/demo-$arch.log" >&2
			echo "dist-check: linux/$arch: the demo failed under $q" >&2
			exit 1
		fi
		ok=$(grep -c 'codes identical: OK' "$tmp/demo-$arch.log" || true)
		if [ "$ok" != 3 ]; then
			cat "$tmp/demo-$arch.log" >&2
			echo "dist-check: linux/$arch: $ok of 3 sandbox ledgers match in the demo" >&2
			exit 1
		fi
		echo "dist-check: linux/$arch under $q: the demo passes (3/3 sandbox ledgers match)"
	done
fi
