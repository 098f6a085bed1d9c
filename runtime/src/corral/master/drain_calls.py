"""The operator's DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT (Mesos 1.9; master/drains.py)."""

from __future__ import annotations

from typing import Any

from corral.master.operator import OperatorCall, agent_id_of, authorize, leading_state, register, require
from corral.protocol.messages import ProtocolError


def _drain_agent(master, request, call: OperatorCall):
    body = require(call.drain_agent, "drain_agent")
    agent_id = agent_id_of(body, "drain_agent")
    config: dict[str, Any] = {}
    grace = body.get("max_grace_period")
    if grace is not None:
        nanoseconds = grace.get("nanoseconds") if isinstance(grace, dict) else None
        if not isinstance(nanoseconds, int) or isinstance(nanoseconds, bool) or nanoseconds < 0:
            raise ProtocolError("drain_agent.max_grace_period.nanoseconds must be a non-negative integer")
        config["max_grace_period"] = {"nanoseconds": nanoseconds}
    mark_gone = body.get("mark_gone", False)
    if not isinstance(mark_gone, bool):
        raise ProtocolError("drain_agent.mark_gone must be a boolean")
    config["mark_gone"] = mark_gone
    authorize(master, request, "drain_agents", None, "drain agents")
    if mark_gone:
        authorize(master, request, "mark_agents_gone", None, "mark agents gone")
    leading_state(master).drain_agent(agent_id, config)
    return None


def _deactivate_agent(master, request, call: OperatorCall):
    agent_id = agent_id_of(require(call.deactivate_agent, "deactivate_agent"), "deactivate_agent")
    authorize(master, request, "deactivate_agents", None, "deactivate agents")
    leading_state(master).deactivate_agent(agent_id)
    return None


def _reactivate_agent(master, request, call: OperatorCall):
    agent_id = agent_id_of(require(call.reactivate_agent, "reactivate_agent"), "reactivate_agent")
    authorize(master, request, "reactivate_agents", None, "reactivate agents")
    leading_state(master).reactivate_agent(agent_id)
    return None


register("DRAIN_AGENT", _drain_agent, readonly=False)
register("DEACTIVATE_AGENT", _deactivate_agent, readonly=False)
register("REACTIVATE_AGENT", _reactivate_agent, readonly=False)
