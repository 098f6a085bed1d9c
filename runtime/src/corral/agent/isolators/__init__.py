"""Resource isolation of executor containers, chosen by what the host mounts:

    posix       Mesos's posix/cpu,posix/mem: no limits; the process tree is cleaned up
    cgroups_v1  cgroups v1 memory and cpu controllers (a hybrid or legacy layout)
    cgroups_v2  the unified cgroup2 hierarchy: cpu, memory and pids

`detect()` picks one from --isolation (`parse_isolation`) and the host.
"""

from __future__ import annotations

import logging
import os

from corral.agent.isolators.cgroups_v1 import CgroupsIsolator
from corral.agent.isolators.cgroups_v2 import Cgroups2Isolator, is_unified
from corral.agent.isolators.posix import CGROUP_ROOT, CPU_SHARES_PER_CPU, PosixIsolator, write

logger = logging.getLogger(__name__)

Isolator = PosixIsolator  # the interface every isolator implements


# Mesos's names of the isolators Corral has, and what they select.
MESOS_ISOLATORS = {"posix/cpu": "posix", "posix/mem": "posix",
                   "cgroups/cpu": "cgroups", "cgroups/mem": "cgroups", "cgroups/pids": "cgroups"}


def parse_isolation(value: str) -> str:
    """--isolation: auto, cgroups or posix, or Mesos's list of isolators
    (`cgroups/cpu,cgroups/mem`, `posix/cpu,posix/mem`); any cgroups/ name selects cgroups."""
    text = value.strip()
    if text in ("auto", "cgroups", "posix"):
        return text
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MESOS_ISOLATORS]
    if not names or unknown:
        raise ValueError(f"'{', '.join(unknown) or value}' is not an isolator Corral has: auto, cgroups, posix, "
                         f"or a list of {', '.join(MESOS_ISOLATORS)}")
    return "cgroups" if any(MESOS_ISOLATORS[n] == "cgroups" for n in names) else "posix"


def detect(requested: str = "auto", enable_cfs: bool = False, name: str = "agent", cpus: float = 1.0) -> Isolator:
    """The isolator to use; `name` separates the cgroups of agents sharing a machine.

    The agent's cgroup weighs as many CPUs as the agent offers (and all of
    Corral's as many as the machine has): left at the default, every task
    of every agent would share the CPU weight of a single process.
    """
    if requested == "posix":
        return PosixIsolator()
    try:
        if is_unified():
            return Cgroups2Isolator.create(name, cpus, enable_cfs)
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
