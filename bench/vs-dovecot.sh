#!/usr/bin/env bash
# izypop3 serverpop3 vs Dovecot 2.3 on this machine, in one run:
#   RETR throughput of the same 2000 ~20 KB messages (poplib, curl, Go client),
#   peak RSS streaming one 50 MiB message, RSS of 1000 idle sessions.
# Needs Dovecot, curl and python3 (.ci/install-deps.sh) and root (Dovecot's
# maildir is owned by an unprivileged user).
#
#   bench/vs-dovecot.sh                 # defaults: 2000 msgs, 3 runs, 50 MiB, 1000 sessions
#   bench/vs-dovecot.sh -runs 5 -clients poplib,go
#
# Extra arguments go to bench/vsdovecot (go run ./bench/vsdovecot -h).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
exec go run ./bench/vsdovecot -bin bin -scripts bench "$@"
