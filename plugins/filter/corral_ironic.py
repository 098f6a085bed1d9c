# Copyright: Corral contributors
"""Filters for the Ironic roles: plain functions, unit-tested in tests/toolkit."""
from __future__ import annotations

import ipaddress
from typing import Any

MASKED = "******"
INTERFACE_FIELDS = (
    "bios_interface", "boot_interface", "console_interface", "deploy_interface",
    "inspect_interface", "management_interface", "network_interface", "power_interface",
    "raid_interface", "rescue_interface", "storage_interface", "vendor_interface",
)


def node_changes(node: dict[str, Any] | None, desired: dict[str, Any]) -> list[str]:
    """Fields of an enrolled node that differ from the desired definition.

    Ironic masks secrets in driver_info ("******"); a masked value counts as equal.
    Properties are compared as strings (openstack.cloud stores them as strings).
    """
    if not node:
        return ["<new node>"]
    changes = []
    if desired.get("driver") and node.get("driver") != desired["driver"]:
        changes.append("driver")
    for field in INTERFACE_FIELDS:
        want = desired.get(field)
        if want is not None and node.get(field) != want:
            changes.append(field)
    have_info = node.get("driver_info") or {}
    for key, want in (desired.get("driver_info") or {}).items():
        have = have_info.get(key)
        if have == MASKED:
            continue
        if str(have) != str(want):
            changes.append(f"driver_info.{key}")
    have_props = node.get("properties") or {}
    for key, want in (desired.get("properties") or {}).items():
        if want is None:
            continue
        if str(have_props.get(key)) != str(want):
            changes.append(f"properties.{key}")
    rc = desired.get("resource_class")
    if rc and node.get("resource_class") != rc:
        changes.append("resource_class")
    return changes


def network_data(links: list[dict[str, Any]], dns: list[str] | None = None) -> dict:
    """OpenStack network_data.json from [{mac, ip, prefix, gateway?, name?, mtu?}]."""
    out: dict[str, Any] = {"links": [], "networks": [], "services": []}
    for i, link in enumerate(links):
        name = link.get("name") or f"eth{i}"
        out["links"].append({
            "id": name,
            "type": "phy",
            "ethernet_mac_address": str(link["mac"]).lower(),
            "mtu": int(link.get("mtu", 1500)),
        })
        if link.get("ip"):
            iface = ipaddress.ip_interface(f"{link['ip']}/{link.get('prefix', 24)}")
            net: dict[str, Any] = {
                "id": f"network{i}",
                "link": name,
                "type": "ipv4" if iface.version == 4 else "ipv6",
                "ip_address": str(iface.ip),
                "netmask": str(iface.network.netmask),
                "routes": [],
            }
            if link.get("gateway"):
                net["routes"].append({
                    "network": "0.0.0.0" if iface.version == 4 else "::",
                    "netmask": "0.0.0.0" if iface.version == 4 else "::",
                    "gateway": link["gateway"],
                })
            out["networks"].append(net)
        else:
            out["networks"].append({"id": f"network{i}", "link": name, "type": "ipv4_dhcp"})
    for server in dns or []:
        out["services"].append({"type": "dns", "address": server})
    return out


def meta_data(uuid: str, hostname: str, public_keys: dict[str, str] | list[str],
              extra: dict[str, Any] | None = None) -> dict:
    """OpenStack meta_data.json."""
    if isinstance(public_keys, list):
        public_keys = {f"key{i}": k for i, k in enumerate(public_keys)}
    data = {
        "uuid": uuid,
        "name": hostname,
        "hostname": hostname,
        "availability_zone": "corral",
        "public_keys": {k: v.strip() for k, v in public_keys.items()},
        "meta": extra or {},
    }
    return data


def network_ip(net: dict[str, Any]) -> str | None:
    """The first static IP address in a network_data.json document."""
    for n in net.get("networks", []):
        if n.get("ip_address"):
            return n["ip_address"]
    return None


def ip_in_subnet(ip: str, subnet: str) -> bool:
    """Whether an address lies in a subnet (no netaddr needed)."""
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return False


def sushy_systems(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fake Redfish systems for sushy-tools from the nodes' host variables."""
    systems = []
    for host in nodes:
        uuid = host.get("ironic_nodes_bmc_system_uuid")
        if not uuid:
            continue
        systems.append({
            "uuid": uuid,
            "name": host.get("ironic_nodes_name") or host.get("inventory_hostname"),
            "power_state": "Off",
            "nics": [
                {"mac": str(n["mac"]).lower(), "ip": n.get("ip", "")}
                for n in host.get("ironic_nodes_nics", [])
            ],
        })
    return systems


class FilterModule:
    def filters(self):
        return {
            "corral_node_changes": node_changes,
            "corral_network_data": network_data,
            "corral_meta_data": meta_data,
            "corral_network_ip": network_ip,
            "corral_sushy_systems": sushy_systems,
            "corral_ip_in_subnet": ip_in_subnet,
        }
