"""The v1 operator API (`POST /api/v1`): Mesos's calls and response shapes.

Calls are declared in one table, `CALLS`: each names its handler, whether it
only reads, and the ACL action that guards it (see `security.master`).  The
allocator's and the agents' calls live in their own modules and `register()`
themselves (master/quota_calls.py, drain_calls.py, maintenance_calls.py,
reservation_calls.py, why_calls.py); calls of features still missing (the v1
file API) answer 400 naming the feature.

Answers: `{"type": CALL, "<call>": {...}}` with 200 for reads; 200 with an
empty body for writes.  Bad input is a 400 naming the field; refused calls
are 401/403 with the reason.  Reads are filtered by the view_* ACLs.
SUBSCRIBE streams RecordIO events (SUBSCRIBED, TASK_ADDED, TASK_UPDATED,
AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED/UPDATED/REMOVED) and a HEARTBEAT
every `HEARTBEAT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import msgspec
from aiohttp import web

from corral.http_stream import StreamConnection, error_response, json_response
from corral.ids import value_of, wrap
from corral.master import metrics, render, viewcache, views
from corral.master.registry import RegistryError
from corral.master.state import CallError
from corral.protocol.messages import ID, ProtocolError, decode_struct
from corral.resources import Resources
from corral.security import views as view_filters
from corral.security.middleware import principal_of

if TYPE_CHECKING:
    from corral.master.shell import MasterShell as Master
    from corral.master.state import MasterState

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


# ------------------------------------------------------------------ call bodies


class WeightInfo(msgspec.Struct):
    role: str
    weight: float


class UpdateWeights(msgspec.Struct):
    weight_infos: list[WeightInfo]


class AgentIdBody(msgspec.Struct):
    agent_id: ID


class Teardown(msgspec.Struct):
    framework_id: ID


class SetLoggingLevel(msgspec.Struct):
    level: int
    duration: dict[str, Any] | None = None


class OperatorCall(msgspec.Struct, omit_defaults=True):
    type: str
    update_weights: UpdateWeights | None = None
    mark_agent_gone: AgentIdBody | None = None
    teardown: Teardown | None = None
    set_logging_level: SetLoggingLevel | None = None
    # Bodies the allocator's and the agents' calls parse themselves (master/quota_calls.py, drain_calls.py).
    update_quota: dict[str, Any] | None = None
    set_quota: dict[str, Any] | None = None
    remove_quota: dict[str, Any] | None = None
    drain_agent: dict[str, Any] | None = None
    deactivate_agent: dict[str, Any] | None = None
    reactivate_agent: dict[str, Any] | None = None
    get_why_not_offered: dict[str, Any] | None = None  # a Corral extension (master/why_calls.py)
    reserve_resources: dict[str, Any] | None = None
    update_maintenance_schedule: dict[str, Any] | None = None
    start_maintenance: dict[str, Any] | None = None
    stop_maintenance: dict[str, Any] | None = None
    unreserve_resources: dict[str, Any] | None = None
    create_volumes: dict[str, Any] | None = None
    destroy_volumes: dict[str, Any] | None = None


# ------------------------------------------------------------------ the call table

Handler = Callable[["Master", web.Request, OperatorCall], "dict[str, Any] | None"]


@dataclass(frozen=True)
class CallSpec:
    handler: Handler | None
    readonly: bool
    needs_state: bool = True
    missing: str = ""  # why an unimplemented call is refused


CALLS: dict[str, CallSpec] = {}


def register(name: str, handler: Handler, readonly: bool, needs_state: bool = True) -> None:
    """Add (or replace) an operator call; the ACL action comes from `security.master.OPERATOR_ACTIONS`."""
    CALLS[name] = CallSpec(handler, readonly, needs_state)


def require(value: Any, field: str) -> Any:
    if value is None:
        raise ProtocolError(f"Expecting '{field}' to be present")
    return value


def agent_id_of(body: Any, call: str) -> str:
    """The `agent_id.value` of a call's JSON body; a ProtocolError names what is missing."""
    if not isinstance(body, dict):
        raise ProtocolError(f"{call}: expected an object")
    agent_id = body.get("agent_id")
    value = agent_id.get("value") if isinstance(agent_id, dict) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"Expecting '{call}.agent_id.value' to be a non-empty string")
    return value


