#!/bin/sh
# Makes sure Debian's chromium (and a CJK font, so the Chinese page renders
# readably in screenshots) is installed for the clerk page's browser test
# (agent/api/ui_test.go). Installs only when /usr/bin/chromium is missing
# and we are root; says what it did. Exit 0 if chromium is present
# afterwards, 1 otherwise (the browser test then skips itself).
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	echo "install-chromium: $CHROMIUM is present; nothing to do"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-chromium: $CHROMIUM is missing and we are not root; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: $CHROMIUM is missing and apt-get is not available; install chromium by hand" >&2
	exit 1
fi

echo "install-chromium: $CHROMIUM is missing; installing Debian's chromium"
if ! { apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; }; then
	echo "install-chromium: apt-get failed" >&2
fi

if [ -x "$CHROMIUM" ]; then
	echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null | tail -n 1)"
	exit 0
fi
echo "install-chromium: $CHROMIUM is still missing" >&2
exit 1
