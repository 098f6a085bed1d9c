"""The agent's total resources: `--resources` plus what is detected, and attributes."""

from __future__ import annotations

import os
import shutil
from typing import Any

import psutil

from corral.resources import Resources

DEFAULT_PORTS = "ports:[31000-32000]"


def detect(work_dir: str) -> Resources:
    """cpus, mem (MB) and disk (MB) of this machine, leaving headroom for the system as Mesos does."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    total_mb = psutil.virtual_memory().total / 2**20
    mem = total_mb - 1024 if total_mb >= 2048 else total_mb / 2
    os.makedirs(work_dir, exist_ok=True)
    disk_mb = shutil.disk_usage(work_dir).total / 2**20
    disk = disk_mb - 5 * 1024 if disk_mb >= 10 * 1024 else disk_mb / 2
    return Resources.parse(f"cpus:{cpus};mem:{int(mem)};disk:{int(disk)};{DEFAULT_PORTS}")


def total_resources(flag: str | None, work_dir: str) -> Resources:
    """`--resources` overrides detection per resource name (any reservation counts as given)."""
    given = Resources.parse(flag or "")
    detected = detect(work_dir)
    names = given.names()
    missing = Resources({key: amount for key, amount in detected.items() if key[0] not in names})
    return given + missing


def attributes_json(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """Mesos's Attribute JSON: numbers are SCALAR, [a-b] RANGES, {x,y} SET, the rest TEXT."""
    out = []
    for name, value in attributes.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        elif isinstance(value, str) and value.startswith("[") and value.endswith("]"):
            ranges = []
            for part in value[1:-1].split(","):
                begin, _, end = part.strip().partition("-")
                ranges.append({"begin": int(begin), "end": int(end or begin)})
            out.append({"name": name, "type": "RANGES", "ranges": {"range": ranges}})
        elif isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            items = [v.strip() for v in value[1:-1].split(",") if v.strip()]
            out.append({"name": name, "type": "SET", "set": {"item": items}})
        else:
            out.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
    return out
