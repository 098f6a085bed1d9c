"""Pure offer matching: which of an application's tasks fit on which offer, or why none does.

An `OfferSlot` is one offer being consumed during an allocation round: tasks
placed on it take resources out of `remaining`.  Placement honours the offer's
allocation role (the application's role), attribute constraints and the
sizes from `AppSpec`.  When nothing fits, the functions return a sentence for
the queue's "reason" column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from corral.resources import Resources
from corral.spark.constraints import Constraints, describe_attributes, format_constraints, matches
from corral.spark.sparkconf import COARSE, AppSpec


@dataclass
class OfferSlot:
    offer_id: str
    agent_id: str
    host: str
    agent_address: str
    role: str
    attributes: list[dict[str, Any]]
    remaining: Resources
    used: bool = False

    @classmethod
    def from_offer(cls, offer: Mapping[str, Any]) -> "OfferSlot":
        address = (offer.get("url") or {}).get("address") or {}
        host = address.get("ip") or address.get("hostname") or offer.get("hostname", "")
        role = (offer.get("allocation_info") or {}).get("role") or _role_of(offer.get("resources", []))
        return cls(
            offer_id=offer["id"]["value"],
            agent_id=offer["agent_id"]["value"],
            host=host,
            agent_address=f"{address.get('ip') or address.get('hostname') or host}:{address.get('port', 5051)}",
            role=role,
            attributes=list(offer.get("attributes") or []),
            remaining=Resources.from_json(offer.get("resources", [])),
        )

    @property
    def cpus(self) -> float:
        return self.remaining.scalar("cpus")

    @property
    def mem(self) -> float:
        return self.remaining.scalar("mem")

    def fits(self, cpus: float, mem: float) -> bool:
        return self.cpus + 1e-9 >= cpus and self.mem + 1e-9 >= mem

    def take(self, cpus: float, mem: float) -> Resources:
        """Take cpus and mem out of this offer (reserved resources first) and return them."""
        taken: dict[Any, Any] = {}
        for name, need in (("cpus", cpus), ("mem", mem)):
            keys = sorted((k for k, v in self.remaining.items() if k[0] == name and isinstance(v, float)),
                          key=lambda k: k[1] is None)
            for key in keys:
                if need <= 1e-9:
                    break
                have = self.remaining.get(*key)
                assert isinstance(have, float)
                part = round(float(min(have, need)), 3)
                taken[key] = part
                need -= part
        result = Resources(taken)
        self.remaining = self.remaining - result
        self.used = True
        return result


def _role_of(resources: Iterable[Mapping[str, Any]]) -> str:
    for r in resources:
        if (r.get("allocation_info") or {}).get("role"):
            return r["allocation_info"]["role"]
    return "*"


@dataclass
class Sizes:
    """Dispatcher-wide sizes of the Spark daemons' own allowances."""

    master_cpus: float = 0.1
    master_mem: float = 512.0
    worker_daemon_mem: float = 384.0  # the worker JVM itself, on top of its executors


@dataclass
class WorkerPlan:
    slot: OfferSlot
    cores: int  # Spark cores of the worker
    spark_memory_mb: int  # memory the worker offers its executors
    task_mem: float  # Corral mem of the task: daemon + executors with overhead
    resources: Resources | None = None  # what was taken out of the offer for it


@dataclass
class Placement:
    """Result of trying to place something; `reason` says why not when `ok` is False."""

    ok: bool
    reason: str = ""
    slot: OfferSlot | None = None
    workers: list[WorkerPlan] = field(default_factory=list)


def candidates(slots: Iterable[OfferSlot], role: str, constraints: Constraints) -> list[OfferSlot]:
    return [s for s in slots if s.role == role and matches(constraints, s.attributes)]


def place_fixed(slots: list[OfferSlot], spec: AppSpec, what: str, cpus: float, mem: float,
                constraints: Constraints, constraint_key: str) -> Placement:
    """Find a slot for one task of fixed size (the Spark master or the driver)."""
    in_role = [s for s in slots if s.role == spec.role]
    if not in_role:
        return Placement(False, f"waiting for resource offers for role '{spec.role}'")
    matching = [s for s in in_role if matches(constraints, s.attributes)]
    if not matching:
        return Placement(False, f"no offered agent matches {constraint_key} '{format_constraints(constraints)}' "
                                f"for the {what} (offers from: {_agents(in_role)})")
    for slot in sorted(matching, key=lambda s: (not s.used, -s.cpus)):  # pack onto slots already in use
        if slot.fits(cpus, mem):
            return Placement(True, slot=slot)
    best = max(matching, key=lambda s: (s.cpus, s.mem))
    return Placement(False, f"waiting for an offer with cpus >= {cpus:g} and mem >= {mem:g} MB for the {what} "
                            f"(largest matching offer: cpus {best.cpus:g}, mem {best.mem:g} MB)")


