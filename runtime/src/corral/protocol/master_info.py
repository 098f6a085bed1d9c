"""Mesos's MasterInfo: what a master says of itself, built here and nowhere else.

The same JSON goes into its ZooKeeper candidacy (`json.info_NNNNNNNNNN`, read by agents,
schedulers and pymesos to find the leader), the SUBSCRIBED and REGISTERED events, GET_MASTER
and `/state`.  Its version, as `/version` and GET_VERSION report it, is `version_info()`.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from corral import MESOS_API_VERSION, __version__


def master_info(master_id: str, hostname: str, ip: str, port: int) -> dict[str, Any]:
    return {
        "id": master_id,
        "ip": ip_as_int(ip),
        "port": port,
        "pid": f"master@{ip}:{port}",
        "hostname": hostname,
        "version": MESOS_API_VERSION,
        "address": {"hostname": hostname, "ip": ip, "port": port},
    }


def version_info() -> dict[str, Any]:
    return {
        "version": MESOS_API_VERSION,
        "corral_version": __version__,
        "build_date": "",
        "build_time": 0,
        "build_user": "corral",
    }


def ip_as_int(ip: str) -> int:
    """MasterInfo.ip: the IPv4 address as Mesos stores it (network order read as a little-endian uint32)."""
    try:
        return struct.unpack("<I", socket.inet_aton(ip))[0]
    except OSError:
        return 0


def address_of(info: dict[str, Any]) -> str:
    """host:port of the master a MasterInfo describes (its address, else hostname and port)."""
    address = info.get("address") or {}
    return f"{address.get('ip') or info.get('hostname')}:{address.get('port') or info.get('port')}"
