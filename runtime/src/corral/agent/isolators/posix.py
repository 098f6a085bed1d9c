"""Resource isolation of executor containers: the posix isolator and what every isolator shares.

`PosixIsolator` (Mesos's `posix/cpu,posix/mem`) limits nothing and cleans up the
executor's process tree; the cgroups isolators (`cgroups_v1`, `cgroups_v2`) extend it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import psutil

from corral.agent.model import Limitation
from corral.resources import Resources

logger = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"
CPU_SHARES_PER_CPU = 1024
MIN_MEMORY_MB = 32
CFS_PERIOD_US = 100_000


class PosixIsolator:
    name = "posix"

    def close(self) -> None:
        """Release what the isolator holds when the agent stops (executors keep running)."""

    def slot_of(self, container_id: str) -> str | None:
        return None

    def prepare(self, container_id: str, resources: Resources) -> list[str]:
        return []

    def cgroup_paths(self, container_id: str) -> list[str]:
        """The cgroup directories a process joins to run inside the container (a nested session's)."""
        return []

    def limitation(self, container_id: str) -> Limitation | None:
        return None

    def usage(self, container_id: str, pid: int | None) -> dict[str, Any]:
        if pid is None:
            return {}
        try:
            proc = psutil.Process(pid)
            procs = [proc] + proc.children(recursive=True)
            rss = sum(p.memory_info().rss for p in procs)
            times = [p.cpu_times() for p in procs]
        except psutil.Error:
            return {}
        return {"mem_rss_bytes": rss, "cpus_user_time_secs": sum(t.user for t in times),
                "cpus_system_time_secs": sum(t.system for t in times), "processes": len(procs)}

    def kill(self, container_id: str, pid: int) -> None:
        """Kill an executor and everything it started."""
        PosixIsolator.cleanup(self, container_id, pid)

    def cleanup(self, container_id: str, pid: int | None) -> None:
        if pid is None:
            return
        try:
            proc = psutil.Process(pid)
            procs = [proc] + proc.children(recursive=True)
        except psutil.Error:
            return
        for p in procs:
            try:
                p.kill()
            except psutil.Error:
                pass


def write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_keyed(path: str) -> dict[str, str]:
    """A flat keyed cgroup file (`key value` per line: memory.events, cpu.stat, memory.oom_control)."""
    return dict(line.split(None, 1) for line in (read(path) or "").splitlines() if line.strip())
