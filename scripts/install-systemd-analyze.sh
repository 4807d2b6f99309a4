#!/bin/sh
# install-systemd-analyze.sh — the tools the packaging tests use:
# systemd-analyze (verify the unit) and strace (prove `validate`, the
# unit's ExecStartPre, never touches the network). Installs Debian's
# packages when root and missing; never fails the build by itself.
set -eu
missing=""
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v strace >/dev/null 2>&1 || missing="$missing strace"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing$missing (for the packaging tests)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	exit 0
fi
echo "missing and not root:$missing: those packaging checks will skip" >&2
exit 1
