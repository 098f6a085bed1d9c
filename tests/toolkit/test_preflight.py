"""Bad input stops a role in its preflight with a message that says what is wrong,
before any API call or change. No services needed."""
from __future__ import annotations

import textwrap

from conftest import REPO, VENV_BIN, run, toolkit_env


def play(tmp_path, inventory: str, playbook: str):
    inv = tmp_path / "hosts.yml"
    inv.write_text(textwrap.dedent(inventory))
    return run([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), playbook],
               env=toolkit_env(), timeout=300)


NODES = """
all:
  children:
    baremetal:
      vars:
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
        ironic_nodes_cloud: {auth_type: none, baremetal_endpoint_override: "http://127.0.0.1:9"}
        ironic_nodes_ssh_public_keys: ["ssh-ed25519 AAAA test"]
        ironic_nodes_instance_info: {kernel: "http://127.0.0.1:9/k", ramdisk: "http://127.0.0.1:9/r"}
        ironic_nodes_nics: [{mac: "52:54:00:00:00:01", ip: 10.89.250.9}]
      hosts:
        no-bmc-address:
          ironic_nodes_driver: redfish
          ironic_nodes_driver_info: {redfish_system_id: /redfish/v1/Systems/1}
        unknown-driver:
          ironic_nodes_driver: idrac-wsman
        bad-mac:
          ironic_nodes_driver: fake-hardware
          ironic_nodes_nics: [{mac: "not-a-mac"}]
"""


def test_ironic_nodes_preflight_messages(tmp_path):
    proc = play(tmp_path, NODES, "tests/toolkit/playbooks/nodes.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "no-bmc-address: driver redfish needs ironic_nodes_driver_info.redfish_address" in out
    assert "ironic_nodes_driver" in out and "idrac-wsman" in out
    assert "bad-mac: ironic_nodes_nics needs at least one NIC, each with a MAC" in out


ZK_EVEN = """
all:
  children:
    zookeeper:
      vars:
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
      hosts:
        zk1:
        zk2:
"""


def test_zookeeper_refuses_an_even_ensemble(tmp_path):
    proc = play(tmp_path, ZK_EVEN, "tests/toolkit/playbooks/zookeeper.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "must list this host and an odd number of servers (2 given)" in out
