"""What the master protects, and how.

Realms (see `middleware.Realm`): the scheduler API is the framework realm
(`--authenticate_frameworks`), the agent protocol the agent realm
(`--authenticate_agents`), the operator API (`/api/v1`) and other writes the
read-write realm, GET endpoints (`/state`, `/metrics`, the web UI) the
read-only realm; `/health`, `/version` and `/redirect` are open.

Authorization (ACLs, `--acls`):
- SUBSCRIBE: the authenticated principal must be the framework's
  `principal` (filled in when the framework left it out);
  `register_frameworks` for each of its roles.
- ACCEPT: `run_tasks` for each task's user; unauthorized tasks end in
  TASK_ERROR / REASON_TASK_UNAUTHORIZED, the others launch.
- Operator calls: see `OPERATOR_ACTIONS`; reads are filtered by view_*.
- GET endpoints: `/flags` needs view_flags, `/metrics*` get_endpoints;
  `/state`, `/master/frameworks`, `/master/tasks` and `/roles` are filtered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from aiohttp import web

from corral.master import reservations
from corral.master.render import task_user
from corral.resources import safe_resources
from corral.security import views as view_filters
from corral.security.acls import ACLs
from corral.security.credentials import Credentials, basic_header
from corral.security.jwt import decode as jwt_decode
from corral.security.middleware import AuthenticationMiddleware, Realm, forbidden, principal_of
from corral.security.tls import TLSConfig, TLSError

if TYPE_CHECKING:
    import ssl

    from corral.master.model import Framework
    from corral.master.state import MasterState
    from corral.protocol.scheduler import Call

logger = logging.getLogger(__name__)

OPEN_PATHS = {"/health", "/master/health", "/version", "/redirect", "/master/redirect", "/webui/leader"}
STATE_PATHS = {"/state", "/master/state", "/state.json", "/master/state.json",
               "/frameworks", "/master/frameworks"}  # (the frameworks' part of /state)
TASKS_PATHS = {"/tasks", "/master/tasks", "/tasks.json", "/master/tasks.json"}
ROLES_PATHS = {"/roles", "/master/roles", "/roles.json"}
FLAGS_PATHS = {"/flags", "/master/flags"}
METRICS_PATHS = {"/metrics/snapshot", "/metrics"}
OPERATOR_PATHS = {"/api/v1", "/api/v1/operator"}

# Offer operations that convert resources, and the ACL action guarding each.
_CONVERSIONS = {"RESERVE": "reserve_resources", "UNRESERVE": "unreserve_resources",
                "CREATE": "create_volumes", "DESTROY": "destroy_volumes"}

# Operator calls and the ACL action guarding them; None = any authenticated (or open) caller.
OPERATOR_ACTIONS: dict[str, str | None] = {
    "GET_HEALTH": None, "GET_VERSION": None, "GET_MASTER": None, "GET_LOGGING_LEVEL": None,
    "GET_FLAGS": "view_flags", "GET_METRICS": "get_endpoints", "SET_LOGGING_LEVEL": "set_log_level",
    "GET_STATE": None, "GET_AGENTS": None, "GET_FRAMEWORKS": None, "GET_TASKS": None, "GET_EXECUTORS": None,
    "GET_ROLES": None, "GET_WEIGHTS": None, "GET_OPERATIONS": None, "SUBSCRIBE": None,
    "UPDATE_WEIGHTS": "update_weights", "MARK_AGENT_GONE": "mark_agents_gone", "TEARDOWN": "teardown_frameworks",
    "GET_QUOTA": "get_quotas", "UPDATE_QUOTA": "update_quotas", "SET_QUOTA": "update_quotas", "REMOVE_QUOTA": "update_quotas",
    "RESERVE_RESOURCES": "reserve_resources", "UNRESERVE_RESOURCES": "unreserve_resources",
    "CREATE_VOLUMES": "create_volumes", "DESTROY_VOLUMES": "destroy_volumes",
    "GET_MAINTENANCE_STATUS": "get_maintenance_statuses", "GET_MAINTENANCE_SCHEDULE": "get_maintenance_windows",
    "UPDATE_MAINTENANCE_SCHEDULE": "update_maintenance_schedules", "START_MAINTENANCE": "start_maintenances",
    "STOP_MAINTENANCE": "stop_maintenances", "DRAIN_AGENT": "drain_agents", "DEACTIVATE_AGENT": "deactivate_agents",
    "REACTIVATE_AGENT": "reactivate_agents",
    "GET_WHY_NOT_OFFERED": None,  # filtered by view_frameworks (master/why_calls.py)
}
READONLY_CALLS = {c for c in OPERATOR_ACTIONS if c.startswith("GET_")} | {"SUBSCRIBE"}

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class SecuredMaster(Protocol):
    """What MasterSecurity uses of the master daemon: its flags, its app (for the middlewares),
    where its TLS context goes, and its state (to answer unauthorized tasks); and its
    `before_listen` hooks when it has them (a `server.Server` does)."""

    flags: dict[str, Any]
    app: web.Application
    tls: ssl.SSLContext | None

    @property
    def state(self) -> MasterState | None: ...


def _startup_error(message: str) -> Exception:
    from corral.server import StartupError

    return StartupError(message)


class MasterSecurity:
    def __init__(self, master: SecuredMaster) -> None:
        self.master = master
        self.flags = master.flags
        self.acls = ACLs()
        self.credentials = Credentials()
        self.tls = TLSConfig.from_flags(self.flags)
        self.jwt_key: bytes | None = None
        self.own_authorization: str | None = None
        self.authn = AuthenticationMiddleware(self.classify)
        master.app.middlewares.append(self.authn)
        master.app.middlewares.append(self._authorize_reads)
        before = getattr(master, "before_listen", None)
        if before is not None:
            before.append(self.prepare)
        else:  # a Server without the hook: load now
            self.prepare()

    # ------------------------------------------------------------------ set-up

    def prepare(self) -> None:
        f = self.flags
        required = {
            Realm.framework: bool(f.get("authenticate_frameworks")),
            Realm.agent: bool(f.get("authenticate_agents")),
            Realm.readwrite: bool(f.get("authenticate_http_readwrite")),
            Realm.readonly: bool(f.get("authenticate_http_readonly")),
        }
        # The files were loaded with the flags (corral.security.flags).
        if f.get("credentials") is not None:
            self.credentials = f["credentials"]
        if f.get("jwt_secret_key") is not None:
            self.jwt_key = f["jwt_secret_key"].key
        if f.get("acls") is not None:
            self.acls = f["acls"]
        if f.get("credential") is not None:
            self.own_authorization = basic_header(f["credential"].principal, f["credential"].secret)
        try:
            self.master.tls = self.tls.server_context()
        except (ValueError, OSError, TLSError) as exc:
            raise _startup_error(str(exc)) from None
        for realm, on in required.items():
            if on and not self.credentials and self.jwt_key is None:
                flag = {Realm.framework: "--authenticate_frameworks", Realm.agent: "--authenticate_agents",
                        Realm.readwrite: "--authenticate_http_readwrite", Realm.readonly: "--authenticate_http_readonly"}[realm]
                raise _startup_error(f"{flag} needs --credentials (or --jwt_secret_key for bearer tokens)")
        self.authn.required = {r for r, on in required.items() if on}
        if Realm.readonly in self.authn.required or Realm.readwrite in self.authn.required:
            self.authn.required.add(Realm.readwrite)
        verifiers = [self._verify_jwt] if self.jwt_key is not None else []
        from corral.security.credentials import Authenticator

        self.authn.authenticator = Authenticator(self.credentials, verifiers)
        if self.authn.required or self.acls.configured or self.tls.enabled:
            logger.info(
                "Security: authentication for %s; %s; %s",
                ", ".join(sorted(r.value for r in self.authn.required)) or "nothing",
                "ACLs" + (" (deny by default)" if not self.acls.permissive else "") if self.acls.configured else "no ACLs",
                "TLS" + (" with client certificates" if self.tls.require_client_cert else "") if self.tls.enabled else "plain HTTP",
            )

    def _verify_jwt(self, token: str) -> str | None:
        assert self.jwt_key is not None
        claims = jwt_decode(token, self.jwt_key)
        sub = claims.get("sub") if claims else None
        return sub if isinstance(sub, str) and sub else None

    def classify(self, request: web.Request) -> Realm:
        path = request.path
        if path == "/api/v1/scheduler":
            return Realm.framework
        if path == "/api/v1/agent":
            return Realm.agent
        if path in OPERATOR_PATHS:
            return Realm.readwrite
        if path in OPEN_PATHS:
            return Realm.open
        if request.method in ("GET", "HEAD"):
            return Realm.readonly
        return Realm.readwrite

    @property
    def scheme(self) -> str:
        return self.tls.scheme

    # ------------------------------------------------------------------ authorization helpers

    def allowed(self, request: web.Request, action: str, obj: str | None = None) -> bool:
        return self.acls.allowed(action, principal_of(request), obj)

    def check(self, request: web.Request, action: str | None, obj: str | None = None, what: str | None = None) -> web.Response | None:
        """None if allowed, else a 403 naming the principal and what it may not do (`{obj}` in `what`: the object)."""
        if action is None or self.acls.allowed(action, principal_of(request), obj):
            return None
        who = principal_of(request)
        text = what or action
        text = text.replace("{obj}", str(obj if obj is not None else "ANY")) if "{obj}" in text else text
        return forbidden(f"{'Principal ' + repr(who) if who else 'An unauthenticated caller'} is not authorized to {text}")

    def viewer(self, request: web.Request) -> view_filters.Viewer:
        return view_filters.Viewer(self.acls, principal_of(request))

    @web.middleware
    async def _authorize_reads(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path in FLAGS_PATHS:
            denied = self.check(request, "view_flags", None, "view the flags")
            if denied is not None:
                return denied
        elif path in METRICS_PATHS:
            denied = self.check(request, "get_endpoints", path, "GET '{obj}'")
            if denied is not None:
                return denied
        elif path == "/api/v1/agent" and request.method == "POST" and self.acls.has_rules("register_agents"):
            try:
                kind = _decoder.decode(await request.read()).get("type")
            except (msgspec.DecodeError, AttributeError):
                kind = None  # malformed: the handler answers 400
            if kind == "REGISTER":
                denied = self.check(request, "register_agents", None, "register agents")
                if denied is not None:
                    return denied
        response = await handler(request)
        if path in STATE_PATHS or path in ROLES_PATHS or path in TASKS_PATHS:
            viewer = self.viewer(request)
            if viewer.filters and isinstance(response, web.Response) and response.status == 200 and response.body:
                doc = _decoder.decode(response.body)  # type: ignore[arg-type]
                doc = (view_filters.filter_state(doc, viewer) if path in STATE_PATHS
                       else view_filters.filter_tasks(doc, viewer) if path in TASKS_PATHS
                       else view_filters.filter_roles(doc, viewer))
                response = web.Response(body=_encoder.encode(doc), status=200, content_type="application/json")
        return response

    # ------------------------------------------------------------------ scheduler API

    def authorize_subscribe(self, request: web.Request, framework_info: Any) -> web.Response | None:
        if not isinstance(framework_info, dict):
            return None  # the state machine rejects it with a 400-style error
        principal = principal_of(request)
        claimed = framework_info.get("principal")
        if principal is not None:
            if claimed in (None, ""):
                framework_info["principal"] = principal
            elif claimed != principal:
                return forbidden(
                    f"Authenticated principal '{principal}' does not match principal '{claimed}' set in FrameworkInfo"
                )
        subject = principal if principal is not None else (claimed if isinstance(claimed, str) and claimed else None)
        roles = framework_info.get("roles") or [framework_info.get("role") or "*"]
        roles = [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else ["*"]
        denied = self.acls.allowed_all("register_frameworks", subject, roles)
        if denied is not None:
            who = f"Principal '{subject}'" if subject else "A framework without a principal"
            return forbidden(f"{who} is not authorized to register frameworks with role '{denied}'")
        return None

    def authorize_scheduler_call(self, request: web.Request, framework: "Framework", call: "Call") -> None:
        """Raise CallError(403) for a caller that is not the framework; drop unauthorized tasks."""
        from corral.master.state import CallError

        principal = principal_of(request)
        owner = framework.info.get("principal")
        if principal is not None and owner not in (None, "") and owner != principal:
            raise CallError(403, f"Authenticated principal '{principal}' does not match principal '{owner}' of framework {framework.id}")
        if call.type != "ACCEPT" or call.accept is None:
            return
        subject = principal if principal is not None else (owner or None)
        call.accept.operations = [op for op in call.accept.operations if self._may_convert(framework, op, subject)]
        if not self.acls.has_rules("run_tasks"):
            return
        for op in call.accept.operations:
            if op.type == "LAUNCH" and op.launch is not None:
                kept = []
                for task in op.launch.task_infos:
                    user = task_user(task, framework.info)
                    if self.acls.allowed("run_tasks", subject, user):
                        kept.append(task)
                    else:
                        self._unauthorized_task(framework, task, subject, user)
                op.launch.task_infos = kept
            elif op.type == "LAUNCH_GROUP" and isinstance(op.launch_group, dict):
                group = op.launch_group
                tasks = ((group.get("task_group") or {}).get("tasks") or []) if isinstance(group.get("task_group"), dict) else []
                users = {task_user(t, framework.info, group.get("executor")) for t in tasks if isinstance(t, dict)}
                bad = next((u for u in users if not self.acls.allowed("run_tasks", subject, u)), "")
                if bad != "":
                    for task in tasks:
                        self._unauthorized_task(framework, task, subject, bad)
                    group["task_group"] = {"tasks": []}

    def _may_convert(self, framework: "Framework", op: Any, subject: str | None) -> bool:
        """A RESERVE or CREATE is authorized by each reservation's role, an UNRESERVE by the principal that
        reserved, a DESTROY by the one that created; an unauthorized one is dropped (with the reason in
        the log), as Mesos drops it."""
        action = _CONVERSIONS.get(op.type)
        if action is None or not self.acls.has_rules(action):
            return True
        body = getattr(op, op.type.lower()) or {}
        resources = safe_resources(body.get(reservations.FIELD[op.type]) if isinstance(body, dict) else None)
        denied = [o for o in reservations.acl_objects(op.type, resources) if not self.acls.allowed(action, subject, o)]
        if denied:
            logger.info("Framework %s: dropping its %s operation: principal '%s' may not act on %s",
                        framework.id, op.type, subject, ", ".join(sorted(str(o) for o in denied)))
        return not denied

    def _unauthorized_task(self, framework: "Framework", task: Any, subject: str | None, user: str | None) -> None:
        state = self.master.state
        who = f"principal '{subject}'" if subject else "a framework without a principal"
        message = f"Task is not authorized to launch as user '{user}' ({who})"
        logger.info("Framework %s: %s", framework.id, message)
        if state is not None and isinstance(task, dict):
            state.send_unlaunched_status(framework, task, "TASK_ERROR", "REASON_TASK_UNAUTHORIZED", message)

    # ------------------------------------------------------------------ connections out

    def client_ssl(self):  # -> ssl.SSLContext | None
        return self.tls.client_context() if self.tls.enabled else None

    def outgoing_headers(self, request: web.Request | None = None) -> dict[str, str]:
        """Credentials for calls to agents: the master's own, or the caller's."""
        if self.own_authorization:
            return {"Authorization": self.own_authorization}
        if request is not None and request.headers.get("Authorization"):
            return {"Authorization": request.headers["Authorization"]}
        return {}

    def secrets(self) -> list[str]:
        return self.credentials.all_secrets()
