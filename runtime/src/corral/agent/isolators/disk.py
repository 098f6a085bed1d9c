"""Mesos's `disk/du` isolator: the disk a container's sandbox uses, measured like `du` (the
blocks its files hold), and the limitation when it exceeds the container's `disk`
resources (with --enforce_container_disk_quota)."""

from __future__ import annotations

import os

from corral.agent.isolators.posix import bytes_text
from corral.agent.model import Limitation
from corral.resources import Resources


def du(path: str) -> int:
    """Bytes of disk the files under `path` hold (st_blocks, each file once, symlinks not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path, onerror=lambda exc: None):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed while we walk
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def disk_limitation(quota: int, used: int) -> Limitation:
    """The limitation Mesos's disk/du isolator reports, with the disk used (MB)."""
    return Limitation(
        "REASON_CONTAINER_LIMITATION_DISK",
        f"Disk usage ({bytes_text(used)}) exceeds quota ({bytes_text(quota)})",
        Resources.scalars(disk=used / 2**20).to_json(),
    )
