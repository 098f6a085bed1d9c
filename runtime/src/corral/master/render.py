"""How one offer, framework, agent or task looks in JSON: the one place that says so.

Everything that shows the master's objects builds on these functions: the
scheduler API's OFFERS events and the operator API's events (`master/state.py`
and its layers), the operator API's GET_* answers (`master/operator.py`, with the
view cache of `master/viewcache.py`), and the legacy `/state` document
(`master/views.py`).  They take the objects themselves (and, for the legacy
shapes, the master's offers) and perform no lookups of their own, so they can
be read and tested without a `MasterState`.

Two families: the v1 shapes (`offer_json`, `framework_summary`,
`agent_summary`, `task_json`) with Mesos's wrapped ids and times in
nanoseconds, and the legacy `/state` shapes (`framework_state`, `agent_state`,
`task_state`) with plain ids, times in seconds and resources as dicts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from corral.attributes import Attributes
from corral.ids import wrap
from corral.master.model import Agent, Framework, Offer, Task
from corral.resources import Resources

# The capabilities every Corral agent has, as GET_AGENTS and /state report them.
AGENT_CAPABILITIES = ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT")

# What the operator API's Task copies from the TaskInfo when present.
TASK_INFO_KEYS = ("labels", "discovery", "container", "health_check", "kill_policy")


def time_json(seconds: float | None) -> dict[str, int] | None:
    """A v1 TimeInfo."""
    return None if seconds is None else {"nanoseconds": int(seconds * 1e9)}


# ----------------------------------------------------------------- v1 shapes


ResourcesJSON = Callable[..., list[dict[str, Any]]]  # Resources.to_json's signature, with the resources first
LegacyJSON = Callable[[Resources], dict[str, Any]]


def offer_json(offer: Offer, agent: Agent, framework: Framework, resources_json: ResourcesJSON = Resources.to_json) -> dict[str, Any]:
    """An Offer as the scheduler API sends it (and GET_FRAMEWORKS lists it).
    `resources_json`: `Resources.to_json`, or a cache of its answers (master/viewcache.py)."""
    multi_role = "MULTI_ROLE" in framework.capabilities
    out = {
        "id": wrap(offer.id),
        "framework_id": wrap(offer.framework_id),
        "agent_id": wrap(agent.id),
        "hostname": agent.hostname,
        "url": {
            "scheme": "http",
            "address": {"hostname": agent.hostname, "ip": agent.info.get("ip", agent.hostname), "port": agent.port},
            "path": "/slave(1)",
        },
        # Frameworks without MULTI_ROLE get no allocation_info (as Mesos strips it for them).
        "resources": resources_json(
            offer.resources, allocation_role=offer.role if multi_role else None,
            refinement="RESERVATION_REFINEMENT" in framework.capabilities,
        ),
        "attributes": agent.info.get("attributes", []),
        "executor_ids": [wrap(e) for e in framework.executors.get(agent.id, {})],
    }
    if multi_role:
        out["allocation_info"] = {"role": offer.role}
    if agent.unavailability is not None:
        out["unavailability"] = agent.unavailability  # the agent's machine is scheduled for maintenance
    return out


def framework_summary(framework: Framework) -> dict[str, Any]:
    """The framework of FRAMEWORK_ADDED/UPDATED; GET_FRAMEWORKS adds offers and resources to it."""
    return {
        "framework_info": framework.info,
        "active": framework.active,
        "connected": framework.connected,
        "recovered": framework.recovered,
        "registered_time": time_json(framework.registered_time),
    }


def agent_summary(agent: Agent, total_json: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The agent of AGENT_ADDED; GET_AGENTS adds usage and capabilities to it.
    `total_json`: the total resources already encoded (master/viewcache.py)."""
    return {
        "agent_info": agent.info,
        "active": agent.active and agent.connected,
        "version": agent.version,
        "pid": agent.pid,
        "registered_time": time_json(agent.registered_time),
        "total_resources": agent.total.to_json() if total_json is None else total_json,
    }


