"""Read-only views of the master's state in Mesos's JSON shapes.

`state()` is the legacy `/state` document (what Mesos's UI and tools read);
`get_roles` builds the v1 operator API's GET_ROLES.  The JSON of each framework,
agent and task comes from `master/render.py`.
"""

from __future__ import annotations

from typing import Any

from corral import MESOS_API_VERSION, __version__
from corral.master.render import agent_state, framework_state
from corral.master.state import MasterState


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
        "slaves": [agent_state(a, m.offers) for a in m.agents.values()],
        "unreachable_slaves_ids": sorted(m.unreachable_agents),
        "frameworks": [framework_state(f, m.offers) for f in m.frameworks.values()],
        "completed_frameworks": [framework_state(f, m.offers) for f in completed],
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

