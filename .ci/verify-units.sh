#!/usr/bin/env bash
# systemd-analyze verify on the units of UNITDIR (default contrib/systemd),
# with izypop3 from BINDIR (default bin/, from make build) in place of
# /usr/local/bin:  verify-units.sh [BINDIR [UNITDIR]] verify only warns about unknown keys or bad values: any
# output at all fails here.
set -uo pipefail
cd "$(dirname "$0")/.."
bindir=$(cd "${1:-bin}" && pwd) || exit 1
unitdir=${2:-contrib/systemd}
if ! command -v systemd-analyze >/dev/null; then
	echo "verify-units: systemd-analyze not found (Debian package systemd)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=()
for u in "$unitdir"/*.service "$unitdir"/*.timer; do
	sed "s|/[^ ]*/bin/izypop3 |$bindir/izypop3 |g" "$u" >"$tmp/$(basename "$u")"
	units+=("$tmp/$(basename "$u")")
done
# Template units are verified through an instance name.
args=()
for u in "${units[@]}"; do
	case "$u" in
	*@.service | *@.timer) ln -s "$u" "${u/@./@example.}"; args+=("${u/@./@example.}") ;;
	*) args+=("$u") ;;
	esac
done
out=$(systemd-analyze verify "${args[@]}" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	echo "$out"
	echo "verify-units: systemd-analyze verify failed (exit $rc)" >&2
	exit 1
fi
echo "verify-units: ${#args[@]} units of $unitdir verified: $(cd "$unitdir" && echo *.service *.timer)"
