"""The operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES and DESTROY_VOLUMES (Mesos's v1
calls; the conversions themselves are in master/reservations.py).

Authorized as Mesos authorizes them: reserve_resources and create_volumes by the role of each
reservation, unreserve_resources by the principal that reserved, destroy_volumes by the one that created.
"""

from __future__ import annotations

from typing import Any

from corral.master import reservations
from corral.master.operator import OperatorCall, agent_id_of, authorize, leading_state, register, require
from corral.protocol.messages import ProtocolError
from corral.resources import ResourceError, Resources
from corral.security.middleware import principal_of


def _call(action: str, operation: str, what: str):
    """The handler of the call whose body is `action` (also its ACL action)."""
    field = reservations.FIELD[operation]

    def handler(master, request, call: OperatorCall):
        raw = require(getattr(call, action), action)
        agent_id = agent_id_of(raw, action)
        try:
            resources = Resources.from_json(raw.get(field), f"{action}.{field}")
        except ResourceError as exc:
            raise ProtocolError(str(exc)) from None
        for obj in sorted(reservations.acl_objects(operation, resources), key=lambda o: o or ""):
            authorize(master, request, action, obj or None, what)
        leading_state(master).convert_free_resources(agent_id, operation, resources, principal_of(request))
        return None

    return handler


def _register(call: str, *args: Any) -> None:
    register(call, _call(*args), readonly=False)


_register("RESERVE_RESOURCES", "reserve_resources", "RESERVE", "reserve resources for role '{obj}'")
_register("UNRESERVE_RESOURCES", "unreserve_resources", "UNRESERVE", "unreserve resources reserved by principal '{obj}'")
_register("CREATE_VOLUMES", "create_volumes", "CREATE", "create volumes for role '{obj}'")
_register("DESTROY_VOLUMES", "destroy_volumes", "DESTROY", "destroy volumes created by principal '{obj}'")
