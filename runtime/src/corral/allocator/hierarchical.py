"""The hierarchical allocator: roles first, then frameworks within a role.

Each allocation round walks the agents in random order.  For each agent it
walks the roles in the role sorter's order and, within a role, the frameworks
in that role's framework sorter order; the first framework that is neither
suppressed, filtered nor below the minimum allocatable amount receives
everything on the agent that its role may use (unreserved resources plus
reservations of the role and its ancestors).  As in Mesos, the order is
taken once per agent; the allocations made on an agent update the sorters
once the agent is done.

The policy lives in the sorters: `DRFSorter` for roles gives hierarchical
weighted DRF (`--allocator drf`), `PrioritySorter` gives strict priority
between roles (`--allocator priority`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from corral.allocator.interface import Allocation, Allocator, AllocatorOptions, Clock, RoleInfo
from corral.allocator.quota import QuotaBook, QuotaConfig, exceeds
from corral.allocator.sorter import DRFSorter, PrioritySorter
from corral.allocator.why import AgentView, FrameworkView, Reason, why
from corral.resources import Resources


@dataclass
class _Framework:
    roles: set[str]
    suppressed: set[str] = field(default_factory=set)
    active: bool = True
    # (role, agent_id) -> [(expires_at, refused resources)]
    filters: dict[tuple[str, str], list[tuple[float, Resources]]] = field(default_factory=dict)
    # agent_id -> role -> resources allocated (offered or in use)
    allocations: dict[str, dict[str, Resources]] = field(default_factory=dict)
    min_allocatable: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    gpu_aware: bool = False  # the GPU_RESOURCES capability


@dataclass
class _Agent:
    total: Resources
    available: Resources
    active: bool = True
    attributes: Mapping[str, object] = field(default_factory=dict)

    @property
    def has_gpus(self) -> bool:
        return self.total.scalar("gpus") > 0


class HierarchicalAllocator(Allocator):
    """Hierarchical allocation with a pluggable role ordering."""

    role_sorter_factory: Callable[[], DRFSorter] = DRFSorter

    def __init__(self, options: AllocatorOptions | None = None, clock: Clock | None = None) -> None:
        super().__init__(options, clock)
        self._role_sorter = self.role_sorter_factory()
        self._role_sorter.update_weights(self.options.weights)
        self._framework_sorters: dict[str, DRFSorter] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._agents: dict[str, _Agent] = {}
        self._rng = random.Random(self.options.seed)
        self._min_allocatable = [r.scalar_quantities() for r in self.options.min_allocatable]
        self._quota = QuotaBook()

    # -- frameworks -------------------------------------------------------------

    def add_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        used: Mapping[str, Mapping[str, Resources]] | None = None,
        active: bool = True,
        suppressed_roles: Iterable[str] = (),
        min_allocatable: Mapping[str, list[Resources]] | None = None,
        capabilities: Iterable[str] = (),
    ) -> None:
        if framework_id in self._frameworks:
            raise ValueError(f"framework {framework_id} is already known to the allocator")
        fw = _Framework(roles=set(roles), suppressed=set(suppressed_roles), active=active,
                        gpu_aware="GPU_RESOURCES" in set(capabilities))
        fw.min_allocatable = _quantities_by_role(min_allocatable)
        self._frameworks[framework_id] = fw
        for role in fw.roles:
            self._track_role(framework_id, role)
        for agent_id, by_role in (used or {}).items():
            if agent_id not in self._agents:
                continue  # tracked when the agent is added
            for role, resources in by_role.items():
                self._track_role(framework_id, role)
                self._track(framework_id, agent_id, role, resources)
        self._refresh_activity(framework_id)

    def update_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        suppressed_roles: Iterable[str] = (),
        min_allocatable: Mapping[str, list[Resources]] | None = None,
        capabilities: Iterable[str] = (),
    ) -> None:
        fw = self._frameworks[framework_id]
        fw.gpu_aware = "GPU_RESOURCES" in set(capabilities)
        old = fw.roles
        fw.roles = set(roles)
        fw.suppressed = set(suppressed_roles) & fw.roles
        fw.min_allocatable = _quantities_by_role(min_allocatable)
        for role in fw.roles - old:
            self._track_role(framework_id, role)
        for role in old - fw.roles:
            fw.filters = {k: v for k, v in fw.filters.items() if k[0] != role}
            self._untrack_role_if_unused(framework_id, role)
        self._refresh_activity(framework_id)

    def remove_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        for agent_id, by_role in list(fw.allocations.items()):
            for role, resources in list(by_role.items()):
                self.recover_resources(framework_id, agent_id, role, resources)
        del self._frameworks[framework_id]
        for role in list(self._framework_sorters):
            self._leave_role(framework_id, role)

    def activate_framework(self, framework_id: str) -> None:
        self._frameworks[framework_id].active = True
        self._refresh_activity(framework_id)

    def deactivate_framework(self, framework_id: str) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        fw.active = False
        fw.filters.clear()
        self._refresh_activity(framework_id)

    # -- agents -----------------------------------------------------------------

    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        used: Mapping[str, Mapping[str, Resources]] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> None:
        if agent_id in self._agents:
            raise ValueError(f"agent {agent_id} is already known to the allocator")
        agent = _Agent(total=total, available=total, attributes=dict(attributes or {}))
        self._agents[agent_id] = agent
        self._book_reservations(total, 1.0)
        self._role_sorter.add_total(total.scalar_quantities())
        for sorter in self._framework_sorters.values():
            sorter.add_total(total.scalar_quantities())
        for framework_id, by_role in (used or {}).items():
            for role, resources in by_role.items():
                agent.available = agent.available - resources
                if framework_id in self._frameworks:
                    self._track_role(framework_id, role)
                    self._track(framework_id, agent_id, role, resources, adjust_available=False)

    def update_agent(self, agent_id: str, total: Resources) -> None:
        agent = self._agents[agent_id]
        allocated = agent.total - agent.available
        self._role_sorter.remove_total(agent.total.scalar_quantities())
        self._role_sorter.add_total(total.scalar_quantities())
        for sorter in self._framework_sorters.values():
            sorter.remove_total(agent.total.scalar_quantities())
            sorter.add_total(total.scalar_quantities())
        self._book_reservations(agent.total, -1.0)
        self._book_reservations(total, 1.0)
        agent.total = total
        agent.available = total - allocated

    def convert_resources(self, agent_id: str, source: Resources, converted: Resources,
                          framework_id: str | None = None, role: str | None = None) -> None:
        agent = self._agents[agent_id]
        agent.total = agent.total - source + converted
        self._book_reservations(source, -1.0)
        self._book_reservations(converted, 1.0)
        if framework_id is None:
            agent.available = agent.available - source + converted
            return
        assert role is not None
        by_role = self._frameworks[framework_id].allocations[agent_id]
        by_role[role] = by_role[role] - source + converted

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for framework_id, fw in self._frameworks.items():
            by_role = fw.allocations.pop(agent_id, None)
            for role, resources in (by_role or {}).items():
                quantities = resources.scalar_quantities()
                self._role_sorter.unallocated(role, quantities)
                self._framework_sorters[role].unallocated(framework_id, quantities)
                self._quota.refund(role, _unreserved_quantities(resources, quantities))
            for key in [k for k in fw.filters if k[1] == agent_id]:
                del fw.filters[key]
        self._book_reservations(agent.total, -1.0)
        self._role_sorter.remove_total(agent.total.scalar_quantities())
        for sorter in self._framework_sorters.values():
            sorter.remove_total(agent.total.scalar_quantities())
        self._untrack_unused_roles()

    def activate_agent(self, agent_id: str) -> None:
        self._agents[agent_id].active = True

    def deactivate_agent(self, agent_id: str) -> None:
        self._agents[agent_id].active = False

    # -- resources --------------------------------------------------------------

    def recover_resources(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        refuse_seconds: float | None = None,
    ) -> None:
        if resources.is_empty():
            return
        agent = self._agents.get(agent_id)
        fw = self._frameworks.get(framework_id)
        if fw is not None and agent is not None:
            held = fw.allocations.get(agent_id, {}).get(role)
            if held is not None:
                resources = _intersection(held, resources)
                self._untrack(framework_id, agent_id, role, resources)
            if refuse_seconds is not None and refuse_seconds > 0 and fw.active:
                expires = self.clock() + refuse_seconds
                fw.filters.setdefault((role, agent_id), []).append((expires, resources))
        if agent is not None:
            # Never more than the agent's total: recovery of resources it no longer has is ignored.
            agent.available = _intersection(agent.total, agent.available + resources)

    def suppress(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        fw = self._frameworks[framework_id]
        fw.suppressed |= set(fw.roles if roles is None else roles) & fw.roles
        self._refresh_activity(framework_id)

    def revive(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        fw = self._frameworks[framework_id]
        targets = set(fw.roles if roles is None else roles)
        fw.suppressed -= targets
        fw.filters = {k: v for k, v in fw.filters.items() if k[0] not in targets}
        self._refresh_activity(framework_id)

    def update_weights(self, weights: Mapping[str, float]) -> None:
        self.options.weights = {**self.options.weights, **weights}
        self._role_sorter.update_weights(self.options.weights)

    def update_quota(self, config: QuotaConfig) -> None:
        self._quota.update(config)

    def quotas(self) -> dict[str, QuotaConfig]:
        return dict(self._quota.configs)

    def consumed_quota(self, role: str) -> dict[str, float]:
        return self._quota.consumed(role)

    # -- allocation -------------------------------------------------------------

    def allocate(self, agent_ids: Iterable[str] | None = None) -> list[Allocation]:
        now = self.clock()
        agents = self._agents
        ids = list(agents) if agent_ids is None else [a for a in dict.fromkeys(agent_ids) if a in agents]
        self._rng.shuffle(ids)
        # Cluster-wide unreserved resources not allocated: what holds the guarantees' headroom.
        free = self._free_unreserved() if self._quota.required_headroom() else None
        at_limit: set[str] = set()  # roles whose quota limit leaves them nothing more this round
        out: list[Allocation] = []
        for agent_id in ids:
            agent = agents[agent_id]
            if not agent.active or agent.available.is_empty():
                continue
            available = agent.available
            made: list[tuple[Allocation, dict[str, float]]] = []
            visited: set[str] = set()
            for phase in (0, 1):
                if phase == 0:
                    roles = self._role_sorter.sort()
                elif available.is_empty() or available.has_unreserved():
                    break  # the walk ended with nothing left or with nobody wanting the rest
                else:
                    # Only reservations remain: visit just the roles they may go to.
                    roles = self._role_sorter.sort_within(available.reservation_roles())
                for role in roles:
                    if phase == 0 and not available.has_unreserved():
                        break
                    if role in visited or (phase == 0 and role in at_limit):
                        continue  # (a role at its limit still gets its reservations: they are consumed already)
                    visited.add(role)
                    offerable = available.allocatable_to(role)
                    if self._quota:
                        offerable = self._within_quota(role, offerable, free)
                    quantities = offerable.scalar_quantities()
                    framework_id = (None if offerable.is_empty() else
                                    self._pick_framework(role, agent_id, offerable, quantities, now, agent.has_gpus))
                    if framework_id is None:
                        if self._quota and self._at_limit(role):
                            at_limit.add(role)  # (limits only shrink within a round: no agent can change that)
                        continue
                    made.append((Allocation(framework_id, agent_id, role, offerable), quantities))
                    # Charged now, not when the agent is done: the next role's room depends on it.
                    unreserved = _unreserved_quantities(offerable, quantities)
                    self._quota.charge(role, unreserved)
                    if free is not None:
                        for name, value in unreserved.items():
                            free[name] = free.get(name, 0.0) - value
                    available = available - offerable
                    if available.is_empty():
                        break
            if made:
                agent.available = available
            for allocation, quantities in made:
                self._track(allocation.framework_id, agent_id, allocation.role, allocation.resources,
                            adjust_available=False, quantities=quantities)
                out.append(allocation)
        return out

    def _within_quota(self, role: str, offerable: Resources, free: dict[str, float] | None) -> Resources:
        """Shrink an offer to the role's limit room and keep the guarantees' headroom.

        An unreserved allocation may take what the role's own guarantee still lacks plus the
        surplus of free resources above the headroom all unsatisfied guarantees require.
        """
        room = self._quota.limit_room(role)
        required = self._quota.required_headroom() if free is not None else {}
        if room is None and not required:
            return offerable
        unreserved = _unreserved_quantities(offerable)
        if room is not None and exceeds(unreserved, room):
            offerable = offerable.shrink(room, only_unreserved=True)
            unreserved = _unreserved_quantities(offerable)
        if required:
            assert free is not None
            covered = self._quota.unsatisfied(role)
            cap = {name: covered.get(name, 0.0) + max(0.0, free.get(name, 0.0) - need) for name, need in required.items()}
            if exceeds(unreserved, cap):  # (most offers are far inside it)
                offerable = offerable.shrink(cap, only_unreserved=True)
        return offerable

    def _at_limit(self, role: str) -> bool:
        """Whether the role's limit room is too small for the master's minimum offer, for every framework of it."""
        room = self._quota.limit_room(role)
        if room is None or not self._min_allocatable:
            return False
        if any(role in self._frameworks[f].min_allocatable for f in self._framework_sorters[role].clients()):
            return False
        return not any(all(room.get(name, math.inf) >= need for name, need in alt.items()) for alt in self._min_allocatable)

    def _book_reservations(self, resources: Resources, sign: float) -> None:
        """Reservations count toward their role's quota consumption, allocated or not (Mesos 1.9)."""
        by_role: dict[str, dict[str, float]] = {}
        for (name, reservation, _), amount in resources.items():
            if reservation is not None and isinstance(amount, float):
                quantities = by_role.setdefault(reservation.role, {})
                quantities[name] = quantities.get(name, 0.0) + amount
        for role, quantities in by_role.items():
            (self._quota.charge if sign > 0 else self._quota.refund)(role, quantities)

    def _free_unreserved(self) -> dict[str, float]:
        free: dict[str, float] = {}
        for agent in self._agents.values():
            if agent.active:
                for name, value in agent.available.unreserved().scalar_quantities().items():
                    free[name] = free.get(name, 0.0) + value
        return free

    def _pick_framework(self, role: str, agent_id: str, offerable: Resources, quantities: dict[str, float], now: float,
                        gpu_agent: bool) -> str | None:
        default_fits: bool | None = None  # the master's minimum, checked once for all who keep it
        for framework_id in self._framework_sorters[role].sort():
            fw = self._frameworks[framework_id]
            if gpu_agent and not fw.gpu_aware:
                continue  # as Mesos: only GPU_RESOURCES frameworks see any resource of a GPU agent
            own = fw.min_allocatable.get(role)
            if own is None and default_fits is not None:
                if not default_fits:
                    continue
            else:
                fits = _fits_minimum(quantities, self._min_allocatable if own is None else own)
                if own is None:
                    default_fits = fits
                if not fits:
                    continue
            if fw.filters and self._is_filtered(fw, role, agent_id, offerable, now):
                continue
            return framework_id
        return None

    @staticmethod
    def _is_filtered(fw: _Framework, role: str, agent_id: str, offerable: Resources, now: float) -> bool:
        filters = fw.filters.get((role, agent_id))
        if not filters:
            return False
        live = [(t, r) for t, r in filters if t > now]
        if len(live) != len(filters):
            if live:
                fw.filters[(role, agent_id)] = live
            else:
                del fw.filters[(role, agent_id)]
        return any(refused.contains(offerable) for _, refused in live)

    # -- introspection ------------------------------------------------------------

    def roles(self) -> list[RoleInfo]:
        names = set(self._role_sorter.clients()) | set(self.options.weights) | set(self._quota.configs)
        out = []
        for role in sorted(names):
            sorter = self._framework_sorters.get(role)
            out.append(
                RoleInfo(
                    role=role,
                    weight=self._role_sorter.weight(role),
                    share=self._role_sorter.share(role),
                    allocated=self._role_sorter.allocation(role),
                    frameworks=tuple(sorted(sorter.clients())) if sorter else (),
                )
            )
        return out

    def why_not(self, framework_id: str) -> dict[str, list[Reason]]:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return {}
        view = FrameworkView(active=fw.active, roles=set(fw.roles), suppressed=set(fw.suppressed), gpu_aware=fw.gpu_aware,
                             filters=fw.filters, min_allocatable=fw.min_allocatable)
        agents = {a: AgentView(agent.available, agent.active, agent.has_gpus) for a, agent in self._agents.items()}
        free = self._free_unreserved() if self._quota.required_headroom() else None
        shares = {r: self._role_sorter.share(r) for r in self._role_sorter.clients()}
        weights = {r: self._role_sorter.weight(r) for r in shares}
        return why(view, agents, self._quota, shares, weights, self._min_allocatable, self.clock(), _fits_minimum,
                   lambda role, offerable: self._within_quota(role, offerable, free))

    def available(self, agent_id: str) -> Resources:
        return self._agents[agent_id].available

    def allocation_of(self, framework_id: str) -> dict[str, dict[str, Resources]]:
        fw = self._frameworks.get(framework_id)
        return {a: dict(r) for a, r in fw.allocations.items()} if fw else {}

    # -- bookkeeping --------------------------------------------------------------

    def _framework_sorter(self, role: str) -> DRFSorter:
        sorter = self._framework_sorters.get(role)
        if sorter is None:
            sorter = DRFSorter(hierarchical=False)
            for agent in self._agents.values():
                sorter.add_total(agent.total.scalar_quantities())
            self._framework_sorters[role] = sorter
            self._role_sorter.add(role)
        return sorter

    def _track_role(self, framework_id: str, role: str) -> None:
        sorter = self._framework_sorter(role)
        if framework_id not in sorter:
            sorter.add(framework_id)

    def _allocated_roles(self, framework_id: str) -> set[str]:
        fw = self._frameworks[framework_id]
        return {role for by_role in fw.allocations.values() for role in by_role}

    def _untrack_role_if_unused(self, framework_id: str, role: str) -> None:
        fw = self._frameworks[framework_id]
        if role in fw.roles or role in self._allocated_roles(framework_id):
            return
        self._leave_role(framework_id, role)

    def _leave_role(self, framework_id: str, role: str) -> None:
        """Take a framework out of a role's sorter; a role left with no framework goes too."""
        sorter = self._framework_sorters.get(role)
        if sorter is None or framework_id not in sorter:
            return
        sorter.remove(framework_id)
        if not sorter.clients():
            del self._framework_sorters[role]
            self._role_sorter.remove(role)
        else:
            self._refresh_role(role)

    def _untrack_unused_roles(self) -> None:
        for framework_id, fw in self._frameworks.items():
            for role in [r for r, s in self._framework_sorters.items() if framework_id in s and r not in fw.roles]:
                self._untrack_role_if_unused(framework_id, role)

    def _track(self, framework_id: str, agent_id: str, role: str, resources: Resources, adjust_available: bool = True,
               quantities: dict[str, float] | None = None) -> None:
        """Book an allocation.  From a round: `adjust_available` False and the `quantities` it charged."""
        fw = self._frameworks[framework_id]
        by_role = fw.allocations.setdefault(agent_id, {})
        by_role[role] = by_role.get(role, Resources()) + resources
        if adjust_available:
            agent = self._agents[agent_id]
            agent.available = agent.available - resources
        if quantities is None:
            quantities = resources.scalar_quantities()
            self._quota.charge(role, _unreserved_quantities(resources, quantities))
        self._role_sorter.allocated(role, quantities)
        self._framework_sorters[role].allocated(framework_id, quantities)

    def _untrack(self, framework_id: str, agent_id: str, role: str, resources: Resources) -> None:
        fw = self._frameworks[framework_id]
        by_role = fw.allocations[agent_id]
        left = by_role[role] - resources
        if left.is_empty():
            del by_role[role]
            if not by_role:
                del fw.allocations[agent_id]
        else:
            by_role[role] = left
        quantities = resources.scalar_quantities()
        self._role_sorter.unallocated(role, quantities)
        self._framework_sorters[role].unallocated(framework_id, quantities)
        self._quota.refund(role, _unreserved_quantities(resources, quantities))
        if role not in fw.roles:
            self._untrack_role_if_unused(framework_id, role)

    def _refresh_activity(self, framework_id: str) -> None:
        fw = self._frameworks[framework_id]
        for role, sorter in self._framework_sorters.items():
            if framework_id not in sorter:
                continue
            if fw.active and role in fw.roles and role not in fw.suppressed:
                sorter.activate(framework_id)
            else:
                sorter.deactivate(framework_id)
            self._refresh_role(role)

    def _refresh_role(self, role: str) -> None:
        sorter = self._framework_sorters[role]
        if any(sorter.is_active(f) for f in sorter.clients()):
            self._role_sorter.activate(role)
        else:
            self._role_sorter.deactivate(role)


class PriorityAllocator(HierarchicalAllocator):
    """Strict priority between roles: a higher-weight role is always offered first."""

    role_sorter_factory = PrioritySorter


def _unreserved_quantities(resources: Resources, quantities: dict[str, float] | None = None) -> dict[str, float]:
    """The scalar quantities of the unreserved part (`quantities`: those of the whole, when known)."""
    if quantities is not None and resources.is_unreserved():
        return quantities
    return resources.unreserved().scalar_quantities()


def _intersection(have: Resources, want: Resources) -> Resources:
    """The part of `want` that `have` holds."""
    return want - (want - have)


def _quantities_contain(have: Mapping[str, float], need: Mapping[str, float]) -> bool:
    for name, value in need.items():
        if have.get(name, 0.0) + 1e-9 < value:
            return False
    return True


def _fits_minimum(quantities: Mapping[str, float], minimum: list[dict[str, float]]) -> bool:
    return not minimum or any(_quantities_contain(quantities, alt) for alt in minimum)


def _quantities_by_role(min_allocatable: Mapping[str, list[Resources]] | None) -> dict[str, list[dict[str, float]]]:
    return {role: [r.scalar_quantities() for r in alts] for role, alts in (min_allocatable or {}).items()}
