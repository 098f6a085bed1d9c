"""Fast tests of the toolkit's Python pieces: filters, inventory-plugin helpers, the
process supervisor. No services needed."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


filters = load("plugins/filter/corral_ironic.py", "corral_filters")
inventory = load("plugins/inventory/corral_ironic.py", "corral_inventory")


def test_node_changes_ignores_masked_secrets():
    node = {"driver": "redfish", "driver_info": {"redfish_address": "http://b", "redfish_password": "******"},
            "properties": {"cpus": "2"}, "resource_class": "rc", "deploy_interface": "ramdisk"}
    desired = {"driver": "redfish", "driver_info": {"redfish_address": "http://b", "redfish_password": "s3cret"},
               "properties": {"cpus": 2}, "resource_class": "rc", "deploy_interface": "ramdisk"}
    assert filters.node_changes(node, desired) == []


def test_node_changes_lists_what_differs():
    node = {"driver": "ipmi", "driver_info": {"ipmi_address": "a"}, "properties": {}}
    desired = {"driver": "redfish", "driver_info": {"ipmi_address": "b"}, "properties": {"cpus": 4},
               "resource_class": "x", "boot_interface": "pxe"}
    assert filters.node_changes(node, desired) == [
        "driver", "boot_interface", "driver_info.ipmi_address", "properties.cpus", "resource_class"]
    assert filters.node_changes(None, desired) == ["<new node>"]


def test_network_data_static_and_dhcp():
    data = filters.network_data(
        [{"mac": "52:54:00:AA:00:01", "ip": "10.89.7.11", "prefix": 24, "gateway": "10.89.7.1"},
         {"mac": "52:54:00:aa:00:02"}], dns=["10.89.7.1"])
    assert data["links"][0]["ethernet_mac_address"] == "52:54:00:aa:00:01"
    assert data["networks"][0]["ip_address"] == "10.89.7.11"
    assert data["networks"][0]["netmask"] == "255.255.255.0"
    assert data["networks"][0]["routes"][0]["gateway"] == "10.89.7.1"
    assert data["networks"][1]["type"] == "ipv4_dhcp"
    assert data["services"] == [{"type": "dns", "address": "10.89.7.1"}]
    assert filters.network_ip(data) == "10.89.7.11"


def test_meta_data_keys():
    meta = filters.meta_data("u-1", "node1", ["ssh-ed25519 AAAA x\n"])
    assert meta["hostname"] == "node1" and meta["uuid"] == "u-1"
    assert meta["public_keys"] == {"key0": "ssh-ed25519 AAAA x"}


def test_sushy_systems_from_hostvars():
    hosts = [{"inventory_hostname": "node1", "ironic_nodes_bmc_system_uuid": "u1",
              "ironic_nodes_nics": [{"mac": "52:54:00:AA:00:01", "ip": "10.0.0.1"}]},
             {"inventory_hostname": "node2"}]
    assert filters.sushy_systems(hosts) == [
        {"uuid": "u1", "name": "node1", "power_state": "Off",
         "nics": [{"mac": "52:54:00:aa:00:01", "ip": "10.0.0.1"}]}]


def test_ip_in_subnet():
    assert filters.ip_in_subnet("10.89.7.11", "10.89.7.0/24")
    assert not filters.ip_in_subnet("10.89.8.11", "10.89.7.0/24")
    assert not filters.ip_in_subnet("nonsense", "10.89.7.0/24")


def test_inventory_groups_and_hostvars():
    node = {"id": "u1", "name": "node1", "provision_state": "deploy failed",
            "traits": ["CUSTOM_CORRAL_AGENT"], "resource_class": "corral-node",
            "extra": {"ansible_host": "10.89.7.11"}}
    assert inventory.node_groups(node) == [
        "ironic_deploy_failed", "ironic_trait_custom_corral_agent", "ironic_rc_corral_node"]
    hv = inventory.node_hostvars(node)
    assert hv["ansible_host"] == "10.89.7.11"
    assert hv["ironic_traits"] == ["CUSTOM_CORRAL_AGENT"]


def alive(pid: int) -> bool:
    """Running, not a zombie (PID 1 here may not reap orphans promptly)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_supervisor_restarts_and_stops(tmp_path):
    sup = str(REPO / "roles/ironic_standalone/files/corral-supervise")
    pidfile, logfile, marker = tmp_path / "x.pid", tmp_path / "x.log", tmp_path / "runs"
    # The child appends a line and exits: the supervisor must restart it.
    cmd = ["/bin/sh", "-c", f"echo run >> {marker}; sleep 0.3; exit 1"]
    out = subprocess.run([sys.executable, sup, "start", "--name", "x", "--pidfile", str(pidfile),
                          "--logfile", str(logfile), "--", *cmd], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("started ")
    again = subprocess.run([sys.executable, sup, "start", "--name", "x", "--pidfile", str(pidfile),
                            "--logfile", str(logfile), "--", *cmd], capture_output=True, text=True, check=True)
    assert again.stdout.startswith("running ")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (not marker.exists() or len(marker.read_text().split()) < 2):
        time.sleep(0.2)
    assert len(marker.read_text().split()) >= 2, "the supervisor did not restart the command"
    assert "restarting" in logfile.read_text()
    pid = int(pidfile.read_text())
    stop = subprocess.run([sys.executable, sup, "stop", "--pidfile", str(pidfile)],
                          capture_output=True, text=True, check=True)
    assert stop.stdout.strip() == "stopped"
    assert not pidfile.exists()
    assert not alive(pid)


def test_supervisor_refuses_a_busy_port(tmp_path):
    import socket
    sup = str(REPO / "roles/ironic_standalone/files/corral-supervise")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run([sys.executable, sup, "start", "--name", "x", "--pidfile", str(tmp_path / "p"),
                              "--logfile", str(tmp_path / "l"), "--port-free", f"127.0.0.1:{port}",
                              "--", "sleep", "5"], capture_output=True, text=True, check=False)
    assert out.returncode == 3
    assert "already in use" in out.stderr


node_route = load("plugins/modules/corral_node_route.py", "corral_node_route")


def test_node_route_accepts_only_the_networks_bridge():
    inspect = [{"NetworkSettings": {"Networks": {"corral": {"IPAddress": "10.89.7.11"}, "none": {"IPAddress": ""}}}}]
    assert node_route.container_addresses(inspect) == {"corral": "10.89.7.11"}
    assert node_route.route_device("10.89.7.11 dev podman1 src 10.89.7.1 uid 0 \\    cache ") == "podman1"
    assert node_route.route_problem("node1", "corral", "10.89.7.11", "podman1",
                                    "10.89.7.11 dev podman1 src 10.89.7.1 uid 0") is None
    # The bug this guards against: no address on the bridge, so the default route wins.
    problem = node_route.route_problem("node1", "corral", "10.89.7.11", "podman1",
                                       "10.89.7.11 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0")
    assert problem.startswith("node1: the kernel routes 10.89.7.11 as '10.89.7.11 via 192.0.2.1 dev eth0")
    assert "not through podman1, the bridge of podman network corral" in problem
    assert node_route.route_problem("node1", "corral", "10.89.7.11", None, "10.89.7.11 dev podman1") is not None


def test_every_role_has_a_molecule_scenario_that_the_suite_runs():
    from test_molecule import SCENARIOS
    on_disk = {(role.parent.parent.parent.name, role.parent.name)
               for role in REPO.glob("roles/*/molecule/*/molecule.yml")}
    assert on_disk == set(SCENARIOS), "scenarios on disk and in test_molecule.SCENARIOS differ"
    roles = {p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "main.yml").exists()}
    assert roles == {role for role, _ in SCENARIOS}, "a role has no Molecule scenario"
