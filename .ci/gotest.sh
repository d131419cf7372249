#!/usr/bin/env bash
# Runs `go test -v "$@"` with the full output kept in a log, and prints:
# every package result line, every skipped test with its reason (so no check
# is skipped silently), and on failure the whole log of the failing run.
set -uo pipefail
log=$(mktemp "${TMPDIR:-/tmp}/izypop3-gotest.XXXXXX")
go test -v "$@" >"$log" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "---- go test failed (exit $rc); full output follows ----"
	cat "$log"
	echo "---- end of go test output ----"
fi
echo "---- skipped tests (with reasons) ----"
awk '/^[[:space:]]*--- SKIP/ {print; getline; print}' "$log" || true
echo "---- package results ----"
grep -E '^(ok|FAIL|\?)[[:space:]]' "$log" || true
pass=$(grep -cE '^[[:space:]]*--- PASS' "$log")
fail=$(grep -cE '^[[:space:]]*--- FAIL' "$log")
skip=$(grep -cE '^[[:space:]]*--- SKIP' "$log")
echo "go test: $pass passed, $fail failed, $skip skipped (tests and subtests)"
rm -f "$log"
exit "$rc"
