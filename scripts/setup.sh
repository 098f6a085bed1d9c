#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages and the
# project's virtualenv (.venv).  `make up` and `make test` both call it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
VENV=${VENV:-.venv}
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
VENV_PYTHON="$(cd "$VENV" && pwd)/bin/python"

# The runtime (editable, with its test extras); pip is only called when the
# project file changed since the last successful install.
stamp="$VENV/.corral-runtime-pyproject"
if ! cmp -s runtime/pyproject.toml "$stamp"; then
    "$VENV_PYTHON" -m pip install --quiet --upgrade pip
    "$VENV_PYTHON" -m pip install --quiet -e "runtime[test]"
    cp runtime/pyproject.toml "$stamp"
fi

# pymesos, the reference Mesos client the tests drive Corral with.
PYTHON="$VENV_PYTHON" scripts/install-pymesos.sh > /dev/null

# The Ansible toolkit: podman, debootstrap, ZooKeeper, Ansible, Molecule, ...
VENV="$VENV" scripts/setup-toolkit.sh

# Spark (pyspark with its jars) for the dispatcher and the spark-perf stage.
VENV="$VENV" scripts/setup-spark.sh

# Debian's Chromium and Playwright for the dashboard's browser tests.
VENV="$VENV" scripts/setup-webui.sh

echo "setup: ready in $(( $(date +%s) - start ))s"
