#!/usr/bin/python
# Copyright: Corral contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What openstack.cloud.baremetal_node does not do: traits, a known power state and
bringing an existing node back to `available`."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: baremetal_node_extras
short_description: Set traits, a known power state and availability of an Ironic node
description:
  - Complements C(openstack.cloud.baremetal_node), which cannot set traits nor move an
    existing node from C(enroll), C(manageable) or C(clean failed) to C(available).
  - Nodes whose power interface reports no power state (C(fake-hardware)) get one, so
    that C(openstack.cloud.baremetal_node_action) accepts them.
options:
  name:
    description: Name or UUID of the node.
    type: str
    required: true
  traits:
    description: The node's complete list of traits; omit to leave traits alone.
    type: list
    elements: str
  extra:
    description: Keys to set in the node's C(extra) field (others are kept).
    type: dict
  make_available:
    description: Move the node to C(available) when it is in C(enroll), C(manageable)
      or C(clean failed).
    type: bool
    default: true
  unknown_power_state:
    description: Power state to set when the node reports none; empty to leave it.
    type: str
    default: power off
    choices: ["power off", "power on", ""]
  timeout:
    description: Seconds to wait for each provision-state change.
    type: int
    default: 600
extends_documentation_fragment:
  - openstack.cloud.openstack
"""

EXAMPLES = r"""
- name: Traits and availability
  baremetal_node_extras:
    cloud: "{{ ironic_nodes_cloud }}"
    name: node1
    traits: [CUSTOM_CORRAL_AGENT]
"""

RETURN = r"""
node:
  description: The node after the changes.
  returned: success
  type: dict
"""

import time  # noqa: E402

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import (  # noqa: E402
    OpenStackModule,
)


def _retry_locked(call, *args, attempts=6, **kwargs):
    """Ironic on SQLite answers 500 'database is locked' under concurrent writes."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # openstack.exceptions.HttpException and friends
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)
    return None


class BaremetalNodeExtrasModule(OpenStackModule):
    argument_spec = dict(
        name=dict(required=True),
        traits=dict(type="list", elements="str"),
        extra=dict(type="dict"),
        make_available=dict(type="bool", default=True),
        unknown_power_state=dict(default="power off", choices=["power off", "power on", ""]),
        timeout=dict(type="int", default=600),
    )
    module_kwargs = dict(supports_check_mode=True)

    def run(self):
        bm = self.conn.baremetal
        node = bm.find_node(self.params["name"], ignore_missing=False)
        changed = False
        check = self.ansible.check_mode
        timeout = self.params["timeout"]

        traits = self.params["traits"]
        if traits is not None and sorted(set(traits)) != sorted(set(node.traits or [])):
            changed = True
            if not check:
                _retry_locked(bm.set_node_traits, node.id, sorted(set(traits)))

        extra = self.params["extra"]
        if extra:
            have = node.extra or {}
            if any(have.get(k) != v for k, v in extra.items()):
                changed = True
                if not check:
                    _retry_locked(bm.update_node, node.id, extra=dict(have, **extra))

        if node.power_state is None and self.params["unknown_power_state"]:
            changed = True
            if not check:
                _retry_locked(bm.set_node_power_state, node.id,
                              self.params["unknown_power_state"], wait=True, timeout=timeout)

        if self.params["make_available"]:
            state = node.provision_state
            if state in ("enroll", "clean failed", "inspect failed"):
                changed = True
                if not check:
                    _retry_locked(bm.set_node_provision_state, node.id, "manage",
                                  wait=True, timeout=timeout)
                state = "manageable"
            if state == "manageable":
                changed = True
                if not check:
                    _retry_locked(bm.set_node_provision_state, node.id, "provide",
                                  wait=True, timeout=timeout)

        node = bm.get_node(node.id)
        self.exit_json(changed=changed, node=node.to_dict(computed=False))


def main():
    module = BaremetalNodeExtrasModule()
    module()


if __name__ == "__main__":
    main()
