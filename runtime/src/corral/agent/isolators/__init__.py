"""Resource isolation of executor containers, chosen by what the host mounts:

    posix       Mesos's posix/cpu,posix/mem: no limits; the process tree is cleaned up
    cgroups_v1  cgroups v1 memory and cpu controllers (a hybrid or legacy layout)
    cgroups_v2  the unified cgroup2 hierarchy: cpu, memory and pids

`detect()` picks one from --isolation (`parse_isolation`) and the host.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from corral.agent.isolators.cgroups_v1 import CgroupsIsolator
from corral.agent.isolators.cgroups_v2 import Cgroups2Isolator, is_unified
from corral.agent.isolators.posix import CGROUP_ROOT, CPU_SHARES_PER_CPU, PosixIsolator, write

logger = logging.getLogger(__name__)

Isolator = PosixIsolator  # the interface every isolator implements


# Mesos's names of the isolators Corral has, and what they select.
MESOS_ISOLATORS = {"posix/cpu": "posix", "posix/mem": "posix",
                   "cgroups/cpu": "cgroups", "cgroups/mem": "cgroups", "cgroups/pids": "cgroups",
                   "disk/du": "disk"}


@dataclass(frozen=True)
class Isolation:
    """--isolation parsed: which cpu/memory isolator, and whether disk/du watches sandboxes."""

    kind: str = "auto"  # auto, posix or cgroups
    disk_du: bool = False

    def __str__(self) -> str:
        return self.kind + (",disk/du" if self.disk_du else "")


def parse_isolation(value: str) -> Isolation:
    """--isolation: auto, cgroups or posix, or Mesos's list of isolators (`cgroups/cpu,cgroups/mem`,
    `posix/cpu,posix/mem`, `disk/du`); any cgroups/ name selects cgroups, and each may come
    with disk/du (`cgroups,disk/du`)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in MESOS_ISOLATORS and n not in ("auto", "cgroups", "posix")]
    if not names or unknown:
        raise ValueError(f"'{', '.join(unknown) or value}' is not an isolator Corral has: auto, cgroups, posix, "
                         f"or a list of {', '.join(MESOS_ISOLATORS)}")
    kinds = {MESOS_ISOLATORS.get(n, n) for n in names} - {"disk"}
    if "auto" in kinds and len(kinds) > 1:
        raise ValueError(f"'{value}': auto picks the isolator itself; name no other")
    kind = "cgroups" if "cgroups" in kinds else "auto" if "auto" in kinds else "posix"
    return Isolation(kind, "disk/du" in names)


def detect(requested: str = "auto", enable_cfs: bool = False, name: str = "agent", cpus: float = 1.0,
           pids_max: int = 0) -> Isolator:
    """The isolator to use; `name` separates the cgroups of agents sharing a machine; `pids_max`
    limits each container's processes (cgroups v2 only: v1 has no pids controller set up here).

    The agent's cgroup weighs as many CPUs as the agent offers (and all of
    Corral's as many as the machine has): left at the default, every task
    of every agent would share the CPU weight of a single process.
    """
    if requested == "posix":
        return PosixIsolator()
    try:
        if is_unified():
            return Cgroups2Isolator.create(name, cpus, enable_cfs, pids_max)
        return _cgroups_v1(name, cpus, enable_cfs)
    except (OSError, RuntimeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if requested == "cgroups":
            raise RuntimeError(f"--isolation cgroups: cannot create cgroups under {CGROUP_ROOT} ({why})") from None
        logger.info("cgroups are not writable here (%s); using posix isolation", why)
        return PosixIsolator()


def _cgroups_v1(name: str, cpus: float, enable_cfs: bool) -> CgroupsIsolator:
    hierarchy = f"corral/{name}"
    for controller in ("memory", "cpu"):
        os.makedirs(os.path.join(CGROUP_ROOT, controller, hierarchy), exist_ok=True)
    write(os.path.join(CGROUP_ROOT, "cpu", "corral", "cpu.shares"), str(max(2, (os.cpu_count() or 1) * CPU_SHARES_PER_CPU)))
    write(os.path.join(CGROUP_ROOT, "cpu", hierarchy, "cpu.shares"), str(max(2, int(cpus * CPU_SHARES_PER_CPU))))
    return CgroupsIsolator(hierarchy=hierarchy, enable_cfs=enable_cfs)
