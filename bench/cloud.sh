#!/usr/bin/env bash
# The cloud store against a real SeaweedFS on this machine, in one run: Put
# rate, RETR throughput with a pipelined client (default read-ahead, read-
# ahead off, and localfs over the same octets), login of a 10 000-object
# mailbox. Needs weed (bash .ci/seaweedfs.sh builds it once per machine).
#
#   bench/cloud.sh                    # 2000 x ~20 KB, 3 runs, 10 000-object login
#   bench/cloud.sh -runs 5 -login 0
#
# Extra arguments go to bench/cloud (go run ./bench/cloud -h).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build >/dev/null
exec go run ./bench/cloud -bin bin "$@"
