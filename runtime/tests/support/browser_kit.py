"""A real headless Chromium (Debian's `chromium`, driven by Playwright through `executable_path`)
and a real `corral local` cluster for the dashboard tests.  Screenshots go to `artifacts/webui/`
at the repository root (gitignored), kept as test artifacts.  The `browser` and `page`
fixtures are in webui/conftest.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from corral.cli.local import kill_processes_in, stop_processes
from support.cluster import free_port, wait_for

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("CORRAL_ARTIFACTS", REPO / "artifacts")) / "webui"
CHROMIUM = os.environ.get("CORRAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def require_playwright():
    """Playwright's `sync_playwright`, or a skip that says what to install."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: run scripts/setup-webui.sh")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run scripts/setup-webui.sh")
    return sync_playwright


def shot(page: Any, test: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test)}-{step}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception:  # a closed page: nothing to keep
        pass
    return path


class LocalCluster:
    """`corral local` (a master and N agents) plus `corral run` frameworks and extra agents, as a user starts them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.master = ""
        self.out = root / "local.out"

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "corral.cli.main", *args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def start(self, agents: int = 2, *extra: str) -> "LocalCluster":
        self._spawn(["local", "--agents", str(agents), "--port", "0", "--work_dir", str(self.root / "local"),
                     "--resources", "cpus:2;cpus(ads):1;mem:1024;disk:2048", "--attributes", "rack:r1;os:debian", "--attributes", "rack:r2",
                     "--master-arg=--allocation_interval=0.2", *extra], self.out)
        match = wait_for(lambda: re.search(r"master http://([0-9.]+:\d+)", self.out.read_text()), timeout=60,
                                what="`corral local` to come up")
        self.master = match.group(1)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.master}"

    def run(self, name: str, command: str, *extra: str) -> subprocess.Popen:
        return self._spawn(["run", "--master", self.master, "--name", name, "--command", command, *extra], self.root / f"run-{name}.out")

    def add_agent(self, name: str, *extra: str) -> subprocess.Popen:
        port = free_port()
        return self._spawn(["agent", "--master", self.master, "--ip", "127.0.0.1", "--port", str(port), "--work_dir",
                            str(self.root / name), "--resources", "cpus:1;mem:512;disk:0", *extra], self.root / f"{name}.log")

    def stop(self) -> None:
        stop_processes(self.procs, 15)
        reap(self.root)

    def logs(self) -> str:
        files = sorted(self.root.glob("*.out")) + sorted(self.root.glob("*.log")) + sorted((self.root / "local" / "logs").glob("*.log"))
        return "\n".join(f"===== {f.name}\n{f.read_text(errors='replace')[-4000:]}" for f in files if f.exists())


def reap(root: Path) -> None:
    """End the executors that ran from this test's sandboxes."""
    kill_processes_in(str(root))


def wait_text(page: Any, selector: str, predicate, timeout: float = 30.0, what: str = "") -> str:
    """Poll an element's text until `predicate(text)` holds (the page updates itself; we never reload)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        loc = page.locator(selector)
        if loc.count():
            text = loc.first.inner_text()
            if predicate(text):
                return text
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what or selector}; last text: {text!r}")
