"""Resource isolation of executor containers, chosen by what the host mounts:

    posix       Mesos's posix/cpu,posix/mem: no limits; the process tree is cleaned up
    cgroups_v1  cgroups v1 memory and cpu controllers (a hybrid or legacy layout), and with
                cgroups/devices and gpu/nvidia the devices controller (devices.py)
    cgroups_v2  the unified cgroup2 hierarchy: cpu, memory and pids

`detect()` picks one from --isolation (`parse_isolation`) and the host.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from corral.agent.isolators.cgroups_v1 import CgroupsIsolator
from corral.agent.isolators.cgroups_v2 import Cgroups2Isolator, is_unified
from corral.agent.isolators.devices import GpuAllocator
from corral.agent.isolators.posix import CGROUP_ROOT, CPU_SHARES_PER_CPU, PosixIsolator, write

logger = logging.getLogger(__name__)

Isolator = PosixIsolator  # the interface every isolator implements


# Mesos's names of the isolators Corral has, and what they select.
MESOS_ISOLATORS = {"posix/cpu": "posix", "posix/mem": "posix",
                   "cgroups/cpu": "cgroups", "cgroups/mem": "cgroups", "cgroups/pids": "cgroups",
                   "cgroups/devices": "cgroups", "gpu/nvidia": "cgroups", "disk/du": "disk"}


@dataclass(frozen=True)
class Isolation:
    """--isolation parsed: which cpu/memory isolator, whether disk/du watches sandboxes, and
    whether containers get a devices whitelist (cgroups/devices) with their GPUs (gpu/nvidia)."""

    kind: str = "auto"  # auto, posix or cgroups
    disk_du: bool = False
    devices: bool = False
    gpu: bool = False

    def __str__(self) -> str:
        extra = [n for n, on in (("cgroups/devices", self.devices), ("gpu/nvidia", self.gpu), ("disk/du", self.disk_du)) if on]
        return ",".join([self.kind, *extra])


def parse_isolation(value: str) -> Isolation:
    """--isolation: auto, cgroups or posix, or Mesos's list of isolators (`cgroups/cpu,cgroups/mem`,
    `posix/cpu,posix/mem`, `cgroups/devices`, `gpu/nvidia`, `disk/du`); any cgroups/ name
    selects cgroups, and each may come with disk/du (`cgroups,disk/du`); gpu/nvidia (cgroups
    v1's devices controller) implies cgroups/devices, the whitelist its GPUs are allowed in."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in MESOS_ISOLATORS and n not in ("auto", "cgroups", "posix")]
    if not names or unknown:
        raise ValueError(f"'{', '.join(unknown) or value}' is not an isolator Corral has: auto, cgroups, posix, "
                         f"or a list of {', '.join(MESOS_ISOLATORS)}")
    kinds = {MESOS_ISOLATORS.get(n, n) for n in names} - {"disk"}
    if "auto" in kinds and len(kinds) > 1:
        raise ValueError(f"'{value}': auto picks the isolator itself; name no other")
    gpu = "gpu/nvidia" in names
    devices = gpu or "cgroups/devices" in names
    kind = "cgroups" if "cgroups" in kinds else "auto" if "auto" in kinds else "posix"
    return Isolation(kind, "disk/du" in names, devices, gpu)


def detect(requested: str = "auto", enable_cfs: bool = False, name: str = "agent", cpus: float = 1.0,
           pids_max: int = 0, devices: bool = False, gpus: GpuAllocator | None = None) -> Isolator:
    """The isolator to use; `name` separates the cgroups of agents sharing a machine; `pids_max`
    limits each container's processes (cgroups v2 only: v1 has no pids controller set up here);
    `devices` whitelists devices and `gpus` the GPUs of each container (cgroups v1 only).

    The agent's cgroup weighs as many CPUs as the agent offers (and all of
    Corral's as many as the machine has): left at the default, every task
    of every agent would share the CPU weight of a single process.
    """
    if requested == "posix":
        return PosixIsolator()
    wanted = "gpu/nvidia" if gpus is not None else "cgroups/devices" if devices else None
    if wanted and is_unified():
        raise RuntimeError(f"--isolation {wanted}: this host has cgroups v2, where device access is an eBPF "
                           "program per cgroup, which Corral does not load (the devices whitelist needs cgroups v1)")
    try:
        if is_unified():
            return Cgroups2Isolator.create(name, cpus, enable_cfs, pids_max)
        return _cgroups_v1(name, cpus, enable_cfs, wanted is not None, gpus)
    except (OSError, RuntimeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if requested == "cgroups" or wanted:
            raise RuntimeError(f"--isolation {wanted or 'cgroups'}: cannot create cgroups under {CGROUP_ROOT} ({why})") from None
        logger.info("cgroups are not writable here (%s); using posix isolation", why)
        return PosixIsolator()


def _cgroups_v1(name: str, cpus: float, enable_cfs: bool, devices: bool, gpus: GpuAllocator | None) -> CgroupsIsolator:
    hierarchy = f"corral/{name}"
    for controller in ("memory", "cpu", "devices") if devices else ("memory", "cpu"):
        os.makedirs(os.path.join(CGROUP_ROOT, controller, hierarchy), exist_ok=True)
    write(os.path.join(CGROUP_ROOT, "cpu", "corral", "cpu.shares"), str(max(2, (os.cpu_count() or 1) * CPU_SHARES_PER_CPU)))
    write(os.path.join(CGROUP_ROOT, "cpu", hierarchy, "cpu.shares"), str(max(2, int(cpus * CPU_SHARES_PER_CPU))))
    return CgroupsIsolator(hierarchy=hierarchy, enable_cfs=enable_cfs, devices=devices, gpus=gpus)
