"""Fixtures of the integration suite: a real-process `Cluster` and real ZooKeeper servers
(their machinery is in `support.cluster` and `support.zookeeper`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.zookeeper import ZooKeeperEnsemble


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def cluster(tmp_path, request):
    c = Cluster(tmp_path)
    yield c
    c.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(c.logs())


@pytest.fixture
def zookeeper(tmp_path):
    """A single real ZooKeeper server."""
    zk = ZooKeeperEnsemble(tmp_path, size=1).start()
    yield zk
    zk.stop()


@pytest.fixture
def zookeeper3(tmp_path):
    """A real 3-server ZooKeeper ensemble."""
    zk = ZooKeeperEnsemble(tmp_path, size=3).start()
    yield zk
    zk.stop()


@pytest.fixture(scope="session")
def node_image():
    """The node image the images recipe builds into local storage (cached by its recipe)."""
    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.run([str(repo / "images/build-local.sh")], capture_output=True, text=True, timeout=3600, cwd=repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return "localhost/corral-node:latest"
