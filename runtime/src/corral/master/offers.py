"""The offers layer of the master: allocation into offers, and what frameworks do with them.

`allocate()` turns the allocator's decisions into offers sent to frameworks;
DECLINE returns them; ACCEPT checks them and launches the tasks and task
groups it carries (validated by master/validation.py), returning what is left.
Offers are rescinded when they time out, their framework or agent goes away,
or the master enters safe mode.  See master/core.py for how the layers fit.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable

from corral.allocator import Allocation
from corral.ids import value_of, wrap
from corral.master import render, reservations, validation
from corral.master.model import Agent, Framework, Offer
from corral.master.tasks import TaskBook
from corral.protocol import states as S
from corral.protocol.scheduler import CONVERSIONS
from corral.resources import Resources, checkpointed_part

logger = logging.getLogger(__name__)

MAX_REFUSE_SECONDS = 365 * 24 * 3600.0


class OfferBook(TaskBook):
    def allocate(self) -> list[Offer]:
        if self.safe_mode:
            return []
        pending = self._pending_agents
        self._pending_agents = set()
        if pending is None:
            self._last_full_allocation = self.clock()
        started = time.perf_counter()
        allocations = self.allocator.allocate(None if pending is None else pending)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics["allocator/mesos/allocation_runs"] += 1
        self.metrics["allocator/mesos/allocation_run_ms"] = elapsed_ms
        return self._make_offers(allocations)

    def _make_offers(self, allocations: list[Allocation]) -> list[Offer]:
        now = self.clock()
        by_framework: dict[str, list[Offer]] = {}
        for allocation in allocations:
            framework = self.frameworks.get(allocation.framework_id)
            agent = self.agents.get(allocation.agent_id)
            if framework is None or not framework.connected or agent is None or not agent.connected:
                self.allocator.recover_resources(allocation.framework_id, allocation.agent_id, allocation.role, allocation.resources)
                continue
            offer = Offer(
                id=self._next_offer_id(), framework_id=framework.id, agent_id=agent.id, role=allocation.role,
                resources=allocation.resources, created=now,
                expires=None if self.options.offer_timeout is None else now + self.options.offer_timeout,
            )
            self.offers[offer.id] = offer
            framework.offers.add(offer.id)
            agent.offers.add(offer.id)
            by_framework.setdefault(framework.id, []).append(offer)
        made = []
        for framework_id, offers in by_framework.items():
            framework = self.frameworks[framework_id]
            self.metrics["master/offers_sent"] += len(offers)
            shown = [render.offer_json(o, self.agents[o.agent_id], framework) for o in offers]
            self._send_framework(framework, {"type": "OFFERS", "offers": {"offers": shown}})
            made.extend(offers)
        return made

    def decline(self, framework: Framework, offer_ids: Iterable[str], refuse_seconds: float | None) -> None:
        for offer_id in offer_ids:
            offer = self.offers.get(offer_id)
            if offer is None or offer.framework_id != framework.id:
                continue  # Mesos ignores unknown offers in DECLINE
            self._remove_offer(offer)
            self.metrics["master/offers_declined"] += 1
            self.allocator.recover_resources(
                framework.id, offer.agent_id, offer.role, offer.resources, self._refuse(refuse_seconds)
            )
            self._request_allocation([offer.agent_id])

    def _refuse(self, refuse_seconds: float | None) -> float:
        """Mesos's rules: unset or negative means the default; at most 365 days."""
        if refuse_seconds is None or refuse_seconds < 0:
            return self.options.default_refuse_seconds
        return min(refuse_seconds, MAX_REFUSE_SECONDS)

    def accept(
        self,
        framework: Framework,
        offer_ids: list[str],
        operations: list[dict[str, Any]],
        refuse_seconds: float | None,
    ) -> None:
        """ACCEPT: launch tasks and task groups from one agent's offers."""
        error = self._check_offers(framework, offer_ids)
        if error is None and self.safe_mode:
            error = "The master is in safe mode (ZooKeeper quorum lost); nothing is launched until it returns"
        if error is not None:
            for offer_id in offer_ids:
                offer = self.offers.get(offer_id)
                if offer is not None and offer.framework_id == framework.id:
                    self._remove_offer(offer)
                    self.allocator.recover_resources(framework.id, offer.agent_id, offer.role, offer.resources)
                    self._request_allocation([offer.agent_id])
            state = S.TASK_DROPPED if framework.partition_aware else S.TASK_LOST
            for task in _launched_tasks(operations):
                self.send_unlaunched_status(framework, task, state, S.REASON_INVALID_OFFERS, error)
            return
        offers = [self.offers[o] for o in offer_ids]
        agent_id = offers[0].agent_id
        role = offers[0].role
        remaining = Resources()
        for offer in offers:
            self._remove_offer(offer)
            remaining = remaining + offer.resources
        self.metrics["master/offers_accepted"] += len(offers)
        agent = self.agents.get(agent_id)
        for operation in operations:
            kind = operation.get("type")
            if kind == "LAUNCH":
                tasks = (operation.get("launch") or {}).get("task_infos") or []
                for task in tasks:
                    remaining = self._launch_task(framework, agent, agent_id, role, task, remaining)
            elif kind == "LAUNCH_GROUP":
                remaining = self._launch_group(framework, agent, agent_id, role, operation.get("launch_group") or {}, remaining)
            elif kind in CONVERSIONS and agent is not None:
                remaining = self._offered_conversion(framework, agent, role, kind, operation, remaining)
        if not remaining.is_empty():
            self.allocator.recover_resources(framework.id, agent_id, role, remaining, self._refuse(refuse_seconds))
        self._request_allocation([agent_id])

    def _offered_conversion(self, framework: Framework, agent: Agent, role: str, kind: str,
                            operation: dict[str, Any], remaining: Resources) -> Resources:
        """A RESERVE, UNRESERVE, CREATE or DESTROY in an ACCEPT: applied to what is left of the offers, or
        dropped (as Mesos drops an invalid operation) with the reason in the log."""
        body = operation.get(kind.lower())
        field = reservations.FIELD[kind]
        try:
            request = Resources.from_json(body.get(field) if isinstance(body, dict) else None, f"{kind.lower()}.{field}")
            principal = framework.info.get("principal") or None
            source, converted = reservations.convert(kind, request, remaining, agent.total, role, principal)
        except ValueError as exc:  # (ResourceError is one)
            logger.warning("Framework %s: dropping its %s operation: %s", framework.id, kind, exc)
            return remaining
        self.convert_agent_resources(agent, source, converted, framework.id, role)
        logger.info("Framework %s: %s %s on agent %s", framework.id, kind, request, agent.id)
        return remaining - source + converted

    def convert_agent_resources(self, agent: Agent, source: Resources, converted: Resources,
                                framework_id: str | None = None, role: str | None = None) -> None:
        """Apply a conversion to the agent's total and the allocator; the agent checkpoints its dynamic
        reservations and volumes so that it advertises them again after a restart."""
        agent.total = agent.total - source + converted
        self.allocator.convert_resources(agent.id, source, converted, framework_id, role)
        self._send_agent(agent.id, {"type": "CHECKPOINT_RESOURCES",
                                    "checkpoint_resources": {"resources": checkpointed_part(agent.total).to_json(refinement=True)}})

    def _check_offers(self, framework: Framework, offer_ids: list[str]) -> str | None:
        if not offer_ids:
            return "No offers specified"
        if len(set(offer_ids)) != len(offer_ids):
            return "Duplicate offers in the call"
        agents, roles = set(), set()
        for offer_id in offer_ids:
            offer = self.offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} is no longer valid"
            if offer.framework_id != framework.id:
                return f"Offer {offer_id} has invalid framework"
            agents.add(offer.agent_id)
            roles.add(offer.role)
        if len(agents) > 1:
            return "Aggregated offers must belong to one single agent"
        if len(roles) > 1:
            return "Aggregated offers must be allocated to the same role"
        agent = self.agents.get(next(iter(agents)))
        if agent is None or not agent.connected:
            return "Agent of the offers is not connected"
        return None

    def _launch_task(self, framework, agent, agent_id, role, task, remaining: Resources) -> Resources:
        """Validate one TaskInfo against what is left of the offers; launch it or answer TASK_ERROR."""
        error = validation.validate_task(
            task, framework_id=framework.id, agent_id=agent_id, active_task_ids=framework.tasks
        )
        needed = Resources()
        executor = task.get("executor") if isinstance(task, dict) else None
        if error is None:
            error = validation.validate_allocation_roles(task.get("resources", []), role, "task.resources")
        if error is None:
            task_needs, error = validation.task_resources(task)
            needed = task_needs or Resources()
        if error is None and executor is not None:
            executor_resources, error = self._executor_needs(framework, agent_id, role, executor)
            needed = needed + executor_resources
        if error is None and not remaining.contains(needed):
            error = _partial_volume(needed, remaining) or (
                f"Task uses more resources {needed.to_text()} than available {remaining.to_text()} in the offers")
        if error is not None:
            self.send_unlaunched_status(framework, task, S.TASK_ERROR, S.REASON_TASK_INVALID, error)
            return remaining
        task_json = _with_allocation_role(task, role)
        if executor is not None:
            task_json["executor"] = self._register_executor(framework, agent, agent_id, role, executor)
        self._create_task(framework, agent_id, role, task_json, value_of((executor or {}).get("executor_id")))
        self._send_agent(
            agent_id, {"type": "RUN_TASK", "run_task": {"framework_info": framework.info, "task": task_json}}
        )
        return remaining - needed

    def _launch_group(self, framework, agent, agent_id, role, launch_group, remaining: Resources) -> Resources:
        executor = launch_group.get("executor")
        tasks = (launch_group.get("task_group") or {}).get("tasks") or []
        error = None
        if not tasks:
            error = "launch_group.task_group.tasks must not be empty"
        if error is None:
            error = validation.validate_executor_info(executor, framework.id, "launch_group.executor")
        needed = Resources()
        if error is None:
            needed, error = self._executor_needs(framework, agent_id, role, executor)
        seen: set[str] = set(framework.tasks)
        for task in tasks:
            if error is not None:
                break
            error = validation.validate_task(
                task, framework_id=framework.id, agent_id=agent_id, active_task_ids=seen, in_group=True
            )
            if error is None:
                error = validation.validate_allocation_roles(task.get("resources", []), role, "task.resources")
            if error is None:
                res, error = validation.task_resources(task)
                needed = needed + (res or Resources())
                seen.add(value_of(task["task_id"]) or "")
        if error is None and not remaining.contains(needed):
            error = f"Task group uses more resources {needed.to_text()} than available {remaining.to_text()} in the offers"
        if error is not None:
            for task in tasks:
                self.send_unlaunched_status(framework, task, S.TASK_ERROR, S.REASON_TASK_GROUP_INVALID, error)
            return remaining
        remaining = remaining - needed
        executor_json = self._register_executor(framework, agent, agent_id, role, executor)
        executor_id = value_of(executor_json["executor_id"])
        group = [_with_allocation_role(t, role) for t in tasks]
        for task_json in group:
            self._create_task(framework, agent_id, role, task_json, executor_id)
        self._send_agent(
            agent_id,
            {
                "type": "RUN_TASK_GROUP",
                "run_task_group": {"framework_info": framework.info, "executor_info": executor_json, "task_group": {"tasks": group}},
            },
        )
        return remaining

    def _executor_needs(self, framework, agent_id, role, executor) -> tuple[Resources, str | None]:
        """Resources a (new) executor needs; an existing one must be identical."""
        executor_id = value_of(executor.get("executor_id"))
        existing = framework.executors.get(agent_id, {}).get(executor_id or "")
        if existing is not None:
            if existing != _normalize_executor(executor, framework.id, role):
                return Resources(), "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID"
            return Resources(), None
        resources, error = validation.task_resources(executor, "executor.resources")
        if error is None:
            error = validation.validate_allocation_roles(executor.get("resources", []), role, "executor.resources")
        return resources or Resources(), error

    def _register_executor(self, framework, agent, agent_id, role, executor) -> dict[str, Any]:
        executor_json = _normalize_executor(executor, framework.id, role)
        executor_id = value_of(executor_json["executor_id"]) or ""
        if executor_id not in framework.executors.get(agent_id, {}):
            framework.executors.setdefault(agent_id, {})[executor_id] = executor_json
            resources = Resources.from_json(executor_json.get("resources", []))
            if agent is not None and not resources.is_empty():
                agent.executors.setdefault(framework.id, {})[executor_id] = (role, resources)
        return executor_json

    def _remove_offer(self, offer: Offer) -> None:
        self.offers.pop(offer.id, None)
        framework = self.frameworks.get(offer.framework_id)
        if framework is not None:
            framework.offers.discard(offer.id)
        agent = self.agents.get(offer.agent_id)
        if agent is not None:
            agent.offers.discard(offer.id)

    def _rescind(self, offer: Offer, filter_seconds: float | None, notify: bool = True) -> None:
        self._remove_offer(offer)
        self.metrics["master/offers_rescinded"] += 1
        self.allocator.recover_resources(offer.framework_id, offer.agent_id, offer.role, offer.resources, filter_seconds)
        framework = self.frameworks.get(offer.framework_id)
        if notify and framework is not None:
            self._send_framework(framework, {"type": "RESCIND", "rescind": {"offer_id": wrap(offer.id)}})
        self._request_allocation([offer.agent_id])

    def _rescind_offers_of(self, framework: Framework, notify: bool = True) -> None:
        for offer_id in list(framework.offers):
            offer = self.offers.get(offer_id)
            if offer is not None:
                self._rescind(offer, None, notify=notify and framework.connected)

    def _rescind_offers_on(self, agent: Agent) -> None:
        for offer_id in list(agent.offers):
            offer = self.offers.get(offer_id)
            if offer is not None:
                self._rescind(offer, None)

    def _expire_offers(self, now: float) -> None:
        """Rescind the offers whose --offer_timeout has passed."""
        if self.options.offer_timeout is not None:
            for offer in [x for x in self.offers.values() if x.expires is not None and x.expires <= now]:
                self._rescind(offer, filter_seconds=None)


