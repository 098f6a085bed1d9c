"""The agent's v1 operator API (`POST /api/v1` on the agent), the calls that tooling reads
first: GET_HEALTH, GET_VERSION, GET_FLAGS and GET_CONTAINERS (each running executor's
container with its ResourceStatistics, as `/monitor/statistics` has them). Any other call
of Mesos's agent API is answered 400, naming the call and the ones served."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

import msgspec
from aiohttp import web

from corral.agent import views
from corral.http_stream import check_json_request, error_response, json_response
from corral.protocol.master_info import version_info
from corral.protocol.messages import ProtocolError, decode_struct

if TYPE_CHECKING:
    from corral.agent.model import Executor
    from corral.agent.state import AgentState


class OperatedAgent(Protocol):
    """What the operator API uses of the agent daemon."""

    @property
    def state(self) -> AgentState: ...

    def public_flags(self) -> dict[str, str]: ...

    def usage(self, executor: Executor) -> dict[str, Any]: ...


class AgentCall(msgspec.Struct):
    type: str


def _calls(agent: OperatedAgent) -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "GET_HEALTH": lambda: {"healthy": True},
        "GET_VERSION": lambda: {"version_info": version_info()},
        "GET_FLAGS": lambda: {"flags": [{"name": k, "value": v} for k, v in sorted(agent.public_flags().items())]},
        "GET_CONTAINERS": lambda: {"containers": views.containers_json(agent.state, agent.usage, time.time())},
    }


def add_routes(app: web.Application, agent: OperatedAgent) -> None:
    calls = _calls(agent)

    async def handler(request: web.Request) -> web.Response:
        bad = check_json_request(request)
        if bad is not None:
            return bad
        try:
            call = decode_struct(await request.read(), AgentCall, "agent operator call")
        except ProtocolError as exc:
            return error_response(400, str(exc))
        answer = calls.get(call.type)
        if answer is None:
            return error_response(400, f"Agent operator call '{call.type}' is not supported (this agent serves "
                                       f"{', '.join(calls)})")
        return json_response({"type": call.type, call.type.lower(): answer()})

    app.router.add_post("/api/v1", handler)
