"""GET_WHY_NOT_OFFERED, a Corral extension of the operator API: why a framework gets no offers.

The allocator's reasons (allocator/why.py) per role, with the master's own
knowledge added: an inactive agent is named as draining, deactivated or
disconnected, and the framework's unanswered offers are counted (an agent it
holds an offer of is offered to nobody else).  The web UI's framework page
and `corral why` show it.  Guarded like GET_FRAMEWORKS: a principal sees only
the frameworks its view_frameworks ACL lets it see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.allocator import why as W
from corral.ids import wrap
from corral.master.drains import DRAINING
from corral.master.operator import OperatorCall, leading_state, register, require
from corral.master.state import CallError
from corral.protocol.messages import ProtocolError

if TYPE_CHECKING:
    from corral.master.state import MasterState


def why_not_offered(state: "MasterState", framework_id: str) -> dict[str, Any]:
    framework = state.frameworks.get(framework_id)
    if framework is None:
        raise CallError(400, f"Framework {framework_id} cannot be found")
    roles = []
    for role, reasons in sorted(state.allocator.why_not(framework_id).items()):
        roles.append({"role": role, "reasons": [r.to_json() for r in _split_inactive(state, reasons)]})
    out: dict[str, Any] = {"framework_id": wrap(framework_id), "roles": roles,
                           "outstanding_offers": len(framework.offers), "agents": len(state.agents)}
    if not state.agents:
        out["message"] = "No agent is registered with this master"
    return out


def _split_inactive(state: "MasterState", reasons: list[W.Reason]) -> list[W.Reason]:
    out = []
    for reason in reasons:
        if reason.reason != W.AGENT_INACTIVE:
            out.append(reason)
            continue
        groups: dict[str, W.Reason] = {}
        for agent_id in reason.agents:
            info = state.deactivations.get(agent_id, False)
            agent = state.agents.get(agent_id)
            if info is not False:
                draining = isinstance(info, dict) and info.get("state") == DRAINING
                kind, message = (("AGENT_DRAINING", "agents an operator is draining") if draining else
                                 ("AGENT_DEACTIVATED", "agents an operator deactivated or drained (REACTIVATE_AGENT ends it)"))
            elif agent is not None and not agent.connected:
                kind, message = "AGENT_DISCONNECTED", "agents that lost their connection to the master"
            else:
                kind, message = reason.reason, reason.message
            groups.setdefault(kind, W.Reason(kind, message)).agents.append(agent_id)
        out.extend(groups.values())
    return out


def _get_why_not_offered(master, request, call: OperatorCall):
    body = require(call.get_why_not_offered, "get_why_not_offered")
    framework = body.get("framework_id") if isinstance(body, dict) else None
    framework_id = framework.get("value") if isinstance(framework, dict) else None
    if not isinstance(framework_id, str) or not framework_id:
        raise ProtocolError("Expecting 'get_why_not_offered.framework_id.value' to be a non-empty string")
    state = leading_state(master)
    known = state.frameworks.get(framework_id)
    viewer = master.security.viewer(request)
    if known is not None and viewer.filters and not viewer.may("view_frameworks", known.info.get("user")):
        raise CallError(400, f"Framework {framework_id} cannot be found")  # as if unknown, like the filtered views
    return why_not_offered(state, framework_id)


register("GET_WHY_NOT_OFFERED", _get_why_not_offered, readonly=True)
