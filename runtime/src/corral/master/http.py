"""The master's HTTP shell: decodes requests into calls on `MasterState`.

Endpoints: the v1 scheduler API (`/api/v1/scheduler`), the agent protocol
(`/api/v1/agent`), the v1 operator API (`/api/v1`, alias `/api/v1/operator`)
and the read-only endpoints Mesos serves (`/state`, `/version`, `/health`,
`/metrics/snapshot`, `/roles`, ...).  A master that does not lead answers
API calls with a 307 to the leader.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from corral.http_stream import StreamConnection, check_json_request, error_response, json_response
from corral.ids import value_of
from corral.master import metrics, operator, views
from corral.master.model import Agent
from corral.master.state import CallError, MasterState
from corral.protocol import agent as agent_proto
from corral.protocol.master_info import version_info
from corral.protocol.messages import ProtocolError
from corral.protocol.scheduler import CONVERSIONS, Call, decode_call
from corral.resources import ResourceError, Resources

if TYPE_CHECKING:
    from corral.master.shell import MasterShell

logger = logging.getLogger(__name__)

STREAM_ID = "Mesos-Stream-Id"
# How long a refused subscription's stream stays open after its ERROR event,
# so that clients which re-subscribe at once (pymesos does) do not spin.
ERROR_STREAM_LINGER = 1.0


def add_routes(app: web.Application, master: "MasterShell") -> None:
    api = MasterAPI(master)
    app.router.add_post("/api/v1/scheduler", api.scheduler)
    app.router.add_post("/api/v1/agent", api.agent)
    app.router.add_post("/api/v1", api.operator)
    app.router.add_post("/api/v1/operator", api.operator)  # pymesos's operator driver posts here
    for path, handler in [
        ("/state", api.state_endpoint),
        ("/master/state", api.state_endpoint),
        ("/state.json", api.state_endpoint),
        ("/master/state.json", api.state_endpoint),
        ("/version", api.version),
        ("/health", api.health),
        ("/master/health", api.health),
        ("/metrics/snapshot", api.metrics_snapshot),
        ("/roles", api.roles),
        ("/master/roles", api.roles),
        ("/roles.json", api.roles),
        ("/flags", api.flags),
        ("/master/flags", api.flags),
        ("/redirect", api.redirect),
        ("/master/redirect", api.redirect),
        ("/slaves", api.agents),
        ("/master/slaves", api.agents),
        ("/frameworks", api.frameworks),
        ("/master/frameworks", api.frameworks),
        ("/tasks", api.tasks),
        ("/master/tasks", api.tasks),
        ("/tasks.json", api.tasks),
        ("/master/tasks.json", api.tasks),
    ]:
        app.router.add_get(path, handler)


class MasterAPI:
    def __init__(self, master: "MasterShell") -> None:
        self.master = master

    @property
    def state(self) -> MasterState:
        assert self.master.state is not None
        return self.master.state

    # ------------------------------------------------------------ scheduler API

    async def scheduler(self, request: web.Request) -> web.StreamResponse:
        redirect = self.master.redirect_if_not_leading(request)
        if redirect is not None:
            return await self._deposed(request, redirect)
        bad = check_json_request(request)
        if bad is not None:
            return bad
        try:
            call = decode_call(await request.read())
        except ProtocolError as exc:
            return error_response(400, str(exc))
        if call.type == "SUBSCRIBE":
            return await self._subscribe(request, call)
        state = self.state
        try:
            framework = state.framework_for_call(value_of_id(call.framework_id), request.headers.get(STREAM_ID))
            self.master.security.authorize_scheduler_call(request, framework, call)
            self._dispatch(framework, call)
        except CallError as exc:
            return error_response(exc.status, exc.message)
        except ProtocolError as exc:
            return error_response(400, str(exc))
        return web.Response(status=202)

    async def _deposed(self, request: web.Request, redirect: web.StreamResponse) -> web.StreamResponse:
        """A call on a subscription to this master after it stopped leading.  Those whose loss the
        protocol already survives are answered 202 and dropped: an ACKNOWLEDGE (the agent sends the
        update again, through the new leader), a RECONCILE (asked again later), and what answers or
        asks for offers, which do not outlive a leader (ACCEPT: its launches are lost with the offers,
        and the framework's reconciliation learns TASK_LOST for them, as Mesos documents for a launch
        lost in a failover).  Clients that treat any other answer as fatal (pymesos on its defaults)
        then live through the change of leader.  KILL, TEARDOWN and MESSAGE get Mesos's answer."""
        if STREAM_ID not in request.headers:
            return redirect
        try:
            kind = json.loads(await request.read()).get("type")
        except (ValueError, AttributeError):
            return redirect
        if kind not in DROPPED_WHEN_DEPOSED:
            return redirect
        logger.info("Dropping a %s sent to this master after it stopped leading", kind)
        return web.Response(status=202)

    async def _subscribe(self, request: web.Request, call: Call) -> web.StreamResponse:
        if STREAM_ID in request.headers:
            return error_response(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
        if self.master.safe_mode:
            return error_response(503, "The master is in safe mode (ZooKeeper quorum lost); retry later")
        assert call.subscribe is not None
        denied = self.master.security.authorize_subscribe(request, call.subscribe.framework_info)
        if denied is not None:
            return denied
        connection = StreamConnection()
        try:
            framework = self.state.subscribe(
                call.subscribe.framework_info, value_of_id(call.framework_id), connection
            )
        except CallError as exc:
            # As Mesos: a refused subscription is a 200 stream with one ERROR event.
            logger.info("Refused subscription: %s", exc.message)
            connection.send({"type": "ERROR", "error": {"message": exc.message}})
            asyncio.get_running_loop().call_later(ERROR_STREAM_LINGER, connection.close)
            return await connection.serve(request)
        if call.subscribe.suppressed_roles:
            try:
                self.state.suppress(framework, list(call.subscribe.suppressed_roles))
            except CallError:
                pass
        try:
            return await connection.serve(request, {STREAM_ID: framework.stream_id or ""})
        finally:
            self.state.disconnect_framework(framework.id, connection)

    def _dispatch(self, framework, call: Call) -> None:
        state = self.state
        kind = call.type
        if kind == "TEARDOWN":
            state.teardown(framework)
        elif kind == "ACCEPT":
            accept = call.accept
            assert accept is not None
            operations: list[dict[str, Any]] = []
            for op in accept.operations:
                if op.type == "LAUNCH":
                    operations.append({"type": "LAUNCH", "launch": {"task_infos": op.launch.task_infos if op.launch else []}})
                elif op.type in CONVERSIONS:
                    operations.append({"type": op.type, op.type.lower(): getattr(op, op.type.lower()) or {}})
                else:
                    operations.append({"type": op.type, "launch_group": op.launch_group or {}})
            state.accept(
                framework,
                [o.value for o in accept.offer_ids],
                operations,
                accept.filters.refuse_seconds if accept.filters else None,
            )
        elif kind == "DECLINE":
            decline = call.decline
            assert decline is not None
            state.decline(framework, [o.value for o in decline.offer_ids], decline.filters.refuse_seconds if decline.filters else None)
        elif kind == "REVIVE":
            state.revive(framework, call.revive.all() if call.revive else None)
        elif kind == "SUPPRESS":
            state.suppress(framework, call.suppress.all() if call.suppress else None)
        elif kind == "KILL":
            kill = call.kill
            assert kill is not None
            state.kill(framework, kill.task_id.value, value_of_id(kill.agent_id), kill.kill_policy)
        elif kind == "SHUTDOWN":
            shutdown = call.shutdown
            assert shutdown is not None
            state.shutdown_executor(framework, shutdown.executor_id.value, shutdown.agent_id.value)
        elif kind == "ACKNOWLEDGE":
            ack = call.acknowledge
            assert ack is not None
            state.acknowledge(framework, ack.agent_id.value, ack.task_id.value, ack.uuid)
        elif kind == "RECONCILE":
            reconcile = call.reconcile
            assert reconcile is not None
            tasks = [
                {"task_id": {"value": t.task_id.value}, **({"agent_id": {"value": t.agent_id.value}} if t.agent_id else {})}
                for t in reconcile.tasks
            ]
            state.reconcile(framework, tasks)
        elif kind == "MESSAGE":
            message = call.message
            assert message is not None
            state.framework_message(framework, message.agent_id.value, message.executor_id.value, message.data)
        elif kind in ("ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS"):
            answer = call.accept_inverse_offers if kind == "ACCEPT_INVERSE_OFFERS" else call.decline_inverse_offers
            ids = [o.value for o in answer.inverse_offer_ids] if answer is not None else []
            refuse = answer.filters.refuse_seconds if answer is not None and answer.filters else None
            state.answer_inverse_offers(framework.id, ids, kind == "ACCEPT_INVERSE_OFFERS", refuse)
        # REQUEST: accepted, nothing to do (Mesos's allocator ignores requests).

    # ------------------------------------------------------------ agent protocol

    async def agent(self, request: web.Request) -> web.StreamResponse:
        redirect = self.master.redirect_if_not_leading(request)
        if redirect is not None:
            return redirect
        try:
            calls = agent_proto.decode_agent_calls(await request.read())
        except ProtocolError as exc:
            return error_response(400, str(exc))
        state = self.state
        call = calls[0]
        if call.type == "REGISTER":
            register = call.register
            assert register is not None
            try:
                total = Resources.from_json(register.resources, "register.resources")
            except ResourceError as exc:
                return error_response(400, str(exc))
            connection = StreamConnection()
            try:
                agent = state.register_agent(
                    register.agent_info,
                    total,
                    connection,
                    agent_id=value_of_id(register.agent_id),
                    tasks=register.tasks,
                    executors=register.executors,
                    frameworks=register.frameworks,
                    version=register.version,
                )
            except CallError as exc:
                return error_response(exc.status, exc.message)
            try:
                return await connection.serve(request, {agent_proto.STREAM_ID_HEADER: agent.stream_id or ""})
            finally:
                state.disconnect_agent(agent.id, connection)
        try:
            agent = state.agent_for_call(
                request.headers.get(agent_proto.AGENT_ID_HEADER), request.headers.get(agent_proto.STREAM_ID_HEADER)
            )
        except CallError as exc:
            return error_response(exc.status, exc.message)
        refused: list[tuple[str, CallError]] = []
        for call in calls:  # in order; one refused does not stop the rest
            try:
                self._agent_call(agent, call)
            except CallError as exc:
                refused.append((call.type, exc))
        if refused:
            return error_response(refused[0][1].status, "; ".join(f"{kind}: {exc.message}" for kind, exc in refused))
        return web.Response(status=202)

    def _agent_call(self, agent: Agent, call: agent_proto.AgentCall) -> None:
        state = self.state
        if call.type == "UPDATE":
            update = call.update
            assert update is not None
            state.status_update(
                agent,
                {"framework_id": {"value": update.framework_id.value}, "status": update.status, "latest_state": update.latest_state},
            )
        elif call.type == "MESSAGE":
            message = call.message
            assert message is not None
            state.agent_message(agent, message.framework_id.value, message.executor_id.value, message.data)
        elif call.type == "EXITED_EXECUTOR":
            exited = call.exited_executor
            assert exited is not None
            state.executor_exited(agent, exited.framework_id.value, exited.executor_id.value, exited.status)
        elif call.type == "PONG":
            state.agent_pong(agent)

    # ------------------------------------------------------------ operator API

    async def operator(self, request: web.Request) -> web.StreamResponse:
        redirect = self.master.redirect_if_not_leading(request)
        if redirect is not None:
            return redirect
        bad = check_json_request(request)
        if bad is not None:
            return bad
        return await operator.handle(self.master, request)

    # ------------------------------------------------------------ read-only endpoints

    async def state_endpoint(self, request: web.Request) -> web.Response:
        if self.master.state is None:  # a standby: say who leads
            return json_response(views.standby_state(self.master.id, self.master.leader_info(), self.master.public_flags()))
        return json_response(views.state(self.state, self.master.public_flags(), self.master.leader_info()))

    async def version(self, request: web.Request) -> web.Response:
        return json_response(version_info())

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metrics_snapshot(self, request: web.Request) -> web.Response:
        if self.master.state is None:
            return json_response({"master/elected": 0.0, "master/safe_mode": 0.0})
        return json_response(metrics.snapshot(self.master))

    async def roles(self, request: web.Request) -> web.Response:
        redirect = self.master.redirect_if_not_leading(request)
        if redirect is not None:
            return redirect
        return json_response(views.roles(self.state))

    async def agents(self, request: web.Request) -> web.Response:
        redirect = self.master.redirect_if_not_leading(request)
        return redirect or json_response(views.agents(self.state))

    async def frameworks(self, request: web.Request) -> web.Response:
        redirect = self.master.redirect_if_not_leading(request)
        return redirect or json_response(views.frameworks(self.state, request.query.get("framework_id")))

    async def tasks(self, request: web.Request) -> web.Response:
        redirect = self.master.redirect_if_not_leading(request)
        if redirect is not None:
            return redirect
        try:
            query = views.TaskQuery.parse(request.query)
        except ValueError as exc:
            return error_response(400, str(exc))
        return json_response(views.tasks(self.state, query))

    async def flags(self, request: web.Request) -> web.Response:
        return json_response({"flags": self.master.public_flags()})

    async def redirect(self, request: web.Request) -> web.Response:
        leader = self.master.leader_info()
        if leader is None:
            return error_response(503, "No leading master is elected")
        address = leader["address"]
        raise web.HTTPTemporaryRedirect(f"//{address['hostname']}:{address['port']}")


# Calls whose loss the protocol survives (see MasterAPI._deposed).
DROPPED_WHEN_DEPOSED = {"ACKNOWLEDGE", "ACKNOWLEDGE_OPERATION_STATUS", "RECONCILE", "ACCEPT", "DECLINE", "REVIVE",
                        "SUPPRESS", "ACCEPT_INVERSE_OFFERS", "DECLINE_INVERSE_OFFERS"}


def value_of_id(obj: Any) -> str | None:
    if obj is None:
        return None
    if hasattr(obj, "value"):
        return obj.value
    return value_of(obj)