def size_coarse_worker(slot: OfferSlot, spec: AppSpec, sizes: Sizes, cores_left: float) -> WorkerPlan | None:
    """The largest worker this offer can hold for a coarse-grained app, within `cores_left`."""
    cores_avail = int(math.floor(min(slot.cpus, cores_left) + 1e-9))
    mem_avail = slot.mem - sizes.worker_daemon_mem
    if spec.executor_cores:
        per_exec = spec.executor_cores
        executors = min(cores_avail // per_exec, int(mem_avail // spec.executor_task_mem)) if mem_avail > 0 else 0
        if executors < 1:
            return None
        cores = executors * per_exec
    else:
        if cores_avail < 1 or mem_avail + 1e-9 < spec.executor_task_mem:
            return None
        executors, cores = 1, cores_avail
    return WorkerPlan(slot, cores, executors * spec.executor_memory_mb,
                      sizes.worker_daemon_mem + executors * spec.executor_task_mem)


def one_core_worker(slot: OfferSlot, spec: AppSpec, sizes: Sizes) -> WorkerPlan | None:
    task_mem = sizes.worker_daemon_mem + spec.executor_task_mem
    if not slot.fits(1.0, task_mem):
        return None
    return WorkerPlan(slot, 1, spec.executor_memory_mb, task_mem)


def plan_workers(slots: list[OfferSlot], spec: AppSpec, sizes: Sizes, wanted: int | None,
                 cores_left: float, busy_agents: set[str]) -> list[WorkerPlan]:
    """Workers to add: coarse (one per agent without one, as large as fits) or fine (one-core, `wanted` of them).

    Plans take their resources out of the slots.
    """
    plans: list[WorkerPlan] = []
    pool = candidates(slots, spec.role, spec.constraints)
    if spec.mode == COARSE:
        busy = set(busy_agents)
        for slot in sorted(pool, key=lambda s: -s.cpus):
            if cores_left < 1:
                break
            if slot.agent_id in busy:
                continue
            plan = size_coarse_worker(slot, spec, sizes, cores_left)
            if plan is None:
                continue
            plan.resources = slot.take(plan.cores, plan.task_mem)
            plans.append(plan)
            busy.add(slot.agent_id)
            cores_left -= plan.cores
        return plans
    count = min(wanted or 0, int(cores_left) if math.isfinite(cores_left) else wanted or 0)
    progress = True
    while len(plans) < count and progress:  # spread one-core workers round-robin over the offers
        progress = False
        for slot in sorted(pool, key=lambda s: -s.cpus):
            if len(plans) >= count:
                break
            plan = one_core_worker(slot, spec, sizes)
            if plan is not None:
                plan.resources = slot.take(1.0, plan.task_mem)
                plans.append(plan)
                progress = True
    return plans


def worker_reason(slots: list[OfferSlot], spec: AppSpec, sizes: Sizes, known_agents: Mapping[str, list[dict[str, Any]]]) -> str:
    """Why no worker of this app can be placed (for the queue's reason)."""
    if spec.constraints and known_agents and not any(matches(spec.constraints, a) for a in known_agents.values()):
        seen = "; ".join(sorted({describe_attributes(a) for a in known_agents.values()}))
        return (f"no agent matches spark.mesos.constraints '{format_constraints(spec.constraints)}' "
                f"({len(known_agents)} agent(s) seen: {seen})")
    in_role = [s for s in slots if s.role == spec.role]
    if not in_role:
        return f"waiting for resource offers for role '{spec.role}'"
    pool = candidates(in_role, spec.role, spec.constraints)
    if not pool:
        return (f"no offered agent matches spark.mesos.constraints '{format_constraints(spec.constraints)}' "
                f"(offers from: {_agents(in_role)})")
    need_cores = spec.min_worker_cores
    need_mem = sizes.worker_daemon_mem + spec.executor_task_mem
    best = max(pool, key=lambda s: (s.cpus, s.mem))
    return (f"waiting for an offer with cpus >= {need_cores} and mem >= {need_mem:g} MB for a worker "
            f"(largest matching offer: cpus {best.cpus:g}, mem {best.mem:g} MB)")


def _agents(slots: Iterable[OfferSlot]) -> str:
    seen: dict[str, str] = {}
    for s in slots:
        seen.setdefault(s.agent_id, f"{s.host} ({describe_attributes(s.attributes)})")
    return "; ".join(sorted(seen.values()))
