"""The operator's DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT (Mesos 1.9; master/drains.py)."""

from __future__ import annotations

from typing import Any

from corral.master.operator import Denied, OperatorCall, leading_state, register, require
from corral.protocol.messages import ProtocolError


def _agent_id(body: Any, call: str) -> str:
    if not isinstance(body, dict):
        raise ProtocolError(f"{call}: expected an object")
    agent_id = body.get("agent_id")
    value = agent_id.get("value") if isinstance(agent_id, dict) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"Expecting '{call}.agent_id.value' to be a non-empty string")
    return value


def _authorize(master, request, action: str, what: str) -> None:
    denied = master.security.check(request, action, None, what)
    if denied is not None:
        raise Denied(denied)


def _drain_agent(master, request, call: OperatorCall):
    body = require(call.drain_agent, "drain_agent")
    agent_id = _agent_id(body, "drain_agent")
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
    _authorize(master, request, "drain_agents", "drain agents")
    if mark_gone:
        _authorize(master, request, "mark_agents_gone", "mark agents gone")
    leading_state(master).drain_agent(agent_id, config)
    return None


def _deactivate_agent(master, request, call: OperatorCall):
    agent_id = _agent_id(require(call.deactivate_agent, "deactivate_agent"), "deactivate_agent")
    _authorize(master, request, "deactivate_agents", "deactivate agents")
    leading_state(master).deactivate_agent(agent_id)
    return None


def _reactivate_agent(master, request, call: OperatorCall):
    agent_id = _agent_id(require(call.reactivate_agent, "reactivate_agent"), "reactivate_agent")
    _authorize(master, request, "reactivate_agents", "reactivate agents")
    leading_state(master).reactivate_agent(agent_id)
    return None


register("DRAIN_AGENT", _drain_agent, readonly=False)
register("DEACTIVATE_AGENT", _deactivate_agent, readonly=False)
register("REACTIVATE_AGENT", _reactivate_agent, readonly=False)
