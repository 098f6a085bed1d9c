"""Mesos v1 scheduler calls (JSON), declared with their exact field names.

`decode_call` turns a request body into a `Call` or raises `ProtocolError`
with a message that names the offending field.  TaskInfo and ExecutorInfo
stay plain dicts: they pass through the master to agents and executors with
every field a client set, and are checked by `master.validation`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.protocol.messages import ID, ProtocolError, decode_struct, require_body


class Filters(msgspec.Struct, omit_defaults=True):
    refuse_seconds: float | None = None


class Subscribe(msgspec.Struct, omit_defaults=True):
    framework_info: dict[str, Any]
    suppressed_roles: list[str] = []


class Launch(msgspec.Struct, omit_defaults=True):
    task_infos: list[dict[str, Any]] = []


class Operation(msgspec.Struct, omit_defaults=True):
    type: str
    launch: Launch | None = None
    launch_group: dict[str, Any] | None = None
    reserve: dict[str, Any] | None = None
    unreserve: dict[str, Any] | None = None
    create: dict[str, Any] | None = None
    destroy: dict[str, Any] | None = None


class Accept(msgspec.Struct, omit_defaults=True):
    offer_ids: list[ID]
    operations: list[Operation] = []
    filters: Filters | None = None


class Decline(msgspec.Struct, omit_defaults=True):
    offer_ids: list[ID]
    filters: Filters | None = None


class Roles(msgspec.Struct, omit_defaults=True):
    roles: list[str] = []
    role: str | None = None  # pre-MULTI_ROLE clients

    def all(self) -> list[str] | None:
        roles = list(self.roles)
        if self.role:
            roles.append(self.role)
        return roles or None


class Kill(msgspec.Struct, omit_defaults=True):
    task_id: ID
    agent_id: ID | None = None
    kill_policy: dict[str, Any] | None = None


class Shutdown(msgspec.Struct, omit_defaults=True):
    executor_id: ID
    agent_id: ID


class Acknowledge(msgspec.Struct, omit_defaults=True):
    agent_id: ID
    task_id: ID
    uuid: str


class ReconcileTask(msgspec.Struct, omit_defaults=True):
    task_id: ID
    agent_id: ID | None = None


class Reconcile(msgspec.Struct, omit_defaults=True):
    tasks: list[ReconcileTask] = []


class Message(msgspec.Struct, omit_defaults=True):
    agent_id: ID
    executor_id: ID
    data: str = ""


class InverseOffers(msgspec.Struct, omit_defaults=True):
    inverse_offer_ids: list[ID] = []
    filters: Filters | None = None


class Call(msgspec.Struct, omit_defaults=True):
    type: str
    framework_id: ID | None = None
    subscribe: Subscribe | None = None
    accept: Accept | None = None
    decline: Decline | None = None
    accept_inverse_offers: InverseOffers | None = None
    decline_inverse_offers: InverseOffers | None = None
    revive: Roles | None = None
    suppress: Roles | None = None
    kill: Kill | None = None
    shutdown: Shutdown | None = None
    acknowledge: Acknowledge | None = None
    reconcile: Reconcile | None = None
    message: Message | None = None
    request: dict[str, Any] | None = None


# Call type -> the field that must accompany it (None: no body).
CALL_BODIES: dict[str, str | None] = {
    "SUBSCRIBE": "subscribe",
    "TEARDOWN": None,
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
    "REVIVE": None,
    "SUPPRESS": None,
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "RECONCILE": "reconcile",
    "MESSAGE": "message",
    "REQUEST": "request",
}

CONVERSIONS = ("RESERVE", "UNRESERVE", "CREATE", "DESTROY")  # operations that convert resources
SUPPORTED_OPERATIONS = ("LAUNCH", "LAUNCH_GROUP", *CONVERSIONS)


def decode_call(body: bytes) -> Call:
    call = decode_struct(body, Call, "call")
    if call.type not in CALL_BODIES:
        raise ProtocolError(f"Unknown or unsupported call type '{call.type}'")
    require_body(call, CALL_BODIES[call.type])
    if call.type == "ACCEPT":
        assert call.accept is not None
        for i, op in enumerate(call.accept.operations):
            if op.type not in SUPPORTED_OPERATIONS:
                raise ProtocolError(
                    f"accept.operations[{i}].type: '{op.type}' is not supported (supported: {', '.join(SUPPORTED_OPERATIONS)})"
                )
            if op.type == "LAUNCH" and op.launch is None:
                raise ProtocolError(f"accept.operations[{i}]: expecting 'launch' to be present")
            if op.type == "LAUNCH_GROUP" and op.launch_group is None:
                raise ProtocolError(f"accept.operations[{i}]: expecting 'launch_group' to be present")
            if op.type in CONVERSIONS and getattr(op, op.type.lower()) is None:
                raise ProtocolError(f"accept.operations[{i}]: expecting '{op.type.lower()}' to be present")
    if call.type != "SUBSCRIBE" and call.framework_id is None:
        raise ProtocolError("Expecting 'framework_id' to be present")
    return call
