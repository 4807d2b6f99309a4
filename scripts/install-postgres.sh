#!/bin/sh
# Makes sure Debian's PostgreSQL server binaries are installed for pda-hq's
# PostgreSQL tests (fleet/hq/pgstore: each test run makes a throw-away
# cluster with initdb and pg_ctl in a temp dir). Installs only when no
# /usr/lib/postgresql/<ver>/bin/initdb exists and we are root; says what
# it did. Exit 0 if initdb is present afterwards, 1 otherwise (the tests
# then skip themselves, or fail when CI=true).
set -u

find_initdb() {
	for f in /usr/lib/postgresql/*/bin/initdb; do
		if [ -x "$f" ]; then
			echo "$f"
		fi
	done | sort -V | tail -n 1
}

INITDB=$(find_initdb)
if [ -n "$INITDB" ]; then
	echo "install-postgres: $INITDB is present; nothing to do"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-postgres: PostgreSQL is missing and we are not root; run as root:" >&2
	echo "  apt-get update && apt-get install -y postgresql" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-postgres: PostgreSQL is missing and apt-get is not available; install it by hand" >&2
	exit 1
fi

echo "install-postgres: PostgreSQL is missing; installing Debian's postgresql"
# The package starts a default cluster on 5432; the tests do not use it.
if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }; then
	echo "install-postgres: apt-get failed" >&2
fi

INITDB=$(find_initdb)
if [ -n "$INITDB" ]; then
	echo "install-postgres: installed $("$INITDB" --version 2>/dev/null)"
	exit 0
fi
echo "install-postgres: initdb is still missing" >&2
exit 1
