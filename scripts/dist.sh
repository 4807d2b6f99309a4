#!/bin/sh
# dist.sh — release builds of pda-agent (and pda-hq, when cmd/pda-hq exists)
# into an output directory, reproducibly: the same commit gives the same
# bytes on any machine with the same Go and C compilers.
#
#   scripts/dist.sh [OUT]            (default dist/; make dist)
#
# Environment: VERSION (default: git describe), GO (default go), TARGETS
# (default "linux/amd64 linux/arm64 linux/arm windows/amd64"), SOURCE_DATE_EPOCH
# (default: the commit time), PDA_NO_CGO=1 (build every target without cgo).
#
# Per target, the USB HID scanner source (device/hid: karalabe/usb, C code)
# is built in with cgo when a C compiler for the target is found, linked
# statically (so the binary runs on any glibc), and left out otherwise (the
# hid scanner type then reports itself unavailable); the script says which.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-dist}
GO=${GO:-go}
TARGETS=${TARGETS:-"linux/amd64 linux/arm64 linux/arm windows/amd64"}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
# Archive timestamps: the commit's time, never the clock.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH TZ=UTC LC_ALL=C
umask 022

# Same flags for every build: no paths, no VCS stamp, no build id, stripped.
LDFLAGS="-s -w -buildid= -X main.version=$VERSION"
export GOFLAGS="-trimpath -buildvcs=false"

case "$OUT" in "" | / | . | ..)
	echo "dist.sh: refusing to empty $OUT" >&2
	exit 64
	;;
esac
start=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# cross_cc prints the C compiler for GOOS/GOARCH, or nothing.
cross_cc() {
	case "$1/$2" in
	linux/amd64) cands="x86_64-linux-gnu-gcc" ;;
	linux/arm64) cands="aarch64-linux-gnu-gcc" ;;
	linux/arm) cands="arm-linux-gnueabihf-gcc" ;;
	windows/amd64) cands="x86_64-w64-mingw32-gcc" ;;
	*) cands="" ;;
	esac
	# The native compiler builds for the machine it runs on.
	if [ "$1/$2" = "$($GO env GOHOSTOS)/$($GO env GOHOSTARCH)" ]; then
		cands="$cands gcc cc"
	fi
	for c in $cands; do
		if command -v "$c" >/dev/null 2>&1; then
			echo "$c"
			return
		fi
	done
}

# build CMD GOOS GOARCH OUTFILE: prints "hid" or "nohid".
build() {
	cmd=$1 os=$2 arch=$3 outfile=$4
	goarm=""
	[ "$arch" = arm ] && goarm=7
	cc=""
	# Only pda-agent has C code (the HID source); pda-hq never needs cgo.
	if [ "$cmd" = pda-agent ] && [ -z "${PDA_NO_CGO:-}" ]; then
		cc=$(cross_cc "$os" "$arch")
	fi
	if [ -n "$cc" ]; then
		# Static, and pure-Go net/user lookups so glibc's NSS is not needed
		# at run time.
		GOOS=$os GOARCH=$arch GOARM=$goarm CGO_ENABLED=1 CC=$cc \
			$GO build -tags netgo,osusergo -ldflags "$LDFLAGS -linkmode external -extldflags -static" -o "$outfile" "./cmd/$cmd"
		echo "$cc, static"
	else
		GOOS=$os GOARCH=$arch GOARM=$goarm CGO_ENABLED=0 \
			$GO build -ldflags "$LDFLAGS" -o "$outfile" "./cmd/$cmd"
		echo "nohid"
	fi
}

# archive DIR NAME: a reproducible tar.gz (Linux) or zip (Windows) of DIR.
archive() {
	dir=$1 name=$2
	find "$stage/$name" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	case "$name" in
	*windows*)
		if ! command -v zip >/dev/null 2>&1; then
			echo "  (zip not installed: no $name.zip; apt-get install zip)" >&2
			return
		fi
		(cd "$stage" && find "$name" -print | sort | zip -X -D -q "$OUT/$name.zip" -@)
		;;
	*)
		tar -C "$stage" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
			--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
			-cf - "$name" | gzip -n -9 >"$OUT/$name.tar.gz"
		;;
	esac
}

hq=""
[ -d cmd/pda-hq ] && hq=yes
echo "pda-agent $VERSION, $($GO version | cut -d' ' -f3), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
for t in $TARGETS; do
	os=${t%/*} arch=${t#*/}
	exe=""
	[ "$os" = windows ] && exe=.exe
	suffix="$os-$arch"
	[ "$arch" = arm ] && suffix="$os-armv7"
	name="pda-agent-$VERSION-$suffix"
	mkdir -p "$stage/$name"
	hid=$(build pda-agent "$os" "$arch" "$stage/$name/pda-agent$exe")
	cp "$stage/$name/pda-agent$exe" "$OUT/pda-agent-$suffix$exe"
	line="  $t: pda-agent"
	case "$hid" in
	nohid) line="$line (USB HID scanners: not built in — no C compiler for $t; serial, camera, tcp work)" ;;
	*) line="$line (USB HID scanners: built in, $hid)" ;;
	esac
	if [ -n "$hq" ] && [ "$t" != linux/arm ]; then
		build pda-hq "$os" "$arch" "$stage/$name/pda-hq$exe" >/dev/null
		cp "$stage/$name/pda-hq$exe" "$OUT/pda-hq-$suffix$exe"
		line="$line, pda-hq"
	fi
	echo "$line"
	cp configs/example.yaml "$stage/$name/config.example.yaml"
	if [ "$os" = linux ]; then
		mkdir -p "$stage/$name/systemd" "$stage/$name/udev"
		cp packaging/systemd/pda-agent.service "$stage/$name/systemd/"
		cp configs/99-pda-scanners.rules "$stage/$name/udev/"
		cp packaging/install.sh "$stage/$name/install.sh"
	fi
	chmod -R u=rwX,go=rX "$stage/$name"
	chmod 0755 "$stage/$name"/pda-* "$stage/$name"/*.sh 2>/dev/null || true
	archive "$stage/$name" "$name"
done

(cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
echo "dist: $(ls "$OUT" | wc -l) files in $OUT/ in $(($(date +%s) - start)) s"
cat "$OUT/SHA256SUMS"
