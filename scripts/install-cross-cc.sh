#!/bin/sh
# install-cross-cc.sh — the C cross compilers `make dist` uses to build the
# USB HID scanner source (cgo) into the arm64, armv7 and Windows binaries.
# Installs Debian's packages (about 180 MB) when root and missing; without
# them dist still builds every target, without HID where no compiler is.
# With "qemu" (make dist-check) also qemu-user, to run the ARM binaries.
set -eu
want="aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu arm-linux-gnueabihf-gcc:gcc-arm-linux-gnueabihf
	x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64"
[ "${1:-}" = qemu ] && want="$want qemu-aarch64-static:qemu-user-static"
missing=""
for pair in $want; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing cross tools for the release builds:$missing"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	exit 0
fi
echo "missing (not root):$missing: dist binaries without a C compiler lack USB HID scanners" >&2
exit 1
