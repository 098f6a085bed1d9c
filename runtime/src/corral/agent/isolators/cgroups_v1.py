"""cgroups v1 isolation (Mesos's `cgroups/mem,cgroups/cpu`): each container in its own
`memory` and `cpu` cgroups under `<controller>/corral/<agent>/`, with a memory limit, cpu
shares and, with --cgroups_enable_cfs, a CFS quota; OOM kills are reported as limitations.
With `cgroups/devices` (and `gpu/nvidia`) also a `devices` cgroup whose whitelist is
written from devices.py."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from corral.agent.isolators.devices import Gpu, GpuAllocator, control_entries, whitelist
from corral.agent.isolators.posix import (CFS_PERIOD_US, CGROUP_ROOT, CPU_SHARES_PER_CPU, MIN_MEMORY_MB, PosixIsolator,
                                          read, read_keyed, write)
from corral.agent.limitations import memory_limitation
from corral.agent.model import Limitation
from corral.resources import Resources

logger = logging.getLogger(__name__)


class CgroupsIsolator(PosixIsolator):
    """cgroups v1 memory and cpu isolation with a pool of reusable cgroups.

    Creating and removing a memory cgroup costs the kernel more than anything
    else the agent does for a short task, so emptied cgroups go back to a pool
    and are reused; OOM kills are detected against the counter's value at the
    time the cgroup was handed out.
    """

    name = "cgroups"
    POOL_SIZE = 256

    def __init__(self, root: str = CGROUP_ROOT, hierarchy: str = "corral/agent", enable_cfs: bool = False,
                 devices: bool = False, gpus: GpuAllocator | None = None) -> None:
        self.root = root
        self.hierarchy = hierarchy
        self.enable_cfs = enable_cfs
        self.controllers = ("memory", "cpu", "devices") if devices or gpus is not None else ("memory", "cpu")
        self.gpus = gpus
        self._gpu_controls = control_entries() if gpus is not None else []
        self._free: list[str] = []
        self._slots: dict[str, str] = {}  # container_id -> slot name
        self._written: dict[tuple[str, str], str] = {}  # (slot, file) -> value last written
        self._oom_baseline: dict[str, int] = {}
        self._seq = 0
        for name in self._existing_slots():
            if not any(self._procs(name, c) for c in self.controllers):
                self._free.append(name)

    def close(self) -> None:
        """Remove the pooled (empty) cgroups, and the agent's hierarchy if nothing runs in it."""
        for slot in self._free:
            for controller in self.controllers:
                try:
                    os.rmdir(self._dir(controller, slot))
                except OSError:
                    pass
        self._free.clear()
        if not self._slots:
            for controller in self.controllers:
                try:
                    os.rmdir(os.path.join(self.root, controller, self.hierarchy))
                except OSError:
                    pass

    def _dir(self, controller: str, slot: str) -> str:
        return os.path.join(self.root, controller, self.hierarchy, slot)

    def _existing_slots(self) -> list[str]:
        base = os.path.join(self.root, "memory", self.hierarchy)
        try:
            return sorted(n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n)))
        except OSError:
            return []

    def _procs(self, slot: str, controller: str) -> list[int]:
        return [int(p) for p in (read(os.path.join(self._dir(controller, slot), "cgroup.procs")) or "").split()]

    def _new_slot(self) -> str:
        while True:
            self._seq += 1
            slot = f"c{self._seq}"
            if not os.path.exists(self._dir("memory", slot)):
                break
        for controller in self.controllers:
            os.makedirs(self._dir(controller, slot), exist_ok=True)
        return slot

    def _set(self, slot: str, controller: str, name: str, value: str) -> None:
        if self._written.get((slot, name)) != value:
            write(os.path.join(self._dir(controller, slot), name), value)
            self._written[(slot, name)] = value

    def slot_of(self, container_id: str) -> str | None:
        return self._slots.get(container_id)

    def cgroup_paths(self, container_id: str) -> list[str]:
        slot = self._slots.get(container_id)
        return [] if slot is None else [self._dir(c, slot) for c in self.controllers]

    def adopt(self, container_id: str, slot: str) -> None:
        """A container recovered after an agent restart keeps its cgroups (and the GPUs they allow)."""
        self._slots[container_id] = slot
        if slot in self._free:
            self._free.remove(slot)
        if self.gpus is not None:
            self.gpus.recover(container_id, read(os.path.join(self._dir("devices", slot), "devices.list")) or "")

    def prepare(self, container_id: str, resources: Resources) -> list[str]:
        # GPUs first: a container that cannot have them takes no cgroup.
        gpus = self.gpus.allocate(container_id, resources.scalar("gpus")) if self.gpus is not None else ()
        try:
            return self._prepare(container_id, resources, gpus)
        except OSError:
            if self.gpus is not None and container_id not in self._slots:
                self.gpus.release(container_id)
            raise

    def _prepare(self, container_id: str, resources: Resources, gpus: tuple[Gpu, ...]) -> list[str]:
        slot = self._slots.get(container_id)
        if slot is None:
            slot = self._free.pop() if self._free else self._new_slot()
            if not all(os.path.isdir(self._dir(c, slot)) for c in self.controllers):
                # Removed under us (an operator cleaning up): make it again.
                self._written = {k: v for k, v in self._written.items() if k[0] != slot}
                for controller in self.controllers:
                    os.makedirs(self._dir(controller, slot), exist_ok=True)
            self._slots[container_id] = slot
            self._oom_baseline[slot] = self._oom_kills(slot)
        mem_mb = max(resources.scalar("mem"), MIN_MEMORY_MB)
        self._set(slot, "memory", "memory.limit_in_bytes", str(int(mem_mb * 1024 * 1024)))
        cpus = resources.scalar("cpus")
        self._set(slot, "cpu", "cpu.shares", str(max(2, int(cpus * CPU_SHARES_PER_CPU))))
        if self.enable_cfs and cpus > 0:
            self._set(slot, "cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US))
            self._set(slot, "cpu", "cpu.cfs_quota_us", str(max(1000, int(cpus * CFS_PERIOD_US))))
        if "devices" in self.controllers:
            self._set_devices(slot, whitelist(gpus, self._gpu_controls))
        return [self._dir(c, slot) for c in self.controllers]

    def _set_devices(self, slot: str, entries: list[str]) -> None:
        """The slot's whitelist: everything denied, then each entry allowed (an empty cgroup, or the same list)."""
        text = "\n".join(entries)
        if self._written.get((slot, "devices.allow")) == text:
            return
        directory = self._dir("devices", slot)
        write(os.path.join(directory, "devices.deny"), "a")
        for entry in entries:
            write(os.path.join(directory, "devices.allow"), entry)
        self._written[(slot, "devices.allow")] = text

    def _oom_kills(self, slot: str) -> int:
        return int(read_keyed(os.path.join(self._dir("memory", slot), "memory.oom_control")).get("oom_kill", "0"))

    def limitation(self, container_id: str) -> Limitation | None:
        slot = self._slots.get(container_id)
        if slot is None or self._oom_kills(slot) <= self._oom_baseline.get(slot, 0):
            return None
        memory = self._dir("memory", slot)
        limit = int(read(os.path.join(memory, "memory.limit_in_bytes")) or 0)
        used = int(read(os.path.join(memory, "memory.max_usage_in_bytes")) or limit)
        return memory_limitation(limit, used)

    def usage(self, container_id: str, pid: int | None) -> dict[str, Any]:
        out: dict[str, Any] = dict(super().usage(container_id, pid))
        slot = self._slots.get(container_id)
        if slot is not None:
            usage = read(os.path.join(self._dir("memory", slot), "memory.usage_in_bytes"))
            limit = read(os.path.join(self._dir("memory", slot), "memory.limit_in_bytes"))
            if usage:
                out["mem_total_bytes"] = int(usage)
            if limit:
                out["mem_limit_bytes"] = int(limit)
        return out

    def cleanup(self, container_id: str, pid: int | None) -> None:
        """Kill whatever the container left behind and return its cgroups to the pool."""
        super().cleanup(container_id, pid)
        slot = self._slots.pop(container_id, None)
        if slot is None:
            return
        for _ in range(50):
            procs = [p for c in self.controllers for p in self._procs(slot, c)]
            if not procs:
                break
            for p in procs:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        else:
            logger.warning("cgroup %s still has processes; not reusing it", slot)
            return
        if self.gpus is not None:
            self.gpus.release(container_id)  # (only now: its processes may have been using them)
        if len(self._free) < self.POOL_SIZE:
            self._free.append(slot)
            return
        for controller in self.controllers:
            try:
                os.rmdir(self._dir(controller, slot))
            except OSError:
                pass
        self._written = {k: v for k, v in self._written.items() if k[0] != slot}
