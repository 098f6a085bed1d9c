"""The agent's v1 operator API (`POST /api/v1` on the agent).

Served: GET_HEALTH, GET_VERSION, GET_FLAGS and GET_CONTAINERS (each running executor's container
with its ResourceStatistics, as `/monitor/statistics` has them), and the nested container
sessions a `task exec` tool uses (sessions.py): LAUNCH_NESTED_CONTAINER_SESSION and
ATTACH_CONTAINER_OUTPUT answer with a RecordIO stream of ProcessIO records,
ATTACH_CONTAINER_INPUT takes one, WAIT_(NESTED_)CONTAINER and KILL_(NESTED_)CONTAINER act on a
session's container.  Any other call of Mesos's agent API is answered 400, naming the call and
the ones served."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

import msgspec
from aiohttp import web

from corral.agent import session_calls, views
from corral.agent.sessions import Session, SessionConflict, Sessions
from corral.http_stream import JSON, check_json_request, error_response, json_response
from corral.protocol import recordio
from corral.protocol.master_info import version_info
from corral.protocol.messages import ProtocolError, decode_struct

if TYPE_CHECKING:
    from corral.agent.model import Executor
    from corral.agent.state import AgentState

RECORDIO = "application/recordio"
STREAM_HEADERS = {"Content-Type": RECORDIO, "Message-Content-Type": JSON}
DISCONNECT_CHECK = 1.0  # seconds between looks at whether a quiet stream's client is still there


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


def add_routes(app: web.Application, agent: OperatedAgent, sessions: Sessions) -> None:
    calls = _calls(agent)
    container_calls = _container_calls(sessions)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Content-Type", "").split(";")[0].strip().lower() == RECORDIO:
            return await _attach_input(request, sessions)
        bad = check_json_request(request)
        if bad is not None:
            return bad
        raw = await request.read()
        try:
            call = decode_struct(raw, AgentCall, "agent operator call")
        except ProtocolError as exc:
            return error_response(400, str(exc))
        answer = calls.get(call.type)
        if answer is not None:
            return json_response({"type": call.type, call.type.lower(): answer()})
        serve = container_calls.get(call.type)
        if serve is None:
            return error_response(400, f"Agent operator call '{call.type}' is not supported (this agent serves "
                                       f"{', '.join([*calls, *container_calls, 'ATTACH_CONTAINER_INPUT'])})")
        try:
            return await serve(request, json.loads(raw).get(call.type.lower()))
        except ValueError as exc:
            return error_response(400, f"{call.type}: {exc}")
        except LookupError as exc:
            return error_response(404, f"{call.type}: {exc.args[0]}")
        except SessionConflict as exc:
            return error_response(409, f"{call.type}: {exc}")

    app.router.add_post("/api/v1", handler)


Serve = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]


def _container_calls(sessions: Sessions) -> dict[str, Serve]:
    async def launch(request: web.Request, body: Any) -> web.StreamResponse:
        try:
            session, output = await sessions.launch(session_calls.launch_session(body))
        except OSError as exc:
            return error_response(500, f"LAUNCH_NESTED_CONTAINER_SESSION: could not start the command: {exc}")
        return await _stream(request, session, output, owner=True)

    async def attach_output(request: web.Request, body: Any) -> web.StreamResponse:
        session = sessions.find(_container(body).value)
        return await _stream(request, session, session.subscribe(), owner=False)

    def wait(kind: str) -> Serve:
        async def serve(request: web.Request, body: Any) -> web.StreamResponse:
            status = await sessions.wait(_container(body).value)
            return json_response({"type": kind, kind.lower(): {"exit_status": status}})
        return serve

    async def kill(request: web.Request, body: Any) -> web.StreamResponse:
        sig = (body or {}).get("signal", signal.SIGKILL)
        if not isinstance(sig, int) or not 0 < sig < signal.NSIG:
            raise ValueError(f"'signal' must be a signal number, not {sig!r}")
        sessions.kill(_container(body).value, sig)
        return web.Response(status=200)

    return {"LAUNCH_NESTED_CONTAINER_SESSION": launch, "ATTACH_CONTAINER_OUTPUT": attach_output,
            "WAIT_CONTAINER": wait("WAIT_CONTAINER"), "WAIT_NESTED_CONTAINER": wait("WAIT_NESTED_CONTAINER"),
            "KILL_CONTAINER": kill, "KILL_NESTED_CONTAINER": kill}


def _container(body: Any) -> session_calls.NestedId:
    if not isinstance(body, dict):
        raise ValueError("the call's body must be an object with a 'container_id'")
    return session_calls.container_id(body.get("container_id"))


async def _stream(request: web.Request, session: Session, output: asyncio.Queue[dict[str, Any] | None],
                  owner: bool) -> web.StreamResponse:
    """The session's output as RecordIO until it ends.  The launching call owns the session: when its
    client goes away, the session's process is killed (its lifetime is the call's, as in Mesos)."""
    response = web.StreamResponse(status=200, headers=STREAM_HEADERS)
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        while True:
            try:
                record = await asyncio.wait_for(output.get(), DISCONNECT_CHECK)
            except asyncio.TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    raise ConnectionResetError("the client went away") from None
                continue
            if record is None:
                break
            await response.write(recordio.encode(json.dumps(record).encode()))
        await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        if owner:
            session.kill()
        raise
    finally:
        session.unsubscribe(output)
    return response


async def _attach_input(request: web.Request, sessions: Sessions) -> web.Response:
    """ATTACH_CONTAINER_INPUT: the first record names the container, the rest are its stdin (empty
    data: EOF), heartbeats and terminal sizes.  The stream may end without EOF (the Mesos CLI first
    attaches with the container id alone): stdin stays open."""
    message_type = request.headers.get("Message-Content-Type", JSON).split(";")[0].strip().lower()
    if message_type != JSON:
        return error_response(415, f"Unsupported Message-Content-Type '{message_type}': Corral accepts application/json")
    decoder = recordio.Decoder()
    session: Session | None = None
    try:
        async for chunk in request.content.iter_any():
            for raw in decoder.feed(chunk):
                record = session_calls.input_record(json.loads(raw))
                if session is None:
                    if record.kind != "container_id" or record.container is None:
                        return error_response(400, "ATTACH_CONTAINER_INPUT: the first message must be of type CONTAINER_ID")
                    session = sessions.find(record.container.value)
                    if session.input_attached:
                        session = None
                        return error_response(409, f"ATTACH_CONTAINER_INPUT: container '{record.container.value}' "
                                                   "already has its input attached")
                    session.input_attached = True
                elif record.kind == "stdin":
                    await session.feed(record.data)
                elif record.kind == "window" and record.window is not None:
                    session.resize(*record.window)
    except (ValueError, recordio.RecordIOError) as exc:
        return error_response(400, f"ATTACH_CONTAINER_INPUT: {exc}")
    except LookupError as exc:
        return error_response(404, f"ATTACH_CONTAINER_INPUT: {exc.args[0]}")
    except (BrokenPipeError, ConnectionResetError):
        pass  # (the session's process has gone: its input with it)
    finally:
        if session is not None:
            session.input_attached = False
    if session is None:
        return error_response(400, "ATTACH_CONTAINER_INPUT: the stream carried no CONTAINER_ID message")
    return web.Response(status=200)
