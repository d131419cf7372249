#!/usr/bin/env bash
# izypop3 clientpop3 vs mpop, getmail6 and fetchmail, in one run, against
# one private Dovecot 2.3 serving the same 2000 ~20 KB messages, every
# fetcher delivering durably; then izypop3's peak RSS fetching one 50 MiB
# message. Needs root and the peers of .ci/install-deps.sh.
#
#   bench/fetchers.sh                      # 2000 × ~20 KB, 3 runs, 50 MiB
#   bench/fetchers.sh -runs 5 -fetchers izypop3,mpop
#   bench/fetchers.sh -fs journal          # deliver to a fresh journaled ext4
#
# Extra arguments go to bench/fetchers (go run ./bench/fetchers -h).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
exec go run ./bench/fetchers -bin bin "$@"
