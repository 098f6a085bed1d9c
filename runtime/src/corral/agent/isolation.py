"""Resource isolation of executor containers.

`CgroupsIsolator` (cgroups v1 `memory` and `cpu` controllers, the Mesos
`cgroups/mem,cgroups/cpu` isolators) puts each container in its own cgroups
with a memory limit and cpu shares (and a CFS quota if enabled), reports
OOM kills as limitations, and kills every process left in the container when
it is destroyed.  `PosixIsolator` (Mesos's `posix/cpu,posix/mem`) limits
nothing and cleans up the executor's process tree.  `detect()` picks
cgroups when the hierarchy is writable.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

import psutil

from corral.resources import Resources

logger = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"
CPU_SHARES_PER_CPU = 1024
MIN_MEMORY_MB = 32
CFS_PERIOD_US = 100_000


class PosixIsolator:
    name = "posix"

    def prepare(self, container_id: str, resources: Resources) -> list[str]:
        return []

    def limitation(self, container_id: str) -> tuple[str, str] | None:
        return None

    def usage(self, container_id: str, pid: int | None) -> dict[str, Any]:
        if pid is None:
            return {}
        try:
            proc = psutil.Process(pid)
            procs = [proc] + proc.children(recursive=True)
            rss = sum(p.memory_info().rss for p in procs)
            cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        except psutil.Error:
            return {}
        return {"mem_rss_bytes": rss, "cpus_user_time_secs": cpu, "processes": len(procs)}

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


class CgroupsIsolator(PosixIsolator):
    name = "cgroups"

    def __init__(self, root: str = CGROUP_ROOT, hierarchy: str = "corral", enable_cfs: bool = False) -> None:
        self.root = root
        self.hierarchy = hierarchy
        self.enable_cfs = enable_cfs

    def _path(self, controller: str, container_id: str) -> str:
        return os.path.join(self.root, controller, self.hierarchy, container_id)

    def prepare(self, container_id: str, resources: Resources) -> list[str]:
        mem = self._path("memory", container_id)
        cpu = self._path("cpu", container_id)
        os.makedirs(mem, exist_ok=True)
        os.makedirs(cpu, exist_ok=True)
        mem_mb = max(resources.scalar("mem"), MIN_MEMORY_MB)
        _write(os.path.join(mem, "memory.limit_in_bytes"), str(int(mem_mb * 1024 * 1024)))
        cpus = resources.scalar("cpus")
        _write(os.path.join(cpu, "cpu.shares"), str(max(2, int(cpus * CPU_SHARES_PER_CPU))))
        if self.enable_cfs and cpus > 0:
            _write(os.path.join(cpu, "cpu.cfs_period_us"), str(CFS_PERIOD_US))
            _write(os.path.join(cpu, "cpu.cfs_quota_us"), str(max(1000, int(cpus * CFS_PERIOD_US))))
        return [mem, cpu]

    def limitation(self, container_id: str) -> tuple[str, str] | None:
        path = os.path.join(self._path("memory", container_id), "memory.oom_control")
        try:
            with open(path) as fh:
                fields = dict(line.split() for line in fh if line.strip())
        except OSError:
            return None
        if int(fields.get("oom_kill", "0")) > 0:
            limit = _read(os.path.join(self._path("memory", container_id), "memory.limit_in_bytes"))
            return ("REASON_CONTAINER_LIMITATION_MEMORY", f"Memory limit exceeded: the limit is {int(limit or 0) // 2**20} MB")
        return None

    def usage(self, container_id: str, pid: int | None) -> dict[str, Any]:
        mem = self._path("memory", container_id)
        out: dict[str, Any] = {}
        usage = _read(os.path.join(mem, "memory.usage_in_bytes"))
        limit = _read(os.path.join(mem, "memory.limit_in_bytes"))
        if usage:
            out["mem_total_bytes"] = int(usage)
        if limit:
            out["mem_limit_bytes"] = int(limit)
        return {**super().usage(container_id, pid), **out}

    def cleanup(self, container_id: str, pid: int | None) -> None:
        super().cleanup(container_id, pid)
        for controller in ("memory", "cpu"):
            path = self._path(controller, container_id)
            for _ in range(50):
                procs = [int(p) for p in (_read(os.path.join(path, "cgroup.procs")) or "").split()]
                if not procs:
                    break
                for p in procs:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)
            try:
                os.rmdir(path)
            except OSError:
                pass


def detect(requested: str = "auto", enable_cfs: bool = False) -> PosixIsolator:
    if requested == "posix":
        return PosixIsolator()
    probe = os.path.join(CGROUP_ROOT, "memory", "corral", f"probe-{os.getpid()}")
    try:
        for controller in ("memory", "cpu"):
            path = os.path.join(CGROUP_ROOT, controller, "corral", f"probe-{os.getpid()}")
            os.makedirs(path, exist_ok=True)
            os.rmdir(path)
    except OSError as exc:
        if requested == "cgroups":
            raise RuntimeError(f"--isolation cgroups: cannot create cgroups under {CGROUP_ROOT} ({exc.strerror})") from None
        logger.info("cgroups v1 (memory, cpu) not writable here; using posix isolation")
        return PosixIsolator()
    del probe
    return CgroupsIsolator(enable_cfs=enable_cfs)


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None
