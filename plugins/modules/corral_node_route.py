#!/usr/bin/python
# Copyright: Corral contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before the first packet to a test host: ask the kernel how it would reach the
container's address, and refuse unless it is through the bridge of the container's own
podman network. A test host's address must never be reached through the default route."""
from __future__ import annotations

import json
import re

DOCUMENTATION = r"""
---
module: corral_node_route
short_description: Check that a test host's address is routed through its podman network's bridge
description:
  - Reads the container's addresses (C(podman container inspect)), the bridge of each of
    its networks (C(podman network inspect)) and the route the kernel would take to each
    address (C(ip route get), which sends nothing), and fails unless every address is
    routed through its network's own bridge.
  - Read-only; never changes anything and supports check mode.
options:
  container:
    description: Name of the podman container (the test host).
    type: str
    required: true
  network:
    description: Check only the address on this podman network (default all of them).
    type: str
  label:
    description: How to name the node in messages (default the container's name).
    type: str
"""

RETURN = r"""
routes:
  description: One entry per checked address.
  returned: always
  type: list
  elements: dict
  sample: [{"network": "corral", "address": "10.89.7.11", "interface": "podman1",
            "route": "10.89.7.11 dev podman1 src 10.89.7.1 uid 0"}]
address:
  description: The first checked address (the one Ansible should use).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def route_device(route: str) -> str | None:
    """The output device of one line of `ip -o route get ADDRESS`."""
    m = re.search(r"\bdev (\S+)", route)
    return m.group(1) if m else None


def container_addresses(inspect: list[dict]) -> dict[str, str]:
    """{network name: IPv4 address} from `podman container inspect` output."""
    networks = ((inspect[0].get("NetworkSettings") or {}).get("Networks") or {}) if inspect else {}
    return {name: info.get("IPAddress") for name, info in networks.items() if info.get("IPAddress")}


def route_problem(label: str, network: str, address: str, bridge: str | None, route: str) -> str | None:
    """Why packets to `address` must not be sent, or None when it goes out of `bridge`."""
    device = route_device(route)
    if bridge and device == bridge:
        return None
    return (f"{label}: the kernel routes {address} as '{route.strip()}', not through {bridge or '(no bridge)'}, "
            f"the bridge of podman network {network}; no packet is sent to it, since it would leave this "
            f"machine by that route (is the network's bridge up, and does another route cover {address}?)")


def main() -> None:
    module = AnsibleModule(
        argument_spec={"container": {"type": "str", "required": True},
                       "network": {"type": "str"}, "label": {"type": "str"}},
        supports_check_mode=True,
    )
    container = module.params["container"]
    label = module.params["label"] or container

    def run(argv: list[str]) -> str:
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=f"{label}: {' '.join(argv)} failed: {(err or out).strip()}", routes=[])
        return out

    addresses = container_addresses(json.loads(run(["podman", "container", "inspect", container])))
    if module.params["network"]:
        addresses = {n: a for n, a in addresses.items() if n == module.params["network"]}
    if not addresses:
        module.fail_json(msg=f"{label}: container {container} has no IPv4 address on "
                             f"{module.params['network'] or 'any podman network'}", routes=[])
    routes = []
    for network, address in addresses.items():
        bridge = json.loads(run(["podman", "network", "inspect", network]))[0].get("network_interface")
        route = run(["ip", "-o", "route", "get", address]).split("\\")[0].strip()  # drop "\    cache"
        routes.append({"network": network, "address": address, "interface": bridge, "route": route.strip()})
        problem = route_problem(label, network, address, bridge, route)
        if problem:
            module.fail_json(msg=problem, routes=routes)
    module.exit_json(changed=False, routes=routes, address=routes[0]["address"])


if __name__ == "__main__":
    main()
