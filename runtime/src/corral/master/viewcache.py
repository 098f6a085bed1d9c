"""Remembered pieces of the operator API's answers, so that GET_STATE stays fast on big clusters.

With 1,000 agents and 10,000 tasks, building GET_STATE from scratch spends
most of its time turning `Resources` into JSON and adding them up (agent
and framework usage), although almost nothing changed since the last call.
`Resources` are immutable and tasks change only through status updates, so
this cache keeps, per master state:

- the JSON of each `Resources` object, v1 and legacy (keyed by identity; the
  cache holds a reference, so an identity is never reused while cached);
- each task's JSON, v1 and legacy, until its state or latest status changes;
- each agent's and framework's usage, until the set of their live tasks
  (and executors) changes;
- each agent's entry in `/state` and GET_AGENTS, until its usage, offers,
  connection, activation, drain or version change (with ten thousand agents
  these entries are most of the work).

Cached JSON is shared between answers: nothing may mutate what these
functions return.  Entries of objects that are gone are dropped when the
cache grows past twice what the state holds.
"""

from __future__ import annotations

import copy
import weakref
from typing import TYPE_CHECKING, Any, Callable, Mapping

import msgspec

from corral.master import render
from corral.resources import Resources

if TYPE_CHECKING:
    from corral.master.model import Agent, Framework, Offer, Task
    from corral.master.state import MasterState

_caches: "weakref.WeakKeyDictionary[MasterState, ViewCache]" = weakref.WeakKeyDictionary()
_encoder = msgspec.json.Encoder()


def cache_for(state: "MasterState") -> "ViewCache":
    cache = _caches.get(state)
    if cache is None:
        cache = _caches[state] = ViewCache()
    return cache


