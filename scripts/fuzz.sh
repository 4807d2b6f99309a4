#!/bin/sh
# Runs every fuzz target of the module for FUZZTIME each (default 5s).
# The inputs that found bugs are kept as testdata seeds by `go test -fuzz`.
set -eu
FUZZTIME=${FUZZTIME:-5s}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $target ($FUZZTIME)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/pda-fuzz.log 2>&1 || {
			cat /tmp/pda-fuzz.log
			exit 1
		}
	done
done
