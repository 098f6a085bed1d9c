"""Each role's Molecule scenario, with its own ports and state so that it can run
beside a local bring-up. The scenarios verify behaviour (see their verify.yml)."""
from __future__ import annotations

import os
import time

import pytest

from conftest import REPO, VENV_BIN, free_port, record, run, tail, toolkit_env

SCENARIOS = [
    ("ironic_standalone", "default"),   # on this machine: supervised processes
    ("ironic_standalone", "systemd"),   # in a systemd container: systemd units (needs PyPI)
    ("ironic_nodes", "default"),
    ("test_hosts", "default"),          # a config drive -> a systemd container reached over SSH -> absent
    ("zookeeper", "default"),
    ("corral_runtime", "default"),      # offline install in a container without a network
    ("corral_agent", "default"),        # a lone master and an agent on another host
    ("corral_agent", "secure"),         # the same with TLS, credentials, ACLs: 401/403, no leaked secret
    ("corral_master", "default"),       # 3 x (ZooKeeper, master, agent); the leader is SIGKILLed
    ("spark", "default"),               # pyspark from the wheelhouse; a local Spark job runs
    ("spark_dispatcher", "default"),    # a one-host cluster; an app submitted over Spark's REST protocol
    ("spark_perf", "default"),          # the K-means stage with tiny settings; the report is read
]


@pytest.mark.parametrize(("role", "scenario"), SCENARIOS, ids=[f"{r}-{s}" for r, s in SCENARIOS])
def test_molecule_scenario(role, scenario, node_image, logs_dir, tmp_path):
    if scenario == "systemd" and os.environ.get("CORRAL_SKIP_SYSTEMD_SCENARIO"):
        pytest.skip("CORRAL_SKIP_SYSTEMD_SCENARIO is set (the slowest scenario: ~6 min)")
    env = toolkit_env(
        CORRAL_MOLECULE_STATE=str(tmp_path),
        CORRAL_MOLECULE_IRONIC_PORT=str(free_port()),
        CORRAL_MOLECULE_HTTP_PORT=str(free_port()),
        CORRAL_MOLECULE_SUSHY_PORT=str(free_port()),
        CORRAL_MOLECULE_PREFIX=f"corral-mol{os.getpid()}",
    )
    start = time.monotonic()
    proc = run([str(VENV_BIN / "molecule"), "--base-config", "../../molecule/base.yml", "test", "-s", scenario],
               cwd=REPO / "roles" / role, env=env, log=logs_dir / f"molecule-{role}-{scenario}.log",
               timeout=1500)
    record(f"molecule test {role} ({scenario})", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 120)
