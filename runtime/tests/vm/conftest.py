"""The VM suite: a node of the node image booted in QEMU (support.nodevm), with the runtime
installed from the wheelhouse corral_runtime builds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.nodevm import NodeVM

REPO = Path(__file__).resolve().parents[3]
WHEELHOUSE_CACHE = "/var/cache/corral/wheelhouse"


def _run(cmd: list[str], log: Path, timeout: float = 1200) -> None:
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def node_vm(tmp_path_factory):
    work = tmp_path_factory.mktemp("vm")
    _run([str(REPO / "images/build-local.sh")], work / "image.log")  # cached by its recipe
    wheelhouse = subprocess.run(
        [sys.executable, str(REPO / "roles/corral_runtime/files/wheelhouse.py"), "build", "--cache", WHEELHOUSE_CACHE,
         "--name", "corral", "--python", sys.executable, "--", str(REPO / "runtime")],
        capture_output=True, text=True, check=True, timeout=1200)
    wheels = Path(json.loads(wheelhouse.stdout)["path"]) / "wheels.tar"
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    disk = work / "disk.img"
    _run([str(REPO / "images/build-vm-disk.sh"), str(disk), f"{key}.pub", str(wheels)], work / "disk.log")
    vm = NodeVM(work, disk, key, forwards={"master": 5050})
    try:
        vm.boot()
        yield vm
    finally:  # shown when a test fails
        if vm.proc is not None and vm.proc.poll() is None:
            print("===== journal\n" + vm.ssh("journalctl -u 'corral-*' --no-pager | tail -n 80", check=False, timeout=60).stdout)
        print(f"===== console\n{vm.console_tail(60)}")
        vm.stop()
