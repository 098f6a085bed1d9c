# Copyright: Corral contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ironic nodes as Ansible hosts."""
from __future__ import annotations

DOCUMENTATION = r"""
name: corral_ironic
short_description: Ironic bare-metal nodes as inventory hosts
description:
  - Lists the nodes of an Ironic service (standalone or an OpenStack cloud's) as hosts,
    grouped by provision state (C(ironic_active), C(ironic_available), ...), by trait
    (C(ironic_trait_custom_corral_agent)) and by resource class (C(ironic_rc_corral_node)).
  - C(ansible_host) comes from the node's C(extra.ansible_host) (set by the ironic_nodes
    role from the config drive's network data), else from C(extra.corral_ip).
  - The configuration file name must end in C(corral_ironic.yml) or C(corral_ironic.yaml).
options:
  plugin:
    description: Marks this file as this plugin's configuration.
    required: true
    choices: [corral_ironic]
  cloud:
    description:
      - "A clouds.yaml cloud name, or a dict of openstacksdk connection arguments such as
        C({auth_type: none, baremetal_endpoint_override: http://127.0.0.1:6385})."
    type: raw
    default: {auth_type: none, baremetal_endpoint_override: "http://127.0.0.1:6385"}
  clouds_yaml:
    description: Path of a clouds.yaml to read when C(cloud) is a name.
    type: path
  provision_states:
    description: Only list nodes in these provision states (all when empty).
    type: list
    elements: str
    default: []
  group_prefix:
    description: Prefix of the generated group names.
    type: str
    default: ironic_
extends_documentation_fragment:
  - constructed
"""

EXAMPLES = r"""
# inventory/ironic.corral_ironic.yml
plugin: corral_ironic
cloud: {auth_type: none, baremetal_endpoint_override: "http://127.0.0.1:6385"}
provision_states: [active]
keyed_groups:
  - key: ironic_properties.cpu_arch
    prefix: arch
"""

import os
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable


def group_name(prefix: str, value: str) -> str:
    """A valid Ansible group name from a prefix and a free-form value."""
    return prefix + re.sub(r"[^a-z0-9_]", "_", str(value).lower())


def node_hostvars(node: dict) -> dict:
    """Host variables of one node (a dict as returned by openstacksdk's to_dict())."""
    extra = node.get("extra") or {}
    hv = {
        "ironic_uuid": node.get("id"),
        "ironic_name": node.get("name"),
        "ironic_provision_state": node.get("provision_state"),
        "ironic_power_state": node.get("power_state"),
        "ironic_maintenance": node.get("is_maintenance", node.get("maintenance")),
        "ironic_driver": node.get("driver"),
        "ironic_resource_class": node.get("resource_class"),
        "ironic_traits": list(node.get("traits") or []),
        "ironic_properties": node.get("properties") or {},
        "ironic_extra": extra,
        "ironic_last_error": node.get("last_error"),
    }
    address = extra.get("ansible_host") or extra.get("corral_ip")
    if address:
        hv["ansible_host"] = address
    return hv


def node_groups(node: dict, prefix: str = "ironic_") -> list[str]:
    groups = []
    if node.get("provision_state"):
        groups.append(group_name(prefix, node["provision_state"]))
    for trait in node.get("traits") or []:
        groups.append(group_name(prefix + "trait_", trait))
    if node.get("resource_class"):
        groups.append(group_name(prefix + "rc_", node["resource_class"]))
    return groups


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "corral_ironic"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(
            ("corral_ironic.yml", "corral_ironic.yaml"))

    def _connect(self):
        try:
            import openstack
        except ImportError as exc:
            raise AnsibleParserError("corral_ironic needs openstacksdk") from exc
        cloud = self.get_option("cloud")
        if isinstance(cloud, dict):
            args = {"load_yaml_config": False, "load_envvars": False}
            args.update(cloud)
            return openstack.connect(**args)
        clouds_yaml = self.get_option("clouds_yaml")
        if clouds_yaml:
            os.environ["OS_CLIENT_CONFIG_FILE"] = clouds_yaml
        return openstack.connect(cloud=cloud)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        states = set(self.get_option("provision_states") or [])
        prefix = self.get_option("group_prefix")
        strict = self.get_option("strict")
        try:
            nodes = [n.to_dict(computed=False)
                     for n in self._connect().baremetal.nodes(details=True)]
        except Exception as exc:  # the SDK raises many kinds
            raise AnsibleParserError(f"corral_ironic: cannot list Ironic nodes: {exc}") from exc
        for node in nodes:
            if states and node.get("provision_state") not in states:
                continue
            host = node.get("name") or node.get("id")
            self.inventory.add_host(host)
            hostvars = node_hostvars(node)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            for group in node_groups(node, prefix):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict)
