#!/usr/bin/env bash
# Runs `go test -json "$@"` and prints a report (internal/testreport): every
# skipped test with its reason (no check is skipped silently), the output of
# every failed test, one line per package, and "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
go build -o "${TMPDIR:-/tmp}/izypop3-testreport" ./internal/testreport || exit 1
go test -json "$@" 2>&1 | "${TMPDIR:-/tmp}/izypop3-testreport"
rc=("${PIPESTATUS[@]}")
if [ "${rc[0]}" -ne 0 ] || [ "${rc[1]}" -ne 0 ]; then
	echo "go test failed (go test exit ${rc[0]}, report exit ${rc[1]})"
	exit 1
fi
