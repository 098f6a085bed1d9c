"""The limitations a container reports as Mesos's isolators word them (pure): the TaskStatus
reason, message and `limitation.resources` of a container over its memory or disk."""

from __future__ import annotations

from corral.agent.model import Limitation
from corral.resources import Resources


def memory_limitation(limit: int, used: int) -> Limitation:
    """The limitation Mesos's memory isolator reports: its message, and the memory used (MB)."""
    return Limitation(
        "REASON_CONTAINER_LIMITATION_MEMORY",
        f"Memory limit exceeded: Requested: {bytes_text(limit)} Maximum Used: {bytes_text(used)}",
        Resources.scalars(mem=used / 2**20).to_json(),
    )


def disk_limitation(quota: int, used: int) -> Limitation:
    """The limitation Mesos's disk/du isolator reports, with the disk used (MB)."""
    return Limitation(
        "REASON_CONTAINER_LIMITATION_DISK",
        f"Disk usage ({bytes_text(used)}) exceeds quota ({bytes_text(quota)})",
        Resources.scalars(disk=used / 2**20).to_json(),
    )


def bytes_text(n: int) -> str:
    """Bytes as stout writes them: 64MB, 1GB, 1536KB, 100B."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"
