"""The operator's maintenance calls (master/maintenance.py) and Mesos's legacy endpoints for them:
GET/POST `/master/maintenance/schedule`, GET `/master/maintenance/status`, POST `/master/machine/down`
and `/master/machine/up` (a JSON list of machine ids)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from corral.http_stream import error_response, json_response
from corral.master.maintenance import Machine, parse_machines, parse_schedule
from corral.master.operator import REFUSALS, OperatorCall, authorize, committed, leading_state, refusal, register, require
from corral.protocol.messages import ProtocolError

if TYPE_CHECKING:
    from corral.master.shell import MasterShell as Master


def _parsed(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def _update_schedule(master, request, call: OperatorCall):
    body = require(call.update_maintenance_schedule, "update_maintenance_schedule")
    windows = _parsed(lambda: parse_schedule(body.get("schedule") if isinstance(body, dict) else None))
    authorize(master, request, "update_maintenance_schedules", None, "update the maintenance schedule")
    leading_state(master).update_maintenance_schedule(windows)
    return None


def _machines(raw: Any, call: str) -> list[Machine]:
    return _parsed(lambda: parse_machines(raw.get("machines") if isinstance(raw, dict) else None, f"{call}.machines"))


def _start(master, request, call: OperatorCall):
    machines = _machines(require(call.start_maintenance, "start_maintenance"), "start_maintenance")
    authorize(master, request, "start_maintenances", None, "start maintenance")
    leading_state(master).start_maintenance(machines)
    return None


def _stop(master, request, call: OperatorCall):
    machines = _machines(require(call.stop_maintenance, "stop_maintenance"), "stop_maintenance")
    authorize(master, request, "stop_maintenances", None, "stop maintenance")
    leading_state(master).stop_maintenance(machines)
    return None


register("UPDATE_MAINTENANCE_SCHEDULE", _update_schedule, readonly=False)
register("START_MAINTENANCE", _start, readonly=False)
register("STOP_MAINTENANCE", _stop, readonly=False)
register("GET_MAINTENANCE_SCHEDULE", lambda m, r, c: {"schedule": leading_state(m).maintenance_schedule_json()}, readonly=True)
register("GET_MAINTENANCE_STATUS", lambda m, r, c: {"status": leading_state(m).maintenance_status_json()}, readonly=True)


def add_routes(app: web.Application, master: "Master") -> None:
    def endpoint(method: str, handler: Callable[[Any, Any], dict[str, Any] | None]):
        async def serve(request: web.Request) -> web.Response:
            redirect = master.redirect_if_not_leading(request)
            if redirect is not None:
                return redirect
            body: Any = None
            if method == "POST":
                try:
                    body = json.loads(await request.read() or b"null")
                except ValueError as exc:
                    return error_response(400, f"Failed to parse the request body as JSON: {exc}")
            try:
                answer = handler(request, body)
            except REFUSALS as exc:
                return refusal(exc)
            uncommitted = await committed(master) if method == "POST" else None
            if uncommitted is not None:
                return uncommitted
            return json_response(answer) if answer is not None else web.Response(status=200)
        return serve

    def post_schedule(request, body):
        return _update_schedule(master, request, OperatorCall("UPDATE_MAINTENANCE_SCHEDULE", update_maintenance_schedule={"schedule": body}))

    def machines_call(kind: str):
        handler = _start if kind == "START_MAINTENANCE" else _stop
        return lambda request, body: handler(master, request, OperatorCall(kind, **{kind.lower(): {"machines": body}}))

    for prefix in ("", "/master"):
        app.router.add_get(f"{prefix}/maintenance/schedule", endpoint("GET", lambda r, b: leading_state(master).maintenance_schedule_json()))
        app.router.add_post(f"{prefix}/maintenance/schedule", endpoint("POST", post_schedule))
        app.router.add_get(f"{prefix}/maintenance/status", endpoint("GET", lambda r, b: leading_state(master).maintenance_status_json()))
        app.router.add_post(f"{prefix}/machine/down", endpoint("POST", machines_call("START_MAINTENANCE")))
        app.router.add_post(f"{prefix}/machine/up", endpoint("POST", machines_call("STOP_MAINTENANCE")))
