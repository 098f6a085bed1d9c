"""Remembered pieces of the operator API's answers, so that GET_STATE stays fast on big clusters.

With 1,000 agents and 10,000 tasks, building GET_STATE from scratch spends
most of its time turning `Resources` into JSON and adding them up (agent
and framework usage), although almost nothing changed since the last call.
`Resources` are immutable and tasks change only through status updates, so
this cache keeps, per master state:

- the JSON of each `Resources` object (keyed by identity; the cache holds a
  reference, so an identity is never reused while cached);
- each task's JSON, until its state or latest status changes;
- each agent's and framework's usage, until the set of their live tasks
  (and executors) changes.

Cached JSON is shared between answers: nothing may mutate what these
functions return.  Entries of objects that are gone are dropped when the
cache grows past twice what the state holds.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import msgspec

from corral.master import render
from corral.resources import Resources

if TYPE_CHECKING:
    from corral.master.model import Agent, Framework, Task
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
        self._resources: dict[tuple[int, str | None], tuple[Resources, list[dict[str, Any]]]] = {}
        self._tasks: dict[int, tuple[Any, ...]] = {}
        self._raw: dict[int, tuple[dict[str, Any], msgspec.Raw]] = {}
        self._usage: dict[tuple[str, str], tuple[tuple[Any, ...], Resources]] = {}

    def resources_json(self, resources: Resources, allocation_role: str | None = None) -> list[dict[str, Any]]:
        key = (id(resources), allocation_role)
        hit = self._resources.get(key)
        if hit is not None and hit[0] is resources:
            return hit[1]
        out = resources.to_json(allocation_role=allocation_role)
        self._resources[key] = (resources, out)
        return out

    def task_json(self, task: "Task") -> dict[str, Any]:
        """`render.task_json`, remembered until the task's state or latest status changes."""
        status = task.status
        hit = self._tasks.get(id(task))
        if hit is not None and hit[0] is task and hit[1] is status and hit[2] == task.state and hit[3] == len(task.statuses):
            return hit[4]
        out = render.task_json(task, self.resources_json(task.resources, task.role))
        # The status and task are held by the entry: their identities cannot be reused while cached.
        self._tasks[id(task)] = (task, status, task.state, len(task.statuses), out)
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
        if len(self._tasks) > 2 * tasks + 1000:
            self._tasks.clear()
            self._raw.clear()
        if len(self._resources) > 4 * (tasks + len(state.agents)) + 1000:
            self._resources.clear()
        if len(self._usage) > 2 * (len(state.agents) + len(state.frameworks)) + 1000:
            self._usage.clear()