class ViewCache:
    def __init__(self) -> None:
        self._resources: dict[tuple[int, str | None, bool | None], tuple[Resources, list[dict[str, Any]]]] = {}
        self._legacy: dict[int, tuple[Resources, dict[str, Any]]] = {}
        self._tasks: dict[int, tuple[Any, ...]] = {}
        self._task_states: dict[int, tuple[Any, ...]] = {}
        self._agents: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._offers: dict[str, tuple[Any, ...]] = {}
        self._offered: dict[str, tuple[frozenset[str], Resources]] = {}
        self._scalars: dict[tuple[int, tuple[str, ...]], tuple[Resources, tuple[float, ...]]] = {}
        self._raw: dict[int, tuple[dict[str, Any], msgspec.Raw]] = {}
        self._agent_raw: dict[str, tuple[dict[str, Any], msgspec.Raw]] = {}
        self._usage: dict[tuple[str, str], tuple[tuple[Any, ...], Resources]] = {}

    def resources_json(self, resources: Resources, allocation_role: str | None = None,
                       refinement: bool | None = None) -> list[dict[str, Any]]:
        key = (id(resources), allocation_role, refinement)
        hit = self._resources.get(key)
        if hit is not None and hit[0] is resources:
            return hit[1]
        out = resources.to_json(allocation_role=allocation_role, refinement=refinement)
        self._resources[key] = (resources, out)
        return out

    def resources_legacy(self, resources: Resources) -> dict[str, Any]:
        """`Resources.legacy_dict`, remembered."""
        hit = self._legacy.get(id(resources))
        if hit is not None and hit[0] is resources:
            return hit[1]
        out = resources.legacy_dict()
        self._legacy[id(resources)] = (resources, out)
        return out

    def task_json(self, task: "Task") -> dict[str, Any]:
        """`render.task_json`, remembered until the task's state or latest status changes."""
        return _remembered(self._tasks, task, lambda: render.task_json(task, self.resources_json(task.resources, task.role)))

    def task_state(self, task: "Task") -> dict[str, Any]:
        """`render.task_state` (the legacy shape), remembered as `task_json` is."""
        return _remembered(self._task_states, task, lambda: render.task_state(task))

    def agent_entry(self, kind: str, agent: "Agent", build: Callable[[Resources], dict[str, Any]]) -> dict[str, Any]:
        """The agent's entry of one `kind` of answer, built by `build(used)` when what it shows changed."""
        used = self.agent_used(agent)
        shown = (agent.connected, agent.active, agent.version, agent.reregistered_time, agent.unavailability)
        key = (kind, agent.id)
        hit = self._agents.get(key)
        if (hit is not None and hit[0] is agent and hit[1] is agent.total and hit[2] is used and hit[3] == agent.offers
                and hit[4] == shown and hit[5] == agent.drain):
            return hit[6]
        out = build(used)
        self._agents[key] = (agent, agent.total, used, set(agent.offers), copy.deepcopy(shown), copy.deepcopy(agent.drain), out)
        return out

    def agent_state(self, agent: "Agent", offers: Mapping[str, "Offer"]) -> dict[str, Any]:
        """`render.agent_state` (the agent in `/state`), remembered."""
        return self.agent_entry("state", agent, lambda used: render.agent_state(agent, offers, used, self.resources_legacy))

    def offer_json(self, offer: "Offer", agent: "Agent", framework: "Framework") -> dict[str, Any]:
        """`render.offer_json`, remembered while the framework's capabilities and executors on the agent
        and the agent's unavailability stay as they were (the offer itself never changes)."""
        shown = (framework.capabilities, tuple(framework.executors.get(agent.id, {})), agent.unavailability)
        hit = self._offers.get(offer.id)
        if hit is not None and hit[0] is offer and hit[1] is agent and hit[2] == shown:
            return hit[3]
        out = render.offer_json(offer, agent, framework, self.resources_json)
        self._offers[offer.id] = (offer, agent, copy.deepcopy(shown), out)
        return out

    def offered(self, framework: "Framework", offers: Mapping[str, "Offer"]) -> Resources:
        """What the framework's outstanding offers hold, remembered until its set of offers changes."""
        ids = frozenset(framework.offers)
        hit = self._offered.get(framework.id)
        if hit is not None and hit[0] == ids:
            return hit[1]
        offered = Resources()
        for offer_id in ids:
            offer = offers.get(offer_id)
            if offer is not None:
                offered = offered + offer.resources
        self._offered[framework.id] = (ids, offered)
        return offered

    def scalars(self, resources: Resources, names: tuple[str, ...]) -> tuple[float, ...]:
        """`resources.scalar(name)` for each of `names`, remembered."""
        key = (id(resources), names)
        hit = self._scalars.get(key)
        if hit is not None and hit[0] is resources:
            return hit[1]
        out = tuple(resources.scalar(name) for name in names)
        self._scalars[key] = (resources, out)
        return out

    def task_raw(self, task: "Task") -> msgspec.Raw:
        """The task's JSON already encoded: answers without filtering splice it in as is."""
        out = self.task_json(task)
        hit = self._raw.get(id(task))
        if hit is not None and hit[0] is out:
            return hit[1]
        raw = msgspec.Raw(_encoder.encode(out))
        self._raw[id(task)] = (out, raw)
        return raw

    def agent_raw(self, agent: "Agent", entry: dict[str, Any]) -> msgspec.Raw:
        """An agent's GET_AGENTS `entry` (from `agent_entry`) already encoded, as `task_raw`."""
        hit = self._agent_raw.get(agent.id)
        if hit is not None and hit[0] is entry:
            return hit[1]
        raw = msgspec.Raw(_encoder.encode(entry))
        self._agent_raw[agent.id] = (entry, raw)
        return raw

    def agent_used(self, agent: "Agent") -> Resources:
        """`Agent.used()`, remembered until the agent's live tasks or executors change."""
        live = tuple(t for tasks in agent.tasks.values() for t in tasks.values() if not t.terminal)
        executors = tuple(r for by_id in agent.executors.values() for r in by_id.values())
        fingerprint = (tuple(map(id, live)), tuple(id(r[1]) for r in executors), live, executors)
        key = ("agent", agent.id)
        hit = self._usage.get(key)
        if hit is not None and hit[0][:2] == fingerprint[:2]:
            return hit[1]
        used = Resources()
        for task in live:
            used = used + task.resources
        for _, resources in executors:
            used = used + resources
        self._usage[key] = (fingerprint, used)
        return used

    def framework_allocated(self, framework: "Framework") -> Resources:
        live = tuple(t for t in framework.tasks.values() if not t.terminal)
        fingerprint = (tuple(map(id, live)), (), live, ())
        key = ("framework", framework.id)
        hit = self._usage.get(key)
        if hit is not None and hit[0][:2] == fingerprint[:2]:
            return hit[1]
        allocated = Resources()
        for task in live:
            allocated = allocated + task.resources
        self._usage[key] = (fingerprint, allocated)
        return allocated

    def sweep(self, state: "MasterState") -> None:
        """Forget objects that are gone, once the cache is much bigger than the state."""
        tasks = sum(len(f.tasks) + len(f.completed_tasks) for f in state.frameworks.values())
        tasks += sum(len(f.tasks) + len(f.completed_tasks) for f in state.completed_frameworks)
        if len(self._tasks) + len(self._task_states) > 4 * tasks + 1000:
            self._tasks.clear()
            self._raw.clear()
            self._task_states.clear()
        if len(self._resources) + len(self._legacy) > 4 * (tasks + len(state.agents) + len(state.offers)) + 1000:
            self._resources.clear()
            self._legacy.clear()
        if len(self._agents) + len(self._agent_raw) > 4 * len(state.agents) + 1000:
            self._agents.clear()
            self._agent_raw.clear()
        if len(self._offers) > 2 * len(state.offers) + 1000:
            self._offers.clear()
        if len(self._scalars) > 4 * (len(state.agents) + len(state.offers)) + 1000:
            self._scalars.clear()
        if len(self._offered) > 2 * len(state.frameworks) + 1000:
            self._offered.clear()
        if len(self._usage) > 2 * (len(state.agents) + len(state.frameworks)) + 1000:
            self._usage.clear()


def _remembered(table: dict[int, tuple[Any, ...]], task: "Task", build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`build()`'s view of `task`, kept in `table` until the task's state or latest status changes."""
    status = task.status
    hit = table.get(id(task))
    if hit is not None and hit[0] is task and hit[1] is status and hit[2] == task.state and hit[3] == len(task.statuses):
        return hit[4]
    out = build()
    # The status and task are held by the entry: their identities cannot be reused while cached.
    table[id(task)] = (task, status, task.state, len(task.statuses), out)
    return out
