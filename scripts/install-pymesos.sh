#!/usr/bin/env bash
# Install pymesos==0.3.15 (the reference Mesos v1 HTTP API client that Corral must
# serve unmodified) into the Python given by $PYTHON (default: python3, i.e. the
# active venv's interpreter when one is active).
#
# Why this is not just `pip install pymesos`: pymesos depends on http-parser, whose
# 0.9.0 sdist ships a Cython-generated parser.c that no longer compiles against
# Python 3.11's C API. Regenerating parser.c with Cython < 3 fixes it.
#
# Idempotent: exits at once if pymesos already imports.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
PIP=("$PYTHON" -m pip --disable-pip-version-check)

if "$PYTHON" -c "import pymesos" >/dev/null 2>&1; then
    echo "pymesos already importable by $PYTHON; nothing to do"
    exit 0
fi

# Cython < 3: http-parser's .pyx relies on Cython 0.29 semantics (3.x fails on it).
# setuptools/wheel: needed because we build with --no-build-isolation below.
"${PIP[@]}" install "cython<3" setuptools wheel

# Build http-parser only if it is missing (a previous partial run may have installed it).
if ! "$PYTHON" -c "import http_parser.parser" >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # The sdist, not a wheel: there is no cp311 wheel, and we must patch the source.
    "${PIP[@]}" download --no-deps --no-binary :all: "http-parser==0.9.0" -d "$tmp"
    tar -xzf "$tmp"/http-parser-0.9.0.tar.gz -C "$tmp"
    (
        cd "$tmp/http-parser-0.9.0"
        # Regenerate the stale C file with the Cython just installed (run via the
        # same Python so the venv's Cython is used, not one on PATH).
        "$PYTHON" -m cython http_parser/parser.pyx -o http_parser/parser.c
        # No build isolation: an isolated build env would not use our Cython/setuptools.
        "${PIP[@]}" install --no-build-isolation .
    )
fi

# pymesos itself is pure Python; its http-parser requirement is now satisfied.
"${PIP[@]}" install "pymesos==0.3.15"

"$PYTHON" -c "import pymesos; from pymesos import MesosSchedulerDriver, MesosExecutorDriver"
echo "pymesos 0.3.15 installed for $PYTHON"