# ---------------------------------------------------------------------- helpers


def _partial_volume(needed: Resources, remaining: Resources) -> str | None:
    """The error for a task that uses part of a persistent volume (a volume is used whole)."""
    for (name, reservation, volume), amount in needed.volumes().items():
        have = remaining.get(name, reservation, volume)
        if volume is not None and isinstance(have, float) and isinstance(amount, float) and amount < have:
            return f"Task uses {amount:g} of the {have:g} MB of persistent volume '{volume.persistence_id}': a volume is used whole"
    return None


def _launched_tasks(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[Any] = []
    for op in operations:
        if op.get("type") == "LAUNCH":
            out.extend((op.get("launch") or {}).get("task_infos") or [])
        elif op.get("type") == "LAUNCH_GROUP":
            out.extend(((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])
    return [t for t in out if isinstance(t, dict)]


def _with_allocation_role(info: dict[str, Any], role: str) -> dict[str, Any]:
    """A copy whose resources carry `allocation_info.role` (Mesos injects it for non-MULTI_ROLE frameworks)."""
    out = dict(info)
    resources = []
    for res in info.get("resources", []):
        res = dict(res)
        res.setdefault("allocation_info", {"role": role})
        resources.append(res)
    out["resources"] = resources
    return out


def _normalize_executor(executor: dict[str, Any], framework_id: str, role: str) -> dict[str, Any]:
    """ExecutorInfo as the master stores it: framework id, type and allocation roles filled in."""
    out = _with_allocation_role(executor, role)
    out["framework_id"] = wrap(framework_id)
    out["type"] = executor.get("type") or ("CUSTOM" if executor.get("command") else "DEFAULT")
    return out
