"""Read-only views of the master's state in Mesos's JSON shapes.

`state()` is the legacy `/state` document (what Mesos's UI and tools read);
the `get_*` functions build the v1 operator API responses.
"""

from __future__ import annotations

from typing import Any

from corral import MESOS_API_VERSION, __version__
from corral.master.model import Agent, Framework, Task
from corral.master.state import MasterState
from corral.resources import Resources


# ----------------------------------------------------------------- legacy /state


def state(m: MasterState, flags: dict[str, str] | None = None, leader: dict[str, Any] | None = None) -> dict[str, Any]:
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
        "slaves": [agent_state(m, a) for a in m.agents.values()],
        "unreachable_slaves_ids": sorted(m.unreachable_agents),
        "frameworks": [framework_state(m, f) for f in m.frameworks.values()],
        "completed_frameworks": [framework_state(m, f) for f in completed],
        "recovered_slaves": list(m.recovered_agents.values()),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


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


def agent_state(m: MasterState, agent: Agent) -> dict[str, Any]:
    used = agent.used()
    offered = Resources()
    for offer_id in agent.offers:
        offer = m.offers.get(offer_id)
        if offer is not None:
            offered = offered + offer.resources
    reserved: dict[str, Any] = {}
    for role in agent.total.reservation_roles():
        reserved[role] = agent.total.reserved(role).legacy_dict()
    return {
        "id": agent.id,
        "pid": agent.pid,
        "hostname": agent.hostname,
        "port": agent.port,
        "registered_time": agent.registered_time,
        "reregistered_time": agent.reregistered_time,
        "resources": agent.total.legacy_dict(),
        "used_resources": used.legacy_dict(),
        "offered_resources": offered.legacy_dict(),
        "reserved_resources": reserved,
        "unreserved_resources": agent.total.unreserved().legacy_dict(),
        "reserved_resources_full": {r: agent.total.reserved(r).to_json() for r in agent.total.reservation_roles()},
        "attributes": attributes_dict(agent.info.get("attributes", [])),
        "active": agent.connected and agent.active,
        "deactivated": not agent.active,
        "version": agent.version,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    }


def attributes_dict(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in attributes:
        kind = attr.get("type")
        if kind == "SCALAR":
            out[attr["name"]] = attr.get("scalar", {}).get("value")
        elif kind == "TEXT":
            out[attr["name"]] = attr.get("text", {}).get("value")
        elif kind == "RANGES":
            ranges = attr.get("ranges", {}).get("range", [])
            out[attr["name"]] = "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in ranges) + "]"
        elif kind == "SET":
            out[attr["name"]] = "{" + ",".join(attr.get("set", {}).get("item", [])) + "}"
    return out


def framework_state(m: MasterState, fw: Framework) -> dict[str, Any]:
    used = Resources()
    for task in fw.tasks.values():
        if not task.terminal:
            used = used + task.resources
    offered = Resources()
    offers = []
    for offer_id in fw.offers:
        offer = m.offers.get(offer_id)
        if offer is not None:
            offered = offered + offer.resources
            offers.append(
                {
                    "id": offer.id,
                    "framework_id": fw.id,
                    "slave_id": offer.agent_id,
                    "resources": offer.resources.legacy_dict(),
                    "allocation_info": {"role": offer.role},
                }
            )
    info = fw.info
    roles = sorted(fw.roles)
    return {
        "id": fw.id,
        "name": fw.name,
        "pid": None,
        "user": info.get("user", ""),
        "hostname": info.get("hostname", ""),
        "webui_url": info.get("webui_url", ""),
        "principal": info.get("principal"),
        "role": roles[0] if len(roles) == 1 else info.get("role", "*"),
        "roles": roles,
        "capabilities": sorted(fw.capabilities),
        "checkpoint": bool(info.get("checkpoint", False)),
        "failover_timeout": fw.failover_timeout,
        "active": fw.active,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "suppressed_roles": sorted(fw.suppressed_roles),
        "registered_time": fw.registered_time,
        "reregistered_time": fw.reregistered_time,
        "unregistered_time": fw.unregistered_time or 0,
        "resources": (used + offered).legacy_dict(),
        "used_resources": used.legacy_dict(),
        "offered_resources": offered.legacy_dict(),
        "tasks": [task_state(t) for t in fw.tasks.values() if not t.terminal or t.terminal_uuid],
        "unreachable_tasks": [task_state(t) for t in fw.tasks.values() if t.state == "TASK_UNREACHABLE"],
        "completed_tasks": [task_state(t) for t in fw.completed_tasks],
        "offers": offers,
        "executors": [
            {**e, "slave_id": agent_id} for agent_id, by_id in fw.executors.items() for e in by_id.values()
        ],
    }


def task_state(task: Task) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": task.task_id,
        "name": task.name,
        "framework_id": task.framework_id,
        "executor_id": task.executor_id or "",
        "slave_id": task.agent_id,
        "state": task.state,
        "resources": task.resources.legacy_dict(),
        "role": task.role,
        "statuses": [
            {"state": s.get("state"), "timestamp": s.get("timestamp")} for s in task.statuses
        ],
    }
    if task.status is not None:
        for key in ("message", "reason", "source"):
            if key in task.status:
                out[f"status_{key}"] = task.status[key]
    for key in ("labels", "discovery", "container"):
        if key in task.info:
            out[key] = task.info[key]
    return out


def roles(m: MasterState) -> dict[str, Any]:
    out = []
    for info in m.allocator.roles():
        frameworks = [f for f in info.frameworks if f in m.frameworks]
        out.append(
            {
                "name": info.role,
                "weight": info.weight,
                "share": info.share,
                "frameworks": frameworks,
                "resources": {k: round(v, 3) for k, v in info.allocated.items()},
            }
        )
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

