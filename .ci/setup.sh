#!/usr/bin/env bash
# make test's set-up: the programs the tests talk to (Dovecot, mpop,
# fetchmail, curl, Python 3), protoc for the generated-code check, and the
# test user. If any is missing: as root, installs them (.ci/install-deps.sh);
# otherwise prints the one command to run and fails.
set -uo pipefail
cd "$(dirname "$0")/.."

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
