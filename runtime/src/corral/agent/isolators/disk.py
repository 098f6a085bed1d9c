"""Mesos's `disk/du` isolator: the disk a container's sandbox uses, measured like `du` (the
blocks its files hold); over the container's `disk` resources (with
--enforce_container_disk_quota), limitations.disk_limitation."""

from __future__ import annotations

import os


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
