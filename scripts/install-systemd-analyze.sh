#!/bin/sh
# install-systemd-analyze.sh — systemd-analyze, for checking the packaged
# unit (packaging/systemd_test.go). Installs Debian's systemd package when
# root and missing; never fails the build by itself.
set -eu
if command -v systemd-analyze >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing systemd (for systemd-analyze verify)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
	exit 0
fi
echo "systemd-analyze not found and not root: the unit check will skip" >&2
exit 1
