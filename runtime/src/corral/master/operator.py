"""The v1 operator API (`POST /api/v1`): Mesos's calls and response shapes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from corral.http_stream import StreamConnection, error_response, json_response
from corral.master import views
from corral.master.state import CallError
from corral.protocol.messages import ProtocolError, decode_struct

if TYPE_CHECKING:
    from corral.master.daemon import Master

logger = logging.getLogger(__name__)


class WeightInfo(msgspec.Struct):
    role: str
    weight: float


class UpdateWeights(msgspec.Struct):
    weight_infos: list[WeightInfo]


class AgentIdBody(msgspec.Struct):
    agent_id: dict[str, str]


class OperatorCall(msgspec.Struct, omit_defaults=True):
    type: str
    update_weights: UpdateWeights | None = None
    mark_agent_gone: AgentIdBody | None = None


READ_CALLS = {
    "GET_HEALTH", "GET_VERSION", "GET_FLAGS", "GET_METRICS", "GET_STATE", "GET_AGENTS", "GET_FRAMEWORKS",
    "GET_TASKS", "GET_EXECUTORS", "GET_ROLES", "GET_WEIGHTS", "GET_MASTER",
}
WRITE_CALLS = {"UPDATE_WEIGHTS", "MARK_AGENT_GONE", "SUBSCRIBE"}


async def handle(master: "Master", request: web.Request) -> web.StreamResponse:
    try:
        call = decode_struct(await request.read(), OperatorCall, "operator call")
    except ProtocolError as exc:
        return error_response(400, str(exc))
    kind = call.type
    if kind not in READ_CALLS | WRITE_CALLS:
        return error_response(400, f"Unknown or unsupported operator call type '{kind}'")
    if kind == "SUBSCRIBE":
        return await _subscribe(master, request)
    try:
        body = _answer(master, call)
    except CallError as exc:
        return error_response(exc.status, exc.message)
    except ProtocolError as exc:
        return error_response(400, str(exc))
    if body is None:
        return web.Response(status=200)
    return json_response({"type": kind, kind.lower(): body})


def _answer(master: "Master", call: OperatorCall) -> dict[str, Any] | None:
    state = master.state
    kind = call.type
    if kind == "GET_HEALTH":
        return {"healthy": True}
    if kind == "GET_VERSION":
        from corral.master.http import version_info

        return {"version_info": version_info()}
    if kind == "GET_FLAGS":
        return {"flags": [{"name": k, "value": v} for k, v in sorted(master.public_flags().items())]}
    if kind == "GET_METRICS":
        snapshot = views.metrics_snapshot(state, master.leading, master.safe_mode)
        return {"metrics": [{"name": k, "value": v} for k, v in sorted(snapshot.items())]}
    if kind == "GET_STATE":
        return views.get_state(state)
    if kind == "GET_AGENTS":
        return views.get_agents(state)
    if kind == "GET_FRAMEWORKS":
        return views.get_frameworks(state)
    if kind == "GET_TASKS":
        return views.get_tasks(state)
    if kind == "GET_EXECUTORS":
        return views.get_state(state)["get_executors"]
    if kind == "GET_ROLES":
        return views.get_roles(state)
    if kind == "GET_WEIGHTS":
        return {"weight_infos": [{"role": r, "weight": w} for r, w in sorted(state.allocator.weights().items())]}
    if kind == "GET_MASTER":
        return {"master_info": state.master_info, "start_time": state.start_time, "elected_time": state.elected_time}
    if kind == "UPDATE_WEIGHTS":
        if call.update_weights is None:
            raise ProtocolError("Expecting 'update_weights' to be present")
        from corral.config import as_weights

        try:
            weights = as_weights({w.role: w.weight for w in call.update_weights.weight_infos})
        except ValueError as exc:
            raise ProtocolError(f"update_weights: {exc}") from None
        master.update_weights(weights)
        return None
    if kind == "MARK_AGENT_GONE":
        if call.mark_agent_gone is None or not call.mark_agent_gone.agent_id.get("value"):
            raise ProtocolError("Expecting 'mark_agent_gone.agent_id.value' to be present")
        state.mark_agent_gone(call.mark_agent_gone.agent_id["value"])
        return None
    raise ProtocolError(f"Unsupported operator call '{kind}'")


async def _subscribe(master: "Master", request: web.Request) -> web.StreamResponse:
    connection = StreamConnection()
    connection.send(
        {
            "type": "SUBSCRIBED",
            "subscribed": {"get_state": views.get_state(master.state), "heartbeat_interval_seconds": 15.0},
        }
    )
    master.state.subscribe_operator(connection)
    try:
        return await connection.serve(request)
    finally:
        master.state.unsubscribe_operator(connection)
