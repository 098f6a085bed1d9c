"""Corral's master <-> agent protocol (internal, JSON over the same RecordIO framing).

The agent dials out: `POST /api/v1/agent` with REGISTER opens a stream of
master -> agent events (REGISTERED, RUN_TASK, RUN_TASK_GROUP, KILL_TASK,
SHUTDOWN_EXECUTOR, SHUTDOWN_FRAMEWORK, ACKNOWLEDGE, FRAMEWORK_MESSAGE,
UPDATE_FRAMEWORK, PING, SHUTDOWN).  Every other call is a separate POST
carrying `Corral-Agent-Id` and `Corral-Stream-Id` headers, answered 202.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.protocol.messages import ID, ProtocolError, decode_struct, require_body

AGENT_ID_HEADER = "Corral-Agent-Id"
STREAM_ID_HEADER = "Corral-Stream-Id"


class Register(msgspec.Struct, omit_defaults=True):
    agent_info: dict[str, Any]
    resources: list[dict[str, Any]]
    agent_id: ID | None = None
    version: str = ""
    tasks: list[dict[str, Any]] = []
    executors: list[dict[str, Any]] = []
    frameworks: list[dict[str, Any]] = []


class Update(msgspec.Struct, omit_defaults=True):
    framework_id: ID
    status: dict[str, Any]
    latest_state: str | None = None


class Message(msgspec.Struct, omit_defaults=True):
    framework_id: ID
    executor_id: ID
    data: str = ""


class ExitedExecutor(msgspec.Struct, omit_defaults=True):
    framework_id: ID
    executor_id: ID
    status: int | None = None


class AgentCall(msgspec.Struct, omit_defaults=True):
    type: str
    register: Register | None = None
    update: Update | None = None
    message: Message | None = None
    exited_executor: ExitedExecutor | None = None


CALL_BODIES: dict[str, str | None] = {
    "REGISTER": "register",
    "UPDATE": "update",
    "MESSAGE": "message",
    "EXITED_EXECUTOR": "exited_executor",
    "PONG": None,
    "UNREGISTER": None,
}


def decode_agent_calls(body: bytes) -> list[AgentCall]:
    """One call, or several as a JSON list (the agent sends a burst of calls so:
    agent/master_link.py); REGISTER comes alone."""
    if body.lstrip()[:1] != b"[":
        calls = [decode_struct(body, AgentCall, "agent call")]
    else:
        calls = decode_struct(body, list[AgentCall], "list of agent calls")
        if not calls:
            raise ProtocolError("Empty list of agent calls")
        if any(call.type == "REGISTER" for call in calls):
            raise ProtocolError("REGISTER comes alone, not in a list of calls")
    for call in calls:
        if call.type not in CALL_BODIES:
            raise ProtocolError(f"Unknown agent call type '{call.type}'")
        require_body(call, CALL_BODIES[call.type])
    return calls
