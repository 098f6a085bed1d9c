"""Each role's Molecule scenario, with its own ports, state, container names and networks
so that it can run beside a local bring-up. The scenarios verify behaviour (see their
verify.yml). The test creates each scenario's podman networks itself, --internal (Molecule
would make them routed to the outside), and removes the scenario's containers and
networks when it is done, whatever the outcome."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
import yaml

from conftest import (REPO, VENV_BIN, free_port, free_subnet_prefix, record, remove_podman_objects, run, tail,
                      toolkit_env)

SCENARIOS = [
    ("ironic_standalone", "default"),   # on this machine: supervised processes
    ("ironic_standalone", "systemd"),   # in a systemd container: systemd units (needs PyPI)
    ("ironic_nodes", "default"),
    ("test_hosts", "default"),          # a config drive -> a systemd container reached over SSH -> absent
    ("zookeeper", "default"),
    ("corral_zk", "default"),           # defaults only: the URL from an inventory, read back by the runtime's parser
    ("corral_runtime", "default"),      # offline install in a container without a network
    ("corral_agent", "default"),        # a lone master and an agent on another host
    ("corral_agent", "secure"),         # the same with TLS, credentials, ACLs: 401/403, no leaked secret
    ("corral_master", "default"),       # 3 x (ZooKeeper, master, agent); the leader is SIGKILLed
    ("spark", "default"),               # pyspark from the wheelhouse; a local Spark job runs
    ("spark_dispatcher", "default"),    # a one-host cluster; an app submitted over Spark's REST protocol
    ("spark_perf", "default"),          # the K-means stage with tiny settings; the report is read
]


def scenario_networks(role: str, scenario: str, prefix: str) -> list[str]:
    """The podman networks a scenario's platforms name, with this run's prefix."""
    text = (REPO / "roles" / role / "molecule" / scenario / "molecule.yml").read_text()
    text = text.replace("${CORRAL_MOLECULE_PREFIX:-corral-molecule}", prefix)
    platforms = (yaml.safe_load(text) or {}).get("platforms") or []
    names = {p["network"] for p in platforms if p.get("network")}
    return sorted(names - {"none", "host", "bridge", "podman"})


def create_internal_network(name: str) -> None:
    prefix = free_subnet_prefix()
    subprocess.run(["podman", "network", "create", "--internal", "--subnet", f"{prefix}.0/24",
                    "--gateway", f"{prefix}.1", name], check=True, capture_output=True, text=True)


@pytest.mark.parametrize(("role", "scenario"), SCENARIOS, ids=[f"{r}-{s}" for r, s in SCENARIOS])
def test_molecule_scenario(role, scenario, node_image, logs_dir, tmp_path):
    if scenario == "systemd" and os.environ.get("CORRAL_SKIP_SYSTEMD_SCENARIO"):
        pytest.skip("CORRAL_SKIP_SYSTEMD_SCENARIO is set (the slowest scenario: ~6 min)")
    prefix = f"corral-mol{os.getpid()}-{role.replace('_', '')[:8]}{scenario[:3]}"
    env = toolkit_env(
        CORRAL_MOLECULE_STATE=str(tmp_path),
        CORRAL_MOLECULE_IRONIC_PORT=str(free_port()),
        CORRAL_MOLECULE_HTTP_PORT=str(free_port()),
        CORRAL_MOLECULE_SUSHY_PORT=str(free_port()),
        CORRAL_MOLECULE_PREFIX=prefix,
    )
    start = time.monotonic()
    try:
        for network in scenario_networks(role, scenario, prefix):
            create_internal_network(network)
        proc = run([str(VENV_BIN / "molecule"), "--base-config", "../../molecule/base.yml", "test", "-s", scenario],
                   cwd=REPO / "roles" / role, env=env, log=logs_dir / f"molecule-{role}-{scenario}.log",
                   timeout=1500)
    finally:
        left = remove_podman_objects(prefix)
    record(f"molecule test {role} ({scenario})", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 120)
    assert not left, f"molecule left {left} behind"