def authorize(master: "Master", request: web.Request, action: str, obj: str | None, what: str) -> None:
    """Raise Denied (a 403 naming the principal and `what`) unless the ACLs allow `action` on `obj`."""
    denied = master.security.check(request, action, obj, what)
    if denied is not None:
        raise Denied(denied)


def refusal(exc: Exception) -> web.Response:
    """The answer to a call that raised one of REFUSALS."""
    if isinstance(exc, Denied):
        return exc.response
    if isinstance(exc, CallError):
        return error_response(exc.status, exc.message)
    return error_response(400, str(exc))


def leading_state(master: "Master") -> "MasterState":
    if master.state is None:
        raise CallError(503, "This master is not leading")
    return master.state


# -- reads --------------------------------------------------------------------------


def _get_health(master, request, call):
    return {"healthy": True}


def _get_version(master, request, call):
    from corral.protocol.master_info import version_info

    return {"version_info": version_info()}


def _get_flags(master, request, call):
    return {"flags": [{"name": k, "value": v} for k, v in sorted(master.public_flags().items())]}


def _get_metrics(master, request, call):
    snapshot = metrics.snapshot(master)
    return {"metrics": [{"name": k, "value": v} for k, v in sorted(snapshot.items())]}


def _get_logging_level(master, request, call):
    level = logging.getLogger().getEffectiveLevel()
    # Mesos reports glog verbosity; Corral maps DEBUG to 1 and everything else to 0.
    return {"level": 1 if level <= logging.DEBUG else 0}


def _viewer(master: "Master", request: web.Request) -> view_filters.Viewer | None:
    viewer = master.security.viewer(request)
    return viewer if viewer.filters else None


def _get_state(master, request, call):
    viewer = _viewer(master, request)
    if viewer is None:
        return get_state(leading_state(master), raw=True)
    return view_filters.filter_get_state(get_state(leading_state(master)), viewer)


def _get_agents(master, request, call):
    return get_agents(leading_state(master), raw=True)


def _get_frameworks(master, request, call):
    doc = get_frameworks(leading_state(master))
    viewer = _viewer(master, request)
    return view_filters.filter_get_frameworks(doc, viewer) if viewer else doc


def _get_tasks(master, request, call):
    state = leading_state(master)
    viewer = _viewer(master, request)
    if viewer is None:
        return get_tasks(state, raw=True)
    return view_filters.filter_get_tasks(get_tasks(state), viewer, _framework_users(state))


def _get_executors(master, request, call):
    state = leading_state(master)
    doc = get_executors(state)
    viewer = _viewer(master, request)
    if viewer:
        doc = view_filters.filter_get_executors(doc, viewer, _framework_users(state))
    return doc


def _get_roles(master, request, call):
    doc = views.get_roles(leading_state(master))
    viewer = _viewer(master, request)
    return view_filters.filter_get_roles(doc, viewer) if viewer else doc


def _get_weights(master, request, call):
    doc = {"weight_infos": [{"role": r, "weight": w} for r, w in sorted(leading_state(master).allocator.weights().items())]}
    viewer = _viewer(master, request)
    return view_filters.filter_weights(doc, viewer) if viewer else doc


def _get_master(master, request, call):
    state = leading_state(master)
    return {"master_info": state.master_info, "start_time": state.start_time, "elected_time": state.elected_time}


def _get_operations(master, request, call):
    return {"operations": []}  # no operations with feedback yet (RESERVE & co. come with the allocator work)


# -- writes ---------------------------------------------------------------------------


def _update_weights(master, request, call):
    body = require(call.update_weights, "update_weights")
    from corral.config import as_weights

    try:
        weights = as_weights({w.role: w.weight for w in body.weight_infos})
    except ValueError as exc:
        raise ProtocolError(f"update_weights: {exc}") from None
    for role in weights:
        authorize(master, request, "update_weights", role, "update the weight of role '{obj}'")
    leading_state(master)
    master.update_weights(weights)
    return None


def _mark_agent_gone(master, request, call):
    body = require(call.mark_agent_gone, "mark_agent_gone")
    if not body.agent_id.value:
        raise ProtocolError("mark_agent_gone.agent_id.value must not be empty")
    authorize(master, request, "mark_agents_gone", None, "mark agents gone")
    leading_state(master).mark_agent_gone(body.agent_id.value)
    return None


