"""Read-only views of the master's state in Mesos's JSON shapes.

`state()` is the legacy `/state` document (what Mesos's UI and tools read), and
`agents`, `frameworks` and `tasks` its parts that `/master/slaves`,
`/master/frameworks` and `/master/tasks` serve (what the Mesos CLIs read);
`get_roles` builds the v1 operator API's GET_ROLES.  The JSON of each framework,
agent and task comes from `master/render.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from corral import MESOS_API_VERSION, __version__
from corral.master import viewcache
from corral.master.render import framework_state, task_state, task_user
from corral.master.state import MasterState


# ----------------------------------------------------------------- legacy /state


def _agents(m: MasterState) -> list[dict[str, Any]]:
    cache = viewcache.cache_for(m)
    return [cache.agent_state(a, m.offers) for a in m.agents.values()]


def _frameworks(m: MasterState, frameworks: Any) -> list[dict[str, Any]]:
    cache = viewcache.cache_for(m)
    return [framework_state(f, m.offers, cache.resources_legacy, cache.task_state, cache.framework_allocated(f),
                            cache.offered(f, m.offers)) for f in frameworks]


def state(m: MasterState, flags: dict[str, str] | None = None, leader: dict[str, Any] | None = None) -> dict[str, Any]:
    viewcache.cache_for(m).sweep(m)
    info = m.master_info
    leader_info = leader or info
    completed = list(m.completed_frameworks)
    return {
        "version": MESOS_API_VERSION,
        "corral_version": __version__,
        "build_time": 0,
        "start_time": m.start_time,
        "elected_time": m.elected_time,
        "id": m.id,
        "pid": info["pid"],
        "hostname": info["hostname"],
        "cluster": m.options.cluster,
        "leader": leader_info["pid"],
        "leader_info": leader_info,
        "elected": True,
        "activated_slaves": sum(1 for a in m.agents.values() if a.connected),
        "deactivated_slaves": sum(1 for a in m.agents.values() if not a.connected),
        "unreachable_slaves": len(m.unreachable_agents),
        "flags": flags or {},
        "slaves": _agents(m),
        "unreachable_slaves_ids": sorted(m.unreachable_agents),
        "frameworks": _frameworks(m, m.frameworks.values()),
        "completed_frameworks": _frameworks(m, completed),
        "recovered_slaves": list(m.recovered_agents.values()),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


def agents(m: MasterState) -> dict[str, Any]:
    """`/master/slaves`."""
    return {"slaves": _agents(m),
            "recovered_slaves": list(m.recovered_agents.values())}


def frameworks(m: MasterState, framework_id: str | None = None) -> dict[str, Any]:
    """`/master/frameworks`, optionally only `framework_id`."""
    def wanted(f: Any) -> bool:
        return framework_id is None or f.id == framework_id

    return {"frameworks": _frameworks(m, [f for f in m.frameworks.values() if wanted(f)]),
            "completed_frameworks": _frameworks(m, [f for f in m.completed_frameworks if wanted(f)]),
            "unregistered_frameworks": []}


@dataclass(frozen=True)
class TaskQuery:
    """`/master/tasks`'s parameters, with Mesos's defaults: the 100 latest tasks."""

    limit: int = 100
    offset: int = 0
    order: str = "des"  # by start time: asc or des
    framework_id: str | None = None
    task_id: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> "TaskQuery":
        """From the request's query; ValueError names the parameter that is wrong."""
        numbers = {}
        for name, default in (("limit", cls.limit), ("offset", cls.offset)):
            text = query.get(name)
            try:
                numbers[name] = default if text is None else int(text)
            except ValueError:
                raise ValueError(f"Failed to parse {name}: '{text}' is not a number") from None
            if numbers[name] < 0:
                raise ValueError(f"Failed to parse {name}: {numbers[name]} is negative")
        order = query.get("order", cls.order)
        if order not in ("asc", "des"):
            raise ValueError(f"Failed to parse order: '{order}' is not 'asc' or 'des'")
        return cls(numbers["limit"], numbers["offset"], order, query.get("framework_id"), query.get("task_id"))


def tasks(m: MasterState, q: TaskQuery) -> dict[str, Any]:
    """`/master/tasks`: the tasks of every framework, active and completed, sorted by start time."""
    found: list[tuple[float, dict[str, Any]]] = []
    for fw in list(m.frameworks.values()) + list(m.completed_frameworks):
        if q.framework_id is not None and fw.id != q.framework_id:
            continue
        for task in list(fw.tasks.values()) + list(fw.completed_tasks):
            if q.task_id is not None and task.task_id != q.task_id:
                continue
            started = task.statuses[0].get("timestamp", 0.0) if task.statuses else 0.0
            found.append((started or 0.0, {**task_state(task), "user": task_user(task.info, fw.info) or ""}))
    found.sort(key=lambda item: item[0], reverse=q.order == "des")
    return {"tasks": [t for _, t in found[q.offset:q.offset + q.limit]]}


def standby_state(master_id: str, leader: dict[str, Any] | None, flags: dict[str, str]) -> dict[str, Any]:
    """What a master that does not lead answers on /state: who does."""
    return {
        "version": MESOS_API_VERSION,
        "corral_version": __version__,
        "id": master_id,
        "leader": leader["pid"] if leader else "",
        "leader_info": leader or {},
        "elected": False,
        "activated_slaves": 0,
        "deactivated_slaves": 0,
        "unreachable_slaves": 0,
        "flags": flags,
        "slaves": [],
        "frameworks": [],
        "completed_frameworks": [],
        "recovered_slaves": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


def roles(m: MasterState) -> dict[str, Any]:
    """Mesos's /roles: each role's weight, share, frameworks and allocation, its quota and what
    agents hold reserved for it (a role with only reservations is listed too)."""
    reserved: dict[str, dict[str, float]] = {}
    for agent in m.agents.values():
        for role in agent.total.reservation_roles():
            into = reserved.setdefault(role, {})
            for name, value in agent.total.reserved(role).scalar_quantities().items():
                into[name] = round(into.get(name, 0.0) + value, 3)
    quotas = m.allocator.quotas()
    infos = {info.role: info for info in m.allocator.roles()}
    out: list[dict[str, Any]] = []
    for name in sorted(set(infos) | set(reserved)):
        info = infos.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "weight": info.weight if info else m.allocator.weights().get(name, 1.0),
            "share": info.share if info else 0.0,
            "frameworks": [f for f in info.frameworks if f in m.frameworks] if info else [],
            "resources": {k: round(v, 3) for k, v in info.allocated.items()} if info else {},
            "reserved": reserved.get(name, {}),
        }
        quota = quotas.get(name)
        if quota is not None:
            entry["quota"] = {"role": name, "guarantee": dict(quota.guarantees), "limit": dict(quota.limits),
                              "consumed": m.allocator.consumed_quota(name)}
        out.append(entry)
    return {"roles": out}


# ----------------------------------------------------------------- v1 operator API


def get_roles(m: MasterState) -> dict[str, Any]:
    out = []
    for info in m.allocator.roles():
        out.append(
            {
                "name": info.role,
                "weight": info.weight,
                "frameworks": [{"value": f} for f in info.frameworks if f in m.frameworks],
                "resources": [
                    {"name": k, "type": "SCALAR", "scalar": {"value": round(v, 3)}} for k, v in sorted(info.allocated.items())
                ],
                "allocated": [
                    {"name": k, "type": "SCALAR", "scalar": {"value": round(v, 3)}} for k, v in sorted(info.allocated.items())
                ],
            }
        )
    return {"roles": out}

