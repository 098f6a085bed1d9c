"""cgroups v2 isolation (the unified hierarchy of Debian 12, Ubuntu 22.04+, RHEL 9).

Each container gets one cgroup, `/sys/fs/cgroup/corral/<agent>/<slot>`, with the `cpu`,
`memory` and `pids` controllers: `cpu.weight` from its cpus (the kernel's mapping of
cpu.shares, cpus x 1024, to weights), `cpu.max` when --cgroups_enable_cfs is on,
`memory.max` with swap off, `memory.oom.group` so that an OOM kill takes the whole
container as Mesos destroys it, and `pids.max` when --cgroups_pids_max is set (a fork
past it fails with EAGAIN inside the task). An OOM kill is read from `memory.events`.

Why not the agent's own (systemd-delegated) cgroup: executors must outlive an agent
restart, so they cannot stay in the agent unit's cgroup — systemd 252 (Debian 12) refuses
to start a unit whose cgroup still holds a subtree with controllers enabled (status
219/CGROUP, measured). So the agent keeps its executors in a subtree of its own beside the
units, as Mesos's agent kept them out of its unit in `mesos_executors.slice`.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from corral.agent.isolators.posix import CFS_PERIOD_US, CGROUP_ROOT, MIN_MEMORY_MB, PosixIsolator, read, read_keyed, write
from corral.agent.limitations import memory_limitation
from corral.agent.model import Limitation
from corral.resources import Resources

logger = logging.getLogger(__name__)

CONTROLLERS = ("cpu", "memory", "pids")


def is_unified(root: str = CGROUP_ROOT) -> bool:
    """Is `root` the cgroup2 unified hierarchy (not v1 controllers, not a hybrid layout)?"""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def cpu_weight(cpus: float) -> int:
    """cpu.weight for `cpus`: the kernel's conversion of cpu.shares (cpus x 1024) to a weight."""
    shares = max(2, int(cpus * 1024))
    return max(1, min(10000, 1 + (shares - 2) * 9999 // 262142))


class Cgroups2Isolator(PosixIsolator):
    name = "cgroups2"

    def __init__(self, base: str, enable_cfs: bool = False, pids_max: int = 0) -> None:
        self.base = base  # the agent's subtree, e.g. /sys/fs/cgroup/corral/agent-1a2b
        self.enable_cfs = enable_cfs
        self.pids_max = pids_max  # per container; 0: no limit
        self._slots: dict[str, str] = {}  # container_id -> slot name
        self._oom_baseline: dict[str, int] = {}
        self._seq = 0

    @classmethod
    def create(cls, name: str, cpus: float, enable_cfs: bool, pids_max: int = 0, root: str = CGROUP_ROOT) -> "Cgroups2Isolator":
        """Make `root/corral/<name>` with the controllers enabled at every level (OSError if
        this process may not, RuntimeError naming a controller the kernel does not offer)."""
        missing = [c for c in CONTROLLERS if c not in (read(os.path.join(root, "cgroup.controllers")) or "").split()]
        if missing:
            raise RuntimeError(f"the cgroup2 hierarchy at {root} lacks the {', '.join(missing)} controller(s)")
        enable = " ".join("+" + c for c in CONTROLLERS)
        path = root
        for part in ("corral", name):
            write(os.path.join(path, "cgroup.subtree_control"), enable)
            path = os.path.join(path, part)
            os.makedirs(path, exist_ok=True)
        write(os.path.join(path, "cgroup.subtree_control"), enable)
        write(os.path.join(path, "cpu.weight"), str(cpu_weight(cpus)))
        return cls(path, enable_cfs, pids_max)

    def _dir(self, slot: str) -> str:
        return os.path.join(self.base, slot)

    def slot_of(self, container_id: str) -> str | None:
        return self._slots.get(container_id)

    def cgroup_paths(self, container_id: str) -> list[str]:
        slot = self._slots.get(container_id)
        return [] if slot is None else [self._dir(slot)]

    def adopt(self, container_id: str, slot: str) -> None:
        """A container recovered after an agent restart keeps its cgroup."""
        self._slots[container_id] = slot
        self._oom_baseline.setdefault(slot, 0)

    def prepare(self, container_id: str, resources: Resources) -> list[str]:
        slot = self._slots.get(container_id)
        if slot is None:
            slot = self._new_slot()
            self._slots[container_id] = slot
            self._oom_baseline[slot] = self._oom_kills(slot)
            write(os.path.join(self._dir(slot), "memory.oom.group"), "1")
            if os.path.exists(os.path.join(self._dir(slot), "memory.swap.max")):
                write(os.path.join(self._dir(slot), "memory.swap.max"), "0")
            if self.pids_max > 0:
                write(os.path.join(self._dir(slot), "pids.max"), str(self.pids_max))
        directory = self._dir(slot)
        mem_mb = max(resources.scalar("mem"), MIN_MEMORY_MB)
        write(os.path.join(directory, "memory.max"), str(int(mem_mb * 2**20)))
        cpus = resources.scalar("cpus")
        write(os.path.join(directory, "cpu.weight"), str(cpu_weight(cpus)))
        if self.enable_cfs and cpus > 0:
            write(os.path.join(directory, "cpu.max"), f"{max(1000, int(cpus * CFS_PERIOD_US))} {CFS_PERIOD_US}")
        return [directory]

    def _new_slot(self) -> str:
        while True:
            self._seq += 1
            slot = f"c{self._seq}"
            try:
                os.mkdir(self._dir(slot))
                return slot
            except FileExistsError:
                continue  # left by an earlier run, perhaps still in use

    def _oom_kills(self, slot: str) -> int:
        return int(read_keyed(os.path.join(self._dir(slot), "memory.events")).get("oom_kill", "0"))

    def _memory_max(self, slot: str) -> int | None:
        """memory.max in bytes (None while it is "max": no limit)."""
        text = read(os.path.join(self._dir(slot), "memory.max")) or ""
        return int(text) if text.isdigit() else None

    def limitation(self, container_id: str) -> Limitation | None:
        slot = self._slots.get(container_id)
        if slot is None or self._oom_kills(slot) <= self._oom_baseline.get(slot, 0):
            return None
        limit = self._memory_max(slot) or 0
        used = int(read(os.path.join(self._dir(slot), "memory.peak")) or limit)  # memory.peak: kernel 5.19+
        return memory_limitation(limit, used)

    def usage(self, container_id: str, pid: int | None) -> dict[str, Any]:
        out: dict[str, Any] = dict(super().usage(container_id, pid))
        slot = self._slots.get(container_id)
        if slot is None:
            return out
        current, limit = read(os.path.join(self._dir(slot), "memory.current")), self._memory_max(slot)
        if current:
            out["mem_total_bytes"] = int(current)
        if limit is not None:
            out["mem_limit_bytes"] = limit
        processes = read(os.path.join(self._dir(slot), "pids.current"))
        if processes:
            out["processes"] = int(processes)
        stat = read_keyed(os.path.join(self._dir(slot), "cpu.stat"))
        if "user_usec" in stat:
            out["cpus_user_time_secs"] = int(stat["user_usec"]) / 1e6
            out["cpus_system_time_secs"] = int(stat["system_usec"]) / 1e6
        return out

    def _procs(self, slot: str) -> list[int]:
        return [int(p) for p in (read(os.path.join(self._dir(slot), "cgroup.procs")) or "").split()]

    def kill(self, container_id: str, pid: int) -> None:
        """Kill an executor and everything in its cgroup (cgroup.kill, kernel 5.14+)."""
        super().kill(container_id, pid)
        slot = self._slots.get(container_id)
        if slot is not None:
            self._kill_all(slot)

    def _kill_all(self, slot: str) -> None:
        try:
            write(os.path.join(self._dir(slot), "cgroup.kill"), "1")
        except OSError:
            for p in self._procs(slot):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def cleanup(self, container_id: str, pid: int | None) -> None:
        """Kill whatever the container left behind and remove its cgroup."""
        super().cleanup(container_id, pid)
        slot = self._slots.pop(container_id, None)
        if slot is None:
            return
        self._oom_baseline.pop(slot, None)
        for _ in range(100):
            if not self._procs(slot):
                break
            self._kill_all(slot)
            time.sleep(0.01)  # SIGKILLed processes leave the cgroup asynchronously
        try:
            os.rmdir(self._dir(slot))
        except OSError as exc:
            logger.warning("cgroup %s not removed: %s", self._dir(slot), exc.strerror)

    def close(self) -> None:
        """Remove the agent's subtree if nothing runs in it any more."""
        if not self._slots:
            try:
                os.rmdir(self.base)
            except OSError:
                pass
