#!/usr/bin/env bash
# What the web UI's browser tests need, idempotently: Debian's Chromium (the
# browser itself: Playwright's own browser download does not work here) and
# Playwright's Python package in the project's virtualenv, which drives that
# Chromium through `executable_path`.  scripts/setup.sh calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
VENV=${VENV:-.venv}
PYTHON="$(cd "$VENV" && pwd)/bin/python"
PLAYWRIGHT_VERSION=${PLAYWRIGHT_VERSION:-1.65.2}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if ! command -v chromium > /dev/null 2>&1; then
    $SUDO apt-get update -q > /dev/null
    $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core > /dev/null
fi
chromium --version 2> /dev/null | head -1 || { echo "setup-webui: chromium did not install" >&2; exit 1; }

if ! "$PYTHON" -c "import playwright, importlib.metadata as m; assert m.version('playwright') == '$PLAYWRIGHT_VERSION'" 2> /dev/null; then
    "$PYTHON" -m pip install --quiet "playwright==$PLAYWRIGHT_VERSION"
fi
# Never `playwright install`: it downloads a browser build, which this network refuses.
"$PYTHON" - <<'PY'
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    page = browser.new_page()
    page.set_content("<p id=ok>ok</p>")
    assert page.inner_text("#ok") == "ok"
    browser.close()
print("setup-webui: Playwright drives Debian's Chromium")
PY
