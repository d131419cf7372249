#!/usr/bin/env bash
# The install paths give a working set with no store binary beside izypop3:
#   1. make install DESTDIR=$tmp: the installed izypop3 alone (no plugin
#      dir, a PATH without the build tree) serves a localfs mailbox, and
#      curl retrieves the message byte for byte; the installed units verify.
#   2. go install (the README's path, here from this clone): the binary
#      finds the bundled fake and localfs stores and passes the self-test.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "install-check: FAIL: $*" >&2
	[ -f "$tmp/server.log" ] && cat "$tmp/server.log" >&2
	exit 1
}

make --no-print-directory install DESTDIR="$tmp/root" PREFIX=/usr/local >"$tmp/install.log" || { cat "$tmp/install.log"; fail "make install"; }
bin=$tmp/root/usr/local/bin
[ "$(ls "$bin")" = izypop3 ] || fail "installed binaries: $(ls "$bin"), want izypop3 alone"
for f in lib/systemd/system/izypop3.service lib/systemd/system/izypop3-fetch.service lib/systemd/system/izypop3-fetch@.service \
	lib/systemd/system/izypop3-fetch@.timer lib/sysusers.d/izypop3.conf share/doc/izypop3/LICENSE; do
	[ -f "$tmp/root/usr/local/$f" ] || fail "not installed: $f"
done

# A mailbox of one message with CRLF line ends, as curl prints it.
mkdir -p "$tmp/mail/alice"
printf 'From: a@example.com\r\nTo: alice@example.com\r\nSubject: installed\r\n\r\nserved by the installed izypop3\r\n.dot-stuffed line\r\n' >"$tmp/mail/alice/m1.eml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i HOME="$tmp" PATH=/usr/bin:/bin "$bin/izypop3" serverpop3 --listen 127.0.0.1 --port "$port" \
	--password pw --modhandler localfs --mimestore.path "$tmp/mail" --log-format text >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -s "pop3://127.0.0.1:$port/" --user alice:pw -o /dev/null && break
	sleep 0.1
done
curl -sS --max-time 20 "pop3://127.0.0.1:$port/1" --user alice:pw -o "$tmp/got.eml" || fail "curl RETR"
cmp "$tmp/mail/alice/m1.eml" "$tmp/got.eml" || fail "curl got other bytes than the stored message"
grep -q "bundled in $bin/izypop3\|plugin=$bin/izypop3" "$tmp/server.log" || fail "the store was not the bundled one"
kill "$pid"
wait "$pid" || fail "server exit status after SIGTERM"
pid=
echo "install-check: make install: $bin/izypop3 alone served $(wc -c <"$tmp/got.eml") octets to curl, byte for byte"
bash .ci/verify-units.sh "$bin" "$tmp/root/usr/local/lib/systemd/system"

# go install: GOBIN gets one binary, which has the stores.
GOBIN="$tmp/gobin" go install ./cmd/izypop3
[ "$(ls "$tmp/gobin")" = izypop3 ] || fail "go install made: $(ls "$tmp/gobin")"
plugins=$(env -i HOME="$tmp" PATH=/usr/bin:/bin "$tmp/gobin/izypop3" plugins)
for s in fake localfs; do
	grep -q "^$s .*bundled in $tmp/gobin/izypop3" <<<"$plugins" || { echo "$plugins"; fail "go install: $s not found"; }
done
(cd "$tmp" && env -i HOME="$tmp" PATH=/usr/bin:/bin "$tmp/gobin/izypop3" test --testtype fullclientserver >"$tmp/selftest.log") ||
	{ cat "$tmp/selftest.log"; fail "go install: self-test"; }
echo "install-check: go install: $tmp/gobin/izypop3 finds fake and localfs; self-test passed"