def task_json(task: Task, resources_json: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The operator API's Task (GET_TASKS, TASK_ADDED). `resources_json`: the resources
    already encoded, for a caller that remembers them (master/viewcache.py)."""
    out: dict[str, Any] = {
        "task_id": wrap(task.task_id),
        "framework_id": wrap(task.framework_id),
        "agent_id": wrap(task.agent_id),
        "name": task.name,
        "state": task.state,
        "resources": task.resources.to_json(allocation_role=task.role) if resources_json is None else resources_json,
        "statuses": list(task.statuses),
        "role": task.role,
    }
    if task.executor_id:
        out["executor_id"] = wrap(task.executor_id)
    if task.status is not None:
        out["status_update_state"] = task.status.get("state")
    for key in TASK_INFO_KEYS:
        if key in task.info:
            out[key] = task.info[key]
    return out


# ----------------------------------------------------------------- legacy /state shapes


def agent_state(agent: Agent, offers: Mapping[str, Offer], used: Resources, legacy: LegacyJSON) -> dict[str, Any]:
    """`used`: what the agent's live tasks and executors hold; `legacy`: `Resources.legacy_dict`, or a cache of
    its answers (master/viewcache.py)."""
    offered = Resources()
    for offer_id in agent.offers:
        offer = offers.get(offer_id)
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
        "resources": legacy(agent.total),
        "used_resources": legacy(used),
        "offered_resources": legacy(offered),
        "reserved_resources": reserved,
        "unreserved_resources": agent.total.unreserved().legacy_dict(),
        "reserved_resources_full": {r: agent.total.reserved(r).to_json() for r in agent.total.reservation_roles()},
        "attributes": Attributes.from_json(agent.info.get("attributes", [])).values(),
        "active": agent.connected and agent.active,
        "deactivated": not agent.active,
        **({"drain_info": agent.drain} if agent.drain else {}),
        "version": agent.version,
        "capabilities": list(AGENT_CAPABILITIES),
    }


def framework_state(fw: Framework, offers: Mapping[str, Offer], legacy: LegacyJSON,
                    task_view: Callable[[Task], dict[str, Any]], used: Resources, offered: Resources) -> dict[str, Any]:
    """`legacy` and `task_view`: `Resources.legacy_dict` and `task_state`, or caches of their answers;
    `used` and `offered`: what its live tasks and its offers hold."""
    offer_list = []
    for offer_id in fw.offers:
        offer = offers.get(offer_id)
        if offer is not None:
            offer_list.append(
                {
                    "id": offer.id,
                    "framework_id": fw.id,
                    "slave_id": offer.agent_id,
                    "resources": legacy(offer.resources),
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
        "resources": legacy(used + offered),
        "used_resources": legacy(used),
        "offered_resources": legacy(offered),
        "tasks": [task_view(t) for t in fw.tasks.values() if not t.terminal or t.terminal_uuid],
        "unreachable_tasks": [task_view(t) for t in fw.tasks.values() if t.state == "TASK_UNREACHABLE"],
        "completed_tasks": [task_view(t) for t in fw.completed_tasks],
        "offers": offer_list,
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
        "statuses": list(task.statuses),
    }
    if task.status is not None:
        for key in ("message", "reason", "source"):
            if key in task.status:
                out[f"status_{key}"] = task.status[key]
    for key in ("labels", "discovery", "container"):
        if key in task.info:
            out[key] = task.info[key]
    return out


def task_user(task_info: Any, framework_info: Mapping[str, Any], executor_info: Any = None) -> str | None:
    """The UNIX user a task runs as (what the view_* and access_sandboxes ACLs decide on): its
    command's user, else its executor's, else the framework's."""
    holders = []
    if isinstance(task_info, dict):
        executor = task_info.get("executor")
        holders += [task_info.get("command"), executor.get("command") if isinstance(executor, dict) else None]
    if isinstance(executor_info, dict):
        holders.append(executor_info.get("command"))
    for holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("user"), str):
            return holder["user"]
    user = framework_info.get("user")
    return user if isinstance(user, str) else None
