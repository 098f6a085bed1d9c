"""Persistent volumes on the agent, as Mesos lays them out (pure: paths and what to change).

A volume is a directory `<work_dir>/volumes/roles/<role>/<persistence id>`: it is created when
the master checkpoints a CREATE on this agent, outlives every task that uses it and the agent
itself, and is deleted when the master checkpoints its DESTROY.  A task or executor whose
resources hold a volume sees it at the volume's `container_path` inside its sandbox (a link,
as Mesos's filesystem/posix isolator makes it; a container image gets it mounted there).
"""

from __future__ import annotations

import os.path

from corral.resources import Resources


def volume_path(work_dir: str, role: str, persistence_id: str) -> str:
    return os.path.join(work_dir, "volumes", "roles", role, persistence_id)


def paths(work_dir: str, resources: Resources) -> dict[str, str]:
    """Each volume in `resources`: its directory → its container_path."""
    return {volume_path(work_dir, key[1].role, key[2].persistence_id): key[2].container_path
            for key, _ in resources.volumes().items() if key[1] is not None and key[2] is not None}


def changes(work_dir: str, before: Resources, after: Resources) -> tuple[list[str], list[str]]:
    """The volume directories to create and those to delete when the checkpointed resources go from
    `before` to `after`."""
    old, new = set(paths(work_dir, before)), set(paths(work_dir, after))
    return sorted(new - old), sorted(old - new)


def links(sandbox: str, work_dir: str, resources: Resources) -> list[tuple[str, str]]:
    """(link in the sandbox, volume directory) for each volume a container's resources hold."""
    return [(os.path.join(sandbox, container_path), directory)
            for directory, container_path in sorted(paths(work_dir, resources).items())]
