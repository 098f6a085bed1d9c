"""The v1 executor HTTP API served by the agent (`POST /api/v1/executor`)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from corral.http_stream import StreamConnection, check_json_request, error_response
from corral.protocol.messages import ID, ProtocolError, decode_struct, require_body
from corral.protocol.states import ALL_STATES, SOURCE_EXECUTOR

if TYPE_CHECKING:
    from corral.agent.state import AgentState


class Subscribe(msgspec.Struct, omit_defaults=True):
    unacknowledged_tasks: list[dict[str, Any]] = []
    unacknowledged_updates: list[dict[str, Any]] = []


class Update(msgspec.Struct):
    status: dict[str, Any]


class Message(msgspec.Struct):
    data: str = ""


class ExecutorCall(msgspec.Struct, omit_defaults=True):
    type: str
    framework_id: ID
    executor_id: ID
    subscribe: Subscribe | None = None
    update: Update | None = None
    message: Message | None = None


BODIES = {"SUBSCRIBE": "subscribe", "UPDATE": "update", "MESSAGE": "message", "HEARTBEAT": None}


def add_routes(app: web.Application, agent: "AgentState") -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        bad = check_json_request(request)
        if bad is not None:
            return bad
        try:
            call = decode_struct(await request.read(), ExecutorCall, "executor call")
            if call.type not in BODIES:
                raise ProtocolError(f"Unknown executor call type '{call.type}'")
            require_body(call, BODIES[call.type])
        except ProtocolError as exc:
            return error_response(400, str(exc))
        executor = agent.find_executor(call.framework_id.value, call.executor_id.value)
        if executor is None:
            return error_response(
                400, f"Unknown executor '{call.executor_id.value}' of framework '{call.framework_id.value}'"
            )
        if executor.in_agent:
            return error_response(
                400, f"Executor '{call.executor_id.value}' of framework '{call.framework_id.value}' is the command executor "
                     "the agent plays itself for a command task: no executor process subscribes for it"
            )
        if call.type == "SUBSCRIBE":
            assert call.subscribe is not None
            unacked = set()
            for task in call.subscribe.unacknowledged_tasks:
                value = (task.get("task_id") or {}).get("value") if isinstance(task, dict) else None
                if isinstance(value, str):
                    unacked.add(value)
            connection = StreamConnection()
            agent.executor_subscribed(executor, connection, unacked)
            try:
                return await connection.serve(request)
            finally:
                agent.executor_disconnected(executor, connection)
        if not executor.subscribed:
            return error_response(403, "Executor is not subscribed")
        if call.type == "UPDATE":
            assert call.update is not None
            error = validate_status(call.update.status, call.executor_id.value)
            if error:
                return error_response(400, error)
            agent.executor_update(executor, call.update.status)
        elif call.type == "MESSAGE":
            assert call.message is not None
            agent.executor_message(executor, call.message.data)
        return web.Response(status=202)

    app.router.add_post("/api/v1/executor", handler)


def validate_status(status: dict[str, Any], executor_id: str) -> str | None:
    """Mesos's checks of an executor's UPDATE."""
    task_id = (status.get("task_id") or {}).get("value") if isinstance(status.get("task_id"), dict) else None
    if not isinstance(task_id, str) or not task_id:
        return "update.status.task_id is required"
    state = status.get("state")
    if state not in ALL_STATES:
        return f"update.status.state: unknown state {state!r}"
    if state == "TASK_STAGING":
        return "update.status.state: an executor cannot send TASK_STAGING"
    source = status.get("source", SOURCE_EXECUTOR)
    if source != SOURCE_EXECUTOR:
        return f"update.status.source must be SOURCE_EXECUTOR (got {source!r})"
    sent_executor = (status.get("executor_id") or {}).get("value") if isinstance(status.get("executor_id"), dict) else None
    if sent_executor is not None and sent_executor != executor_id:
        return f"update.status.executor_id '{sent_executor}' does not match the calling executor '{executor_id}'"
    raw = status.get("uuid")
    try:
        ok = isinstance(raw, str) and len(base64.b64decode(raw, validate=True)) == 16
    except ValueError:
        ok = False
    if not ok:
        return "update.status.uuid must be the base64 encoding of a 16-byte UUID"
    return None
