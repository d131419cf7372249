#!/usr/bin/env bash
# Installs, on a fresh Debian 12 machine, every program the interop tests
# (test/interop) and the Dovecot benchmark (bench/) talk to, and creates the
# unprivileged user that owns the test maildirs (Dovecot refuses uid 0 for
# mail access). Idempotent and quiet: a second run installs nothing and only
# prints what is there.
#
# The Debian dovecot package starts a system-wide Dovecot on ports 110/143/
# 993/995 when installed; the tests run their own instance from a generated
# config on a free loopback port, so the system service is stopped and
# disabled here (and kept from starting while apt installs it).
#
# With --check it installs nothing: it lists what is missing and exits 1 if
# anything is (make test runs it so, then installs as root or says how).
set -euo pipefail

check=false
if [ "${1:-}" = "--check" ]; then
	check=true
elif [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get, useradd)" >&2
	exit 1
fi

# Debian packages the tests need. Each line: package, and a command it
# provides that proves it is installed.
PKGS=(
	dovecot-core      # dovecot, doveconf, /usr/lib/dovecot/dovecot-lda
	dovecot-pop3d     # the POP3 service of the reference server
	mpop              # POP3 peer: maildir delivery
	fetchmail         # POP3 peer: MDA delivery
	getmail6          # POP3 fetcher compared by bench/fetchers.sh
	curl              # POP3 peer: pop3:// URLs
	python3           # POP3 peer: poplib; bench client
	protobuf-compiler # make proto
	procps            # ps/pgrep for the benchmark's RSS sampling
	systemd           # systemd-analyze verify of contrib/systemd
	prometheus        # promtool check metrics (the --http-listen test)
	ca-certificates
)
# Strip the comments to get the package names.
names=()
for p in "${PKGS[@]}"; do names+=("${p%% *}"); done

missing=()
for n in "${names[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$n" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$n")
	fi
done

if $check; then
	id izytest >/dev/null 2>&1 || missing+=("user:izytest")
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "${missing[*]}"
		exit 1
	fi
	exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
	# Keep the package's maintainer scripts from starting the system Dovecot
	# (policy-rc.d exit 101 = action forbidden); removed again afterwards if
	# we created it.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "install-deps: apt-get failed for: ${missing[*]}" >&2
		exit 1
	fi
	rm -f "$log"
	echo "install-deps: installed: ${missing[*]}"
else
	echo "install-deps: all packages already installed"
fi

# Stop and disable the system Dovecot so nothing holds 110/995 and no stray
# instance answers a test. Each step may fail harmlessly (no systemd in a
# container, service not running).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/dovecot ]; then
	/etc/init.d/dovecot stop >/dev/null 2>&1 || true
	update-rc.d dovecot disable >/dev/null 2>&1 || true
fi
# A system instance started from /etc/dovecot has its master pid here.
if [ -s /run/dovecot/master.pid ]; then
	pid=$(cat /run/dovecot/master.pid)
	if kill -0 "$pid" 2>/dev/null && grep -q dovecot "/proc/$pid/comm" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
fi

# The unprivileged owner of test maildirs (test/interop/dovecottest uses it
# when it exists, else nobody).
if ! id izytest >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin izytest
	echo "install-deps: created user izytest"
fi

for n in "${names[@]}"; do
	printf '  %-18s %s\n' "$n" "$(dpkg-query -W -f='${Version}' "$n" 2>/dev/null)"
done
