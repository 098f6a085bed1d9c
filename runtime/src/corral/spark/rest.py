"""HTTP endpoints of the dispatcher (besides the web page).

Spark's REST submission protocol (what `spark-submit --deploy-mode cluster` speaks):
    POST /v1/submissions/create, GET /v1/submissions/status/<id>,
    POST /v1/submissions/kill/<id>, POST /v1/submissions/killall, GET /v1/submissions/readyz
JSON API (the `corral spark` CLI):
    GET /api/v1/state, GET /api/v1/submissions, GET /api/v1/submissions/<id>,
    GET /api/v1/submissions/<id>/logs/<task>?stream=stdout|stderr&offset=N&length=M
Launchers (inside the Spark tasks):
    POST /internal/v1/tasks/<task id>, GET /internal/v1/submissions/<id>/master?attempt=N
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from aiohttp import web

from corral.http_stream import json_response
from corral.protocol.sandbox import place_of, sandbox_in
from corral.spark import model, protocol
from corral.spark.sparkconf import SparkConfError
from corral.spark.state import AttemptGone, SubmissionError, UnknownSubmission

if TYPE_CHECKING:
    from corral.spark.state import DispatcherOptions, DispatcherState
    from corral.spark.store import Store

logger = logging.getLogger(__name__)


class DispatcherShell(Protocol):
    """What the endpoints (and the web page) use of the dispatcher daemon."""

    @property
    def state(self) -> DispatcherState | None: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def options(self) -> DispatcherOptions: ...

    @property
    def flags(self) -> dict[str, Any]: ...

    @property
    def framework_id(self) -> str | None: ...

    @property
    def subscribed(self) -> bool: ...

    @property
    def suppressed(self) -> bool: ...

    @property
    def master_address(self) -> str | None: ...

    @property
    def started_at(self) -> float: ...

    async def after_change(self) -> None:
        """Send kills, persist, and suppress or revive offers after the queue changed."""
        ...

    async def fetch_json(self, url: str) -> Any: ...


def add_routes(app: web.Application, dispatcher: DispatcherShell) -> None:
    d = dispatcher

    # -- Spark's REST protocol ----------------------------------------------------------

    async def create(request: web.Request) -> web.Response:
        assert d.state is not None
        body = await request.read()
        try:
            submission = protocol.decode_create(body)
        except protocol.ProtocolError as exc:
            return json_response(protocol.error_response(str(exc)), status=400)
        try:
            sub = d.state.submit(submission)
        except SubmissionError as exc:
            return json_response(protocol.create_response(None, False, str(exc), submission.unknown_fields), status=400)
        await d.after_change()
        message = "Driver successfully submitted as %s" % sub.id
        return json_response(protocol.create_response(sub.id, True, message, submission.unknown_fields))

    async def status(request: web.Request) -> web.Response:
        assert d.state is not None
        sid = request.match_info["id"]
        try:
            sub = d.state.get(sid)
        except UnknownSubmission as exc:
            return json_response(protocol.status_response(sid, False, "NOT_FOUND", str(exc)), status=404)
        driver = sub.task(model.DRIVER)
        message = sub.reason or None
        worker_host_port = f"{driver.host}" if driver is not None else None
        return json_response(protocol.status_response(sub.id, True, sub.state, message,
                                                      worker_id=driver.agent_id if driver else None,
                                                      worker_host_port=worker_host_port))

    async def kill(request: web.Request) -> web.Response:
        assert d.state is not None
        sid = request.match_info["id"]
        try:
            success, message = d.state.kill(sid)
        except UnknownSubmission as exc:
            return json_response(protocol.kill_response(sid, False, str(exc)), status=404)
        await d.after_change()
        return json_response(protocol.kill_response(sid, success, message))

    async def kill_all(request: web.Request) -> web.Response:
        assert d.state is not None
        count = d.state.kill_all()
        await d.after_change()
        return json_response(protocol.kill_all_response(True, f"Killing {count} driver(s)"))

    async def readyz(request: web.Request) -> web.Response:
        ready = d.subscribed
        message = f"subscribed as framework {d.framework_id}" if ready else "not subscribed to a master yet"
        return json_response(protocol.readyz_response(ready, message), status=200 if ready else 503)

    async def rest_error(request: web.Request) -> web.Response:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            message, code = "Missing protocol version.", 400
        elif parts[0] != protocol.PROTOCOL_VERSION:
            return json_response(protocol.error_response(
                f"Unknown protocol version '{parts[0]}'. Please submit requests through "
                f"http://[host]:[port]/{protocol.PROTOCOL_VERSION}/submissions/...", protocol.PROTOCOL_VERSION), status=468)
        elif len(parts) == 1:
            message, code = "Missing the /submissions prefix.", 400
        elif parts[1] == "submissions" and len(parts) >= 3 and parts[2] in ("status", "kill") and len(parts) == 3:
            message, code = "Submission ID is missing in the request.", 400
        else:
            message, code = (f"Unknown request {request.method} {request.path}: use POST /create, GET /status/<id>, "
                             "POST /kill/<id>, POST /killall or GET /readyz under /v1/submissions"), 400
        return json_response(protocol.error_response(message + f" Please submit requests through "
                                                     f"http://[host]:[port]/{protocol.PROTOCOL_VERSION}/submissions/..."),
                             status=code)

    # -- the CLI's API -------------------------------------------------------------------

    async def api_state(request: web.Request) -> web.Response:
        assert d.state is not None
        counts: dict[str, int] = {}
        for sub in d.state.submissions.values():
            counts[sub.state] = counts.get(sub.state, 0) + 1
        return json_response({
            "framework_id": d.framework_id, "subscribed": d.subscribed, "master": d.master_address,
            "store": d.store.describe() if d.store else None, "roles": list(d.options.roles),
            "default_mode": d.options.default_mode, "counts": counts, "spark_version": protocol.server_spark_version(),
            "started_at": d.started_at, "suppressed": d.suppressed,
        })

    async def api_list(request: web.Request) -> web.Response:
        assert d.state is not None
        return json_response([summary(d, s) for s in d.state.submissions.values()])

    async def api_get(request: web.Request) -> web.Response:
        assert d.state is not None
        try:
            sub = d.state.get(request.match_info["id"])
        except UnknownSubmission as exc:
            return json_response({"error": str(exc)}, status=404)
        out = sub.to_json()
        out.update(summary(d, sub))
        return json_response(out)

    async def api_logs(request: web.Request) -> web.Response:
        assert d.state is not None
        try:
            sub = d.state.get(request.match_info["id"])
        except UnknownSubmission as exc:
            return web.Response(status=404, text=str(exc))
        name = request.match_info["task"]
        task = find_task(sub, name)
        if task is None:
            names = ", ".join(sorted({_short(t) for t in sub.tasks.values()})) or "none"
            return web.Response(status=404, text=f"{sub.id} has no task '{name}' (its tasks: {names})")
        stream = request.query.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            return web.Response(status=400, text=f"stream must be stdout or stderr (got '{stream}')")
        sandbox = task.info.get("sandbox")
        agent = task.agent_address
        if not sandbox:
            try:
                agent, sandbox = await _locate_sandbox(d, task.task_id)
            except LookupError as exc:  # the master or agent may not know it (any more)
                return web.Response(status=404, text=f"the sandbox of {task.task_id} cannot be found: {exc}")
        query = {"path": f"{sandbox}/{stream}", "offset": request.query.get("offset", "0")}
        if "length" in request.query:
            query["length"] = request.query["length"]
        data = await d.fetch_json(f"http://{agent}/files/read?{urlencode(query)}")
        if data is None:
            return web.Response(status=502, text=f"the agent at {agent} did not return {sandbox}/{stream}")
        return json_response({"task_id": task.task_id, "agent": agent, "path": query["path"], **data})

    # -- launchers -------------------------------------------------------------------

    async def task_report(request: web.Request) -> web.Response:
        assert d.state is not None
        try:
            info = json.loads(await request.read() or b"{}")
            if not isinstance(info, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return web.Response(status=400, text=f"bad report: {exc}")
        try:
            d.state.task_report(request.match_info["task"], info)
        except UnknownSubmission as exc:
            return web.Response(status=404, text=str(exc))
        except AttemptGone as exc:
            return web.Response(status=410, text=str(exc))
        await d.after_change()
        return json_response({"ok": True})

    async def master_of(request: web.Request) -> web.Response:
        assert d.state is not None
        try:
            attempt = int(request.query.get("attempt", ""))
        except ValueError:
            return web.Response(status=400, text="attempt must be an integer")
        try:
            master = d.state.master_of(request.match_info["id"], attempt)
        except UnknownSubmission as exc:
            return web.Response(status=404, text=str(exc))
        except AttemptGone as exc:
            return web.Response(status=410, text=str(exc))
        return json_response(master or {})

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200, text="ok")

    r = app.router
    r.add_post("/v1/submissions/create", create)
    r.add_get("/v1/submissions/status/{id}", status)
    r.add_post("/v1/submissions/kill/{id}", kill)
    r.add_post("/v1/submissions/killall", kill_all)
    r.add_get("/v1/submissions/readyz", readyz)
    r.add_route("*", "/v{version:[0-9]+}", rest_error)
    r.add_route("*", "/v{version:[0-9]+}/{tail:.*}", rest_error)
    r.add_get("/api/v1/state", api_state)
    r.add_get("/api/v1/submissions", api_list)
    r.add_get("/api/v1/submissions/{id}", api_get)
    r.add_get("/api/v1/submissions/{id}/logs/{task}", api_logs)
    r.add_post("/internal/v1/tasks/{task}", task_report)
    r.add_get("/internal/v1/submissions/{id}/master", master_of)
    r.add_get("/health", health)


async def _locate_sandbox(d: DispatcherShell, task_id: str) -> tuple[str, str]:
    """(agent host:port, sandbox directory) of a task whose launcher has not reported its sandbox."""
    master = d.master_address or d.flags["master"]
    master_state = await d.fetch_json(f"http://{master}/state")
    if master_state is None:
        raise LookupError(f"the master at {master} did not return its /state")
    place = place_of(master_state, task_id)
    agent_state = await d.fetch_json(f"http://{place.agent_address}/state")
    if agent_state is None:
        raise LookupError(f"the agent at {place.agent_address} did not return its /state")
    return place.agent_address, sandbox_in(agent_state, place, task_id)


def _short(task: model.TaskRecord) -> str:
    """`driver`, `master`, `worker-3` (of the task's attempt: `2.driver` for an older attempt)."""
    parsed = model.parse_task_id(task.task_id)
    return parsed[2] if parsed else task.task_id


def find_task(sub: model.Submission, name: str) -> model.TaskRecord | None:
    """A task by full id, by short name in the current attempt, or `<attempt>.<name>`."""
    if name in sub.tasks:
        return sub.tasks[name]
    for task in sub.tasks.values():
        parsed = model.parse_task_id(task.task_id)
        if parsed and ((parsed[1] == sub.attempt and parsed[2] == name) or f"{parsed[1]}.{parsed[2]}" == name):
            return task
    return None


def summary(d: DispatcherShell, sub: model.Submission) -> dict[str, Any]:
    assert d.state is not None
    try:
        spec = d.state.spec(sub)
        mode, role, cores_max = spec.mode, spec.role, spec.cores_max
    except SparkConfError:
        mode = role = "?"
        cores_max = None
    live = sub.live_tasks()
    master = sub.task(model.MASTER)
    driver = sub.task(model.DRIVER)
    now = time.time()
    return {
        "id": sub.id,
        "name": sub.name,
        "state": sub.state,
        "reason": sub.reason,
        "mode": mode,
        "role": role,
        "cores_max": cores_max,
        "submitted_at": sub.submitted_at,
        "started_at": sub.started_at,
        "finished_at": sub.finished_at,
        "duration": ((sub.finished_at or now) - sub.started_at) if sub.started_at else None,
        "attempt": sub.attempt,
        "retries": sub.retries,
        "next_retry_at": sub.next_retry_at,
        "app_id": sub.app_id,
        "supervise": sub.request.spark_properties.get("spark.driver.supervise", "false"),
        "resource": sub.request.app_resource,
        "main_class": sub.request.main_class,
        "cpus": round(sum(t.cpus for t in live), 3),
        "mem": round(sum(t.mem for t in live), 1),
        "cores": sum(t.cores for t in live if t.kind == model.WORKER),
        "workers": len([t for t in live if t.kind == model.WORKER]),
        "wanted_workers": sub.wanted_workers,
        "spark_master_url": master.info.get("spark_url") if master and not master.terminal else None,
        "spark_master_ui": master.info.get("webui_url") if master and not master.terminal else None,
        "driver_ui": driver.info.get("ui_url") if driver and not driver.terminal else None,
        "driver_host": driver.host if driver else None,
        "tasks": [
            {"task_id": t.task_id, "name": _short(t), "kind": t.kind, "attempt": t.attempt, "agent_id": t.agent_id,
             "host": t.host, "cpus": t.cpus, "mem": t.mem, "cores": t.cores, "state": t.state, "message": t.message}
            for t in sub.tasks.values()
        ],
    }