def _teardown(master, request, call):
    body = require(call.teardown, "teardown")
    teardown_framework(master, request, body.framework_id.value)
    return None


def teardown_framework(master: "Master", request: web.Request, framework_id: str) -> None:
    state = leading_state(master)
    framework = state.frameworks.get(framework_id)
    if framework is None:
        raise CallError(404 if framework_id else 400, f"Framework {framework_id!r} is not registered")
    owner = framework.info.get("principal")
    authorize(master, request, "teardown_frameworks", owner if isinstance(owner, str) and owner else None,
              "tear down frameworks of principal '{obj}'")
    logger.info("Operator %s tears down framework %s (%s)", principal_of(request) or "(anonymous)", framework_id, framework.name)
    state.remove_framework(framework_id, f"torn down by operator {principal_of(request) or ''}".strip())


def _set_logging_level(master, request, call):
    body = require(call.set_logging_level, "set_logging_level")
    authorize(master, request, "set_log_level", None, "set the logging level")
    if body.level < 0:
        raise ProtocolError("set_logging_level.level must be >= 0")
    logging.getLogger().setLevel(logging.DEBUG if body.level >= 1 else logging.INFO)
    return None


class Denied(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


# What a call's handler raises to refuse it (see `refusal`).
REFUSALS = (Denied, CallError, ProtocolError)


for _name, _handler, _readonly, _needs_state in [
    ("GET_HEALTH", _get_health, True, False),
    ("GET_VERSION", _get_version, True, False),
    ("GET_FLAGS", _get_flags, True, False),
    ("GET_METRICS", _get_metrics, True, False),
    ("GET_LOGGING_LEVEL", _get_logging_level, True, False),
    ("SET_LOGGING_LEVEL", _set_logging_level, False, False),
    ("GET_STATE", _get_state, True, True),
    ("GET_AGENTS", _get_agents, True, True),
    ("GET_FRAMEWORKS", _get_frameworks, True, True),
    ("GET_TASKS", _get_tasks, True, True),
    ("GET_EXECUTORS", _get_executors, True, True),
    ("GET_ROLES", _get_roles, True, True),
    ("GET_WEIGHTS", _get_weights, True, True),
    ("GET_MASTER", _get_master, True, True),
    ("GET_OPERATIONS", _get_operations, True, True),
    ("UPDATE_WEIGHTS", _update_weights, False, True),
    ("MARK_AGENT_GONE", _mark_agent_gone, False, True),
    ("TEARDOWN", _teardown, False, True),
]:
    register(_name, _handler, _readonly, _needs_state)

# Known Mesos calls that belong to features still to come: refused with a reason, not "unknown".
for _name, _why in [
    ("GET_FILE", "the v1 file API (use /files or the web UI)"), ("LIST_FILES", "the v1 file API (use /files or the web UI)"),
    ("READ_FILE", "the v1 file API (use /files or the web UI)"),
]:
    CALLS.setdefault(_name, CallSpec(None, _name.startswith("GET_") or _name in ("LIST_FILES", "READ_FILE"), True, _why))


# ------------------------------------------------------------------ the endpoint


async def handle(master: "Master", request: web.Request) -> web.StreamResponse:
    try:
        call = decode_struct(await request.read(), OperatorCall, "operator call")
    except ProtocolError as exc:
        return error_response(400, str(exc))
    kind = call.type
    spec = CALLS.get(kind)
    if spec is None:
        return error_response(400, f"Unknown operator call type '{kind[:64]}'")
    if spec.handler is None:
        return error_response(400, f"{kind} is not supported by this master yet ({spec.missing})")
    from corral.security.master import OPERATOR_ACTIONS

    action = OPERATOR_ACTIONS.get(kind)
    if action in ("view_flags", "get_endpoints"):
        obj = "/metrics/snapshot" if action == "get_endpoints" else None
        denied = master.security.check(request, action, obj, "view the flags" if action == "view_flags" else "GET '{obj}'")
        if denied is not None:
            return denied
    if kind == "SUBSCRIBE":
        return await subscribe(master, request)
    try:
        body = spec.handler(master, request, call)
    except REFUSALS as exc:
        return refusal(exc)
    if not spec.readonly:
        uncommitted = await committed(master)
        if uncommitted is not None:
            return uncommitted
    if body is None:
        return web.Response(status=200)
    return json_response({"type": kind, kind.lower(): body})


register("SUBSCRIBE", lambda master, request, call: None, True)


async def committed(master: "Master") -> web.Response | None:
    """None once the registry holds what a call changed; else a 503 naming what failed (the change may
    not survive a failover)."""
    state = getattr(master, "state", None)
    if state is None:
        return None
    try:
        await state.registry.flush()
    except RegistryError as exc:
        return error_response(503, f"The change was made but not stored in the registry: {exc}")
    return None


def add_routes(app: web.Application, master: "Master") -> None:
    """Mesos's legacy `/teardown` (form or query `frameworkId=`), in the read-write realm."""

    async def teardown(request: web.Request) -> web.Response:
        redirect = master.redirect_if_not_leading(request)
        if redirect is not None:
            return redirect
        form = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
        framework_id = str(form.get("frameworkId") or request.query.get("frameworkId") or "")
        if not framework_id:
            return error_response(400, "Missing 'frameworkId'")
        try:
            teardown_framework(master, request, framework_id)
        except REFUSALS as exc:
            return refusal(exc)
        return web.Response(status=200)

    app.router.add_post("/teardown", teardown)
    app.router.add_post("/master/teardown", teardown)


# ------------------------------------------------------------------ SUBSCRIBE


class FilteredConnection:
    """An operator's event stream that leaves out what its principal may not view."""

    def __init__(self, inner: StreamConnection, master: "Master", viewer: view_filters.Viewer | None) -> None:
        self.inner = inner
        self.master = master
        self.viewer = viewer

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def send(self, event: dict[str, Any]) -> None:
        if self.viewer is None or self._visible(event):
            self.inner.send(event)

    def close(self) -> None:
        self.inner.close()

    def _framework_user(self, framework_id: str | None) -> str | None:
        state = self.master.state
        fw = state.frameworks.get(framework_id or "") if state is not None else None
        return fw.info.get("user") if fw is not None else None

    def _visible(self, event: dict[str, Any]) -> bool:
        assert self.viewer is not None
        kind = event.get("type")
        if kind == "TASK_ADDED":
            task = event["task_added"]["task"]
            return self.viewer.may("view_tasks", self._framework_user(value_of(task.get("framework_id"))))
        if kind == "TASK_UPDATED":
            return self.viewer.may("view_tasks", self._framework_user(value_of(event["task_updated"].get("framework_id"))))
        if kind in ("FRAMEWORK_ADDED", "FRAMEWORK_UPDATED"):
            info = event[kind.lower()]["framework"].get("framework_info") or {}
            return self.viewer.may("view_frameworks", info.get("user"))
        if kind == "FRAMEWORK_REMOVED":
            return self.viewer.may("view_frameworks", (event["framework_removed"].get("framework_info") or {}).get("user"))
        return True


async def subscribe(master: "Master", request: web.Request) -> web.StreamResponse:
    state = leading_state(master)
    viewer = _viewer(master, request)
    stream = StreamConnection()
    connection = FilteredConnection(stream, master, viewer)
    doc = get_state(state, raw=viewer is None)
    if viewer is not None:
        doc = view_filters.filter_get_state(doc, viewer)
    stream.send({"type": "SUBSCRIBED", "subscribed": {"get_state": doc, "heartbeat_interval_seconds": HEARTBEAT_SECONDS}})
    stream.send({"type": "HEARTBEAT"})
    state.subscribe_operator(connection)

    async def heartbeats() -> None:
        while not stream.closed:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            stream.send({"type": "HEARTBEAT"})

    beat = asyncio.ensure_future(heartbeats())
    try:
        return await stream.serve(request)
    finally:
        beat.cancel()
        state.unsubscribe_operator(connection)


# ------------------------------------------------------------------ response builders


def _framework_users(state: "MasterState") -> dict[str, str | None]:
    users = {fid: fw.info.get("user") for fid, fw in state.frameworks.items()}
    for fw in state.completed_frameworks:
        users.setdefault(fw.id, fw.info.get("user"))
    return users


def get_frameworks(state: "MasterState") -> dict[str, Any]:
    """GET_FRAMEWORKS with what Mesos also reports: offers, allocated and offered resources, times."""
    cache = viewcache.cache_for(state)
    cache.sweep(state)

    def summary(fw: Any) -> dict[str, Any]:
        offers = []
        for offer_id in fw.offers:
            offer = state.offers.get(offer_id)
            if offer is not None and offer.agent_id in state.agents and offer.framework_id in state.frameworks:
                offers.append(cache.offer_json(offer, state.agents[offer.agent_id], state.frameworks[offer.framework_id]))
        offered = cache.offered(fw, state.offers)
        out = render.framework_summary(fw)
        out.update(
            {
                "offers": offers,
                "inverse_offers": [],
                "allocated_resources": cache.resources_json(cache.framework_allocated(fw)),
                "offered_resources": cache.resources_json(offered) if offers else [],
            }
        )
        if fw.reregistered_time is not None:
            out["reregistered_time"] = render.time_json(fw.reregistered_time)
        if fw.unregistered_time:
            out["unregistered_time"] = render.time_json(fw.unregistered_time)
        return out

    return {
        "frameworks": [summary(f) for f in state.frameworks.values()],
        "completed_frameworks": [summary(f) for f in state.completed_frameworks],
    }


AGENT_CAPABILITIES = [{"type": c} for c in render.AGENT_CAPABILITIES]


def get_agents(state: "MasterState", raw: bool = False) -> dict[str, Any]:
    """GET_AGENTS; `raw`: each agent pre-encoded (`msgspec.Raw`), for answers that are not filtered."""
    cache = viewcache.cache_for(state)
    cache.sweep(state)

    def entry(agent: Any, used: Resources) -> dict[str, Any]:
        offered = Resources()
        for offer_id in agent.offers:
            offer = state.offers.get(offer_id)
            if offer is not None:
                offered = offered + offer.resources
        out = render.agent_summary(agent, cache.resources_json(agent.total))
        out.update(
            {
                "deactivated": not agent.active,
                **({"drain_info": agent.drain} if agent.drain else {}),
                "allocated_resources": cache.resources_json(used),
                "offered_resources": cache.resources_json(offered) if agent.offers else [],
                "capabilities": AGENT_CAPABILITIES,
                "resource_providers": [],
            }
        )
        if agent.reregistered_time is not None:
            out["reregistered_time"] = render.time_json(agent.reregistered_time)
        return out

    agents: list[Any] = [cache.agent_entry("operator", agent, lambda used, agent=agent: entry(agent, used))
                         for agent in state.agents.values()]
    if raw:
        agents = [cache.agent_raw(agent, e) for agent, e in zip(state.agents.values(), agents)]
    return {"agents": agents, "recovered_agents": list(state.recovered_agents.values())}


def get_executors(state: "MasterState") -> dict[str, Any]:
    return {
        "executors": [
            {"agent_id": wrap(agent_id), "executor_info": e}
            for fw in state.frameworks.values()
            for agent_id, by_id in fw.executors.items()
            for e in by_id.values()
        ]
    }


def get_tasks(state: "MasterState", raw: bool = False) -> dict[str, Any]:
    """GET_TASKS; as in Mesos, completed tasks include those of completed frameworks.

    `raw`: tasks as pre-encoded JSON (`msgspec.Raw`), for answers that are not filtered.
    """
    cache = viewcache.cache_for(state)
    cache.sweep(state)
    one = cache.task_raw if raw else cache.task_json
    pending, running, completed, unreachable = [], [], [], []
    for fw in list(state.frameworks.values()) + list(state.completed_frameworks):
        for task in fw.tasks.values():
            j = one(task)
            if task.state == "TASK_UNREACHABLE":
                unreachable.append(j)
            elif task.terminal:
                completed.append(j)
            elif task.state == "TASK_STAGING":
                pending.append(j)
            else:
                running.append(j)
        completed.extend(one(t) for t in fw.completed_tasks)
    return {"pending_tasks": pending, "tasks": running, "unreachable_tasks": unreachable, "completed_tasks": completed}


def get_state(state: "MasterState", raw: bool = False) -> dict[str, Any]:
    return {
        "get_tasks": get_tasks(state, raw),
        "get_executors": get_executors(state),
        "get_frameworks": get_frameworks(state),
        "get_agents": get_agents(state, raw),
    }
