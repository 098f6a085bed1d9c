"""The operator's RESERVE_RESOURCES and UNRESERVE_RESOURCES (Mesos's v1 calls; master/reservations.py).

Authorized per reservation: reserve_resources by the reservation's role,
unreserve_resources by the principal that made it.
"""

from __future__ import annotations

from typing import Any

from corral.master.operator import OperatorCall, agent_id_of, authorize, leading_state, register, require
from corral.protocol.messages import ProtocolError
from corral.resources import ResourceError, Resources
from corral.security.middleware import principal_of


def _body(raw: Any, call: str) -> tuple[str, Resources]:
    agent_id = agent_id_of(raw, call)
    try:
        return agent_id, Resources.from_json(raw.get("resources"), f"{call}.resources")
    except ResourceError as exc:
        raise ProtocolError(str(exc)) from None


def _reserve(master, request, call: OperatorCall):
    agent_id, resources = _body(require(call.reserve_resources, "reserve_resources"), "reserve_resources")
    for role in sorted(resources.reservation_roles()):
        authorize(master, request, "reserve_resources", role, "reserve resources for role '{obj}'")
    leading_state(master).reserve_resources(agent_id, resources, principal_of(request))
    return None


def _unreserve(master, request, call: OperatorCall):
    agent_id, resources = _body(require(call.unreserve_resources, "unreserve_resources"), "unreserve_resources")
    for principal in sorted({k[1].principal or "" for k, _ in resources.items() if k[1] is not None}):
        authorize(master, request, "unreserve_resources", principal or None,
                  "unreserve resources reserved by principal '{obj}'")
    leading_state(master).reserve_resources(agent_id, resources, principal_of(request), unreserve=True)
    return None


register("RESERVE_RESOURCES", _reserve, readonly=False)
register("UNRESERVE_RESOURCES", _unreserve, readonly=False)
