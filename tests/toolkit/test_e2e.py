"""End to end on this machine: standalone Ironic + 3 emulated Redfish nodes ->
provision.yml -> SSH-reachable test hosts -> ZooKeeper on them -> site.yml (ZooKeeper,
masters, agents, Spark dispatcher) -> a task launched with `corral run` finishes -> a
second site.yml changes nothing -> teardown.yml.
Tests run in file order and share one provisioned environment."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import paramiko
import pytest

from conftest import (REPO, VENV_BIN, free_port, free_subnet_prefix, record, run, tail,
                      toolkit_env)

NODES = ["node1", "node2", "node3"]


def recap_changes(output: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def four_letter_word(ip: str, word: str, port: int = 2181) -> str:
    with socket.create_connection((ip, port), timeout=5) as s:
        s.sendall(word.encode())
        chunks = []
        while data := s.recv(4096):
            chunks.append(data)
    return b"".join(chunks).decode()


@pytest.fixture(scope="module")
def local(tmp_path_factory, node_image, logs_dir):
    """The local inventory with this run's own state dir, ports, subnet and names."""
    state = tmp_path_factory.mktemp("corral-e2e")
    prefix = free_subnet_prefix()
    env = toolkit_env(
        CORRAL_STATE_DIR=str(state),
        CORRAL_IRONIC_PORT=str(free_port()),
        CORRAL_HTTP_PORT=str(free_port()),
        CORRAL_SUSHY_PORT=str(free_port()),
        CORRAL_SUBNET_PREFIX=prefix,
        CORRAL_NAME=f"corralt{os.getpid()}",
    )
    ips = {n: f"{prefix}.{11 + i}" for i, n in enumerate(NODES)}
    ctx = {"env": env, "state": Path(state), "ips": ips, "torn_down": False}
    yield ctx
    if not ctx["torn_down"]:
        run([str(VENV_BIN / "ansible-playbook"), "playbooks/teardown.yml"], env=env,
            log=logs_dir / "e2e-teardown-finalizer.log")


def playbook(local, name: str, log: Path, *args: str) -> subprocess.CompletedProcess:
    return run([str(VENV_BIN / "ansible-playbook"), name, *args], env=local["env"], log=log)


