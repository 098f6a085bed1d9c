#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages and the
# project's virtualenv (.venv). `make up` and `make test` both call it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -e "runtime[test]"
PYTHON="$PWD/$VENV/bin/python" scripts/install-pymesos.sh
