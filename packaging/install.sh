#!/bin/sh
# install.sh — install pda-agent on a Linux PDA or store PC with systemd and
# udev. Run as root from the unpacked release archive:
#
#   tar xzf pda-agent-<version>-linux-<arch>.tar.gz
#   cd pda-agent-<version>-linux-<arch> && sudo ./install.sh [--no-start]
#
# It is safe to run again (an upgrade): it never overwrites the config nor
# an adapted udev rule, and restarts the service if it runs.
set -eu
cd "$(dirname "$0")"
start=yes
[ "${1:-}" = "--no-start" ] && start=no
if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (sudo ./install.sh)" >&2
	exit 77
fi

# The service user, and the groups its unit names (SupplementaryGroups=
# fails the start if a group does not exist).
for g in pda-agent dialout plugdev; do
	getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! getent passwd pda-agent >/dev/null; then
	useradd --system --gid pda-agent --home-dir /var/lib/pda-agent --no-create-home \
		--shell /usr/sbin/nologin --comment "pda-agent trace-code agent" pda-agent
fi

install -m 0755 pda-agent /usr/bin/pda-agent
[ -f pda-hq ] && install -m 0755 pda-hq /usr/bin/pda-hq

# Config: root's, readable by the agent; secrets go in pda-agent.env (0600,
# read by systemd as root), never in config.yaml.
install -d -m 0750 -o root -g pda-agent /etc/pda-agent
if [ ! -e /etc/pda-agent/config.yaml ]; then
	install -m 0640 -o root -g pda-agent config.example.yaml /etc/pda-agent/config.yaml
	fresh=yes
else
	fresh=no
fi
install -m 0644 config.example.yaml /etc/pda-agent/config.example.yaml
if [ ! -e /etc/pda-agent/pda-agent.env ]; then
	install -m 0600 /dev/null /etc/pda-agent/pda-agent.env
	echo "# PDA_MSFX_APP_SECRET=…  PDA_WEBHOOK_SECRET=…  (one per line)" >/etc/pda-agent/pda-agent.env
fi

# Scanner access without root. The shipped rule has EXAMPLE ids: adapt it
# (lsusb) in /etc/udev/rules.d; an adapted one is kept on upgrade.
if [ -d /etc/udev/rules.d ]; then
	if [ ! -e /etc/udev/rules.d/99-pda-scanners.rules ]; then
		install -m 0644 udev/99-pda-scanners.rules /etc/udev/rules.d/99-pda-scanners.rules
		echo "installed /etc/udev/rules.d/99-pda-scanners.rules: put your scanners' USB ids in it (see its header)"
	fi
	if command -v udevadm >/dev/null 2>&1; then
		udevadm control --reload-rules || true
		udevadm trigger --subsystem-match=usb --subsystem-match=tty || true
	fi
fi

install -m 0644 systemd/pda-agent.service /etc/systemd/system/pda-agent.service
systemctl daemon-reload

if [ "$fresh" = yes ]; then
	echo "wrote /etc/pda-agent/config.yaml from the example: set device.id, the destinations and the scanners,"
	echo "then: pda-agent validate --config /etc/pda-agent/config.yaml && systemctl enable --now pda-agent"
	exit 0
fi
if [ "$start" = yes ]; then
	# The unit's ExecStartPre validates the config with its environment
	# files; a bad config fails the start with every bad key in the journal.
	systemctl enable pda-agent
	if ! systemctl restart pda-agent; then
		journalctl -u pda-agent -n 30 --no-pager >&2 || true
		echo "pda-agent did not start (above); fix /etc/pda-agent/config.yaml, then: systemctl restart pda-agent" >&2
		exit 1
	fi
	systemctl --no-pager status pda-agent || true
fi