def test_provision_three_nodes(local, logs_dir):
    start = time.monotonic()
    proc = playbook(local, "playbooks/provision.yml", logs_dir / "e2e-provision.log")
    record("e2e provision.yml (Ironic up + 3 nodes active + test hosts)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc)
    for node, ip in local["ips"].items():
        assert f"{node}: active {ip}" in proc.stdout


def test_test_hosts_carry_their_config_drive(local):
    key = paramiko.Ed25519Key.from_private_key_file(str(local["state"] / "ssh/id_ed25519"))
    for node, ip in local["ips"].items():
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(ip, username="root", pkey=key, timeout=10,
                       allow_agent=False, look_for_keys=False)
        try:
            _, out, _ = client.exec_command(
                "hostname; python3 -c 'import json;print(json.load(open(\"/var/lib/corral/network_data.json\"))"
                "[\"networks\"][0][\"ip_address\"])'; systemctl is-system-running; getent hosts node1")
            lines = out.read().decode().split()
        finally:
            client.close()
        assert lines[0] == node
        assert lines[1] == ip
        assert lines[2] in ("running", "degraded")
        assert local["ips"]["node1"] in lines[3:]


def test_inventory_plugin_lists_nodes_from_ironic(local, tmp_path):
    cfg = tmp_path / "e2e.corral_ironic.yml"
    cfg.write_text(
        "plugin: corral_ironic\n"
        "cloud: {auth_type: none, baremetal_endpoint_override: "
        f"'http://127.0.0.1:{local['env']['CORRAL_IRONIC_PORT']}'}}\n")
    proc = run([str(VENV_BIN / "ansible-inventory"), "-i", str(cfg), "--list"], env=local["env"])
    assert proc.returncode == 0, tail(proc)
    inv = json.loads(proc.stdout)
    assert sorted(inv["ironic_active"]["hosts"]) == NODES
    assert sorted(inv["ironic_trait_custom_corral_agent"]["hosts"]) == NODES
    assert sorted(inv["ironic_rc_corral_node"]["hosts"]) == NODES
    for node, ip in local["ips"].items():
        host = inv["_meta"]["hostvars"][node]["ansible_host"]
        if isinstance(host, dict):  # ansible-inventory marks plugin data as unsafe
            host = host["__ansible_unsafe"]
        assert host == ip


def test_second_provision_changes_nothing(local, logs_dir):
    start = time.monotonic()
    proc = playbook(local, "playbooks/provision.yml", logs_dir / "e2e-provision-2.log")
    record("e2e provision.yml second run (no changes)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc)
    changes = recap_changes(proc.stdout)
    assert changes and all(v == 0 for v in changes.values()), changes


def test_zookeeper_ensemble_on_test_hosts(local, logs_dir):
    start = time.monotonic()
    proc = playbook(local, "tests/toolkit/playbooks/zookeeper.yml", logs_dir / "e2e-zookeeper.log")
    record("e2e zookeeper role on 3 test hosts", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc)
    modes = []
    for ip in local["ips"].values():
        assert four_letter_word(ip, "ruok") == "imok"
        modes.append(re.search(r"Mode: (\w+)", four_letter_word(ip, "srvr")).group(1))
    assert sorted(modes) == ["follower", "follower", "leader"]


def zk_url(local) -> str:
    return "zk://" + ",".join(f"{ip}:2181" for ip in local["ips"].values()) + "/corral"


def test_site_deploys_the_cluster(local, logs_dir):
    start = time.monotonic()
    proc = playbook(local, "playbooks/site.yml", logs_dir / "e2e-site.log")
    record("e2e site.yml (ZooKeeper, 3 masters, 3 agents, Spark dispatcher)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 120)
    local["site_ok"] = True
    # One leader that every master follows; every agent active in the leader's /state.
    states = {}
    for node, ip in local["ips"].items():
        with urllib.request.urlopen(f"http://{ip}:5050/health", timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://{ip}:5050/state", timeout=10) as resp:
            states[node] = json.load(resp)
    leaders = [n for n, st in states.items() if st["elected"]]
    assert len(leaders) == 1, {n: st["leader"] for n, st in states.items()}
    assert len({st["leader"] for st in states.values()}) == 1
    leader = states[leaders[0]]
    assert leader["flags"]["zk"] == zk_url(local)
    assert sorted(a["hostname"] for a in leader["slaves"] if a["active"]) == sorted(local["ips"].values())
    assert [f["name"] for f in leader["frameworks"]] == ["Spark Cluster"]


def test_corral_run_finishes_on_the_cluster(local, logs_dir):
    if not local.get("site_ok"):
        pytest.skip("site.yml failed")
    corral = str(VENV_BIN / "corral")
    proc = run([corral, "run", "--master", zk_url(local), "--count", "3", "--timeout", "120",
                "--command", "echo hello from $(hostname)"], env=local["env"], log=logs_dir / "e2e-corral-run.log")
    assert proc.returncode == 0, tail(proc)
    assert proc.stdout.count("TASK_FINISHED") == 3, proc.stdout
    state = run([corral, "state", "--master", zk_url(local)], env=local["env"])
    assert state.returncode == 0 and "Agents:     3 active" in state.stdout, tail(state)


def test_second_site_changes_nothing(local, logs_dir):
    if not local.get("site_ok"):
        pytest.skip("site.yml failed")
    start = time.monotonic()
    proc = playbook(local, "playbooks/site.yml", logs_dir / "e2e-site-2.log")
    record("e2e site.yml second run (no changes)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 120)
    changes = recap_changes(proc.stdout)
    assert changes and all(v == 0 for v in changes.values()), changes


def test_failed_node_is_reported_and_others_go_on(local, logs_dir):
    inv = str(REPO / "tests/toolkit/inventories/failure.yml")
    start = time.monotonic()
    proc = playbook(local, "tests/toolkit/playbooks/nodes.yml", logs_dir / "e2e-failure.log", "-i", inv)
    record("e2e failing node reported", time.monotonic() - start)
    try:
        assert proc.returncode != 0
        out = proc.stdout
        assert "failure-good: active" in out, tail(proc)
        assert re.search(r"failure-bad failed in .*last_error=\S+", out), tail(proc)
    finally:
        run([str(VENV_BIN / "ansible-playbook"), "tests/toolkit/playbooks/nodes_undeploy.yml",
             "-i", inv], env=local["env"], log=logs_dir / "e2e-failure-cleanup.log")


def test_teardown_removes_everything(local, logs_dir):
    start = time.monotonic()
    proc = playbook(local, "playbooks/teardown.yml", logs_dir / "e2e-teardown.log")
    record("e2e teardown.yml", time.monotonic() - start)
    local["torn_down"] = proc.returncode == 0
    assert proc.returncode == 0, tail(proc)
    name = local["env"]["CORRAL_NAME"]
    ps = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"],
                        capture_output=True, text=True, check=True).stdout.split()
    assert not [c for c in ps if c.startswith(name + "-")]
    nets = subprocess.run(["podman", "network", "ls", "--format", "{{.Name}}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert name not in nets
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(local["env"]["CORRAL_IRONIC_PORT"])), timeout=2)
