#!/usr/bin/env bash
# make test's set-up: the programs the tests talk to (Dovecot, mpop,
# fetchmail, curl, Python 3), protoc for the generated-code check, and the
# test user. If any is missing: as root, installs them (.ci/install-deps.sh);
# otherwise prints the one command to run and fails. As root it also builds
# SeaweedFS (weed, for the cloud store's end-to-end tests) once per machine
# (.ci/seaweedfs.sh): run as root, those tests fail without it; otherwise they
# skip loudly, naming the script.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! bash .ci/seaweedfs.sh --check >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "make test: building SeaweedFS once per machine (~20 min): bash .ci/seaweedfs.sh"
		bash .ci/seaweedfs.sh || exit 1
	else
		echo "make test: SeaweedFS (weed) is not built: the cloud store's SeaweedFS tests will skip; build it with:  sudo bash .ci/seaweedfs.sh"
	fi
fi

missing=$(bash .ci/install-deps.sh --check) && exit 0
echo "make test: missing on this machine: $missing"
case " $missing " in
*" protobuf-compiler "*) echo "  (protobuf-compiler provides protoc, which make proto-check runs)" ;;
esac
if [ "$(id -u)" -eq 0 ]; then
	echo "make test: installing them: bash .ci/install-deps.sh"
	exec bash .ci/install-deps.sh
fi
echo "make test: install them with:  sudo bash .ci/install-deps.sh" >&2
exit 1
