"""Fixtures of the toolkit tests: the repo's venv tools, free ports, the node image
(built once, cached by recipe), and a timing report printed at the end of the run."""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
IMAGE_ARTIFACTS = os.environ.get("CORRAL_NODE_ARTIFACTS", "/var/cache/corral/images")
IRONIC_VENV = os.environ.get("CORRAL_IRONIC_VENV", "/var/cache/corral/ironic-venv")
TIMINGS: dict[str, float] = {}


def record(name: str, seconds: float) -> None:
    TIMINGS[name] = round(seconds, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_subnet_prefix() -> str:
    """A 10.89.X prefix no podman network uses yet."""
    out = subprocess.run(["podman", "network", "ls", "--format", "{{.Subnets}}"],
                         capture_output=True, text=True, check=False).stdout
    for _ in range(200):
        prefix = f"10.89.{random.randint(100, 250)}"
        if prefix + "." not in out:
            return prefix
    raise RuntimeError("no free 10.89.X subnet")


def remove_podman_objects(prefix: str) -> list[str]:
    """Remove the containers and networks whose names start with `prefix`; return their names."""
    removed = []
    for kind, listing in (("container", ["podman", "ps", "-a", "--format", "{{.Names}}"]),
                          ("network", ["podman", "network", "ls", "--format", "{{.Name}}"])):
        names = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
        for name in (n for n in names if n.startswith(prefix)):
            subprocess.run(["podman", kind, "rm", "-f", name], capture_output=True, check=False)
            removed.append(f"{kind} {name}")
    return removed


def toolkit_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "LC_ALL": "C.UTF-8",
        "PATH": f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PY_COLORS": "0",
        "CORRAL_NODE_ARTIFACTS": IMAGE_ARTIFACTS,
        "CORRAL_IRONIC_VENV": IRONIC_VENV,
    })
    env.update(extra)
    return env


def run(cmd: list[str], *, env: dict[str, str], cwd: Path = REPO, timeout: int = 1800,
        log: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, keep its output in a log file, and return it."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return proc


def tail(proc: subprocess.CompletedProcess, lines: int = 80) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    path = Path(os.environ.get("CORRAL_TEST_LOGS", tmp_path_factory.mktemp("toolkit-logs")))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def node_image(logs_dir) -> str:
    """The local test-host image; built once, then cached by its recipe hash."""
    start = time.monotonic()
    proc = run([str(REPO / "images/build-local.sh")], env=toolkit_env(),
               log=logs_dir / "image.log")
    assert proc.returncode == 0, tail(proc)
    record("node image (build-local.sh)", time.monotonic() - start)
    return "localhost/corral-node:latest"


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("corral toolkit timings (seconds)")
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.1f}  {name}")
    out = os.environ.get("CORRAL_TIMINGS_FILE")
    if out:
        Path(out).write_text(json.dumps(TIMINGS, indent=2))
