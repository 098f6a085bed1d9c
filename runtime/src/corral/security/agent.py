"""What the agent protects, and how.

- Executors: with `--authenticate_http_executors`, every call to
  `/api/v1/executor` needs `Authorization: Bearer <token>`, where the token
  is the HS256 JWT the agent gave that executor in
  MESOS_EXECUTOR_AUTHENTICATION_TOKEN (claims `fid`, `eid`, `cid`), and the
  call must be for that framework and executor.
- `/files/*` (sandboxes): the read-only realm, and `access_sandboxes` for the
  UNIX user of the sandbox's executor (command user, else framework user).
- `/state`: filtered by view_frameworks / view_executors / view_tasks;
  `/flags` needs view_flags.
- Connections to the master: HTTPS when the agent has TLS (TLS is
  cluster-wide, as LIBPROCESS_SSL_ENABLED is in Mesos), with `--credential`
  as HTTP Basic.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import msgspec
from aiohttp import web

from corral.security import jwt
from corral.security import views as view_filters
from corral.security.acls import ACLs
from corral.security.credentials import Authenticator, Credentials, basic_header
from corral.security.middleware import AuthenticationMiddleware, Realm, forbidden, principal_of, unauthorized
from corral.security.tls import TLSConfig, TLSError

if TYPE_CHECKING:
    import ssl

    from corral.agent.model import Executor, FrameworkRecord
    from corral.agent.state import AgentState

logger = logging.getLogger(__name__)


class SecuredAgent(Protocol):
    """What AgentSecurity uses of the agent daemon: its flags, app (for the middlewares) and
    work directory, where its TLS context goes, and its state's executors (tokens, sandbox
    owners); and its `before_listen` hooks when it has them (a `server.Server` does)."""

    flags: dict[str, Any]
    app: web.Application
    tls: ssl.SSLContext | None

    @property
    def work_dir(self) -> str: ...

    @property
    def state(self) -> AgentState: ...

TOKEN_ENV = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
OPEN_PATHS = {"/health", "/version"}
STATE_PATHS = {"/state", "/state.json", "/slave(1)/state"}

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _startup_error(message: str) -> Exception:
    from corral.server import StartupError

    return StartupError(message)


class AgentSecurity:
    def __init__(self, agent: SecuredAgent) -> None:
        self.agent = agent
        self.flags = agent.flags
        self.acls = ACLs()
        self.credentials = Credentials()
        self.tls = TLSConfig.from_flags(self.flags)
        self.jwt_key: bytes | None = None
        self.master_authorization: str | None = None
        self.authenticate_executors = bool(self.flags.get("authenticate_http_executors"))
        self.authn = AuthenticationMiddleware(self.classify)
        agent.app.middlewares.append(self.authn)
        agent.app.middlewares.append(self._authorize)
        before = getattr(agent, "before_listen", None)
        if before is not None:
            before.append(self.prepare)
        else:
            self.prepare()

    def prepare(self) -> None:
        f = self.flags
        # The files were loaded with the flags (corral.security.flags).
        if f.get("credentials") is not None:
            self.credentials = f["credentials"]
        if f.get("acls") is not None:
            self.acls = f["acls"]
        if f.get("credential") is not None:
            self.master_authorization = basic_header(f["credential"].principal, f["credential"].secret)
        try:
            if f.get("jwt_secret_key") is not None:
                self.jwt_key = f["jwt_secret_key"].key
            elif self.authenticate_executors:
                self.jwt_key = jwt.load_or_create_key(os.path.join(self.agent.work_dir, "meta", "jwt_secret_key"))
            self.agent.tls = self.tls.server_context()
        except (ValueError, OSError, TLSError) as exc:
            raise _startup_error(str(exc)) from None
        required = set()
        if f.get("authenticate_http_readonly"):
            required |= {Realm.readonly, Realm.readwrite}
        if f.get("authenticate_http_readwrite"):
            required.add(Realm.readwrite)
        if required and not self.credentials:
            raise _startup_error("--authenticate_http_readonly/--authenticate_http_readwrite need --credentials")
        self.authn.required = required
        self.authn.authenticator = Authenticator(self.credentials)

    def classify(self, request: web.Request) -> Realm:
        path = request.path
        if path == "/api/v1/executor":
            return Realm.executor
        if path in OPEN_PATHS:
            return Realm.open
        if request.method in ("GET", "HEAD"):
            return Realm.readonly
        return Realm.readwrite

    # ------------------------------------------------------------------ executors

    def executor_token(self, framework_id: str, executor_id: str, container_id: str) -> str | None:
        if self.jwt_key is None:
            return None
        return jwt.encode({"fid": framework_id, "eid": executor_id, "cid": container_id}, self.jwt_key)

    def executor_env(self, fw: "FrameworkRecord", executor: "Executor") -> dict[str, str]:
        env = self.tls.executor_env()
        token = self.executor_token(fw.id, executor.executor_id, executor.container_id)
        if token is not None:
            env[TOKEN_ENV] = token
        return env

    async def _check_executor(self, request: web.Request) -> web.Response | None:
        if not self.authenticate_executors:
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return unauthorized("Executors must authenticate with 'Authorization: Bearer <MESOS_EXECUTOR_AUTHENTICATION_TOKEN>'")
        assert self.jwt_key is not None
        claims = jwt.decode(token.strip(), self.jwt_key)
        if claims is None:
            return unauthorized("Invalid executor token")
        try:
            body = json.loads(await request.read())
            fid = body["framework_id"]["value"]
            eid = body["executor_id"]["value"]
        except (ValueError, KeyError, TypeError):
            return None  # malformed call: the handler answers 400
        if claims.get("fid") != fid or claims.get("eid") != eid:
            return forbidden(f"The executor token does not belong to executor '{eid}' of framework '{fid}'")
        executor = self.agent.state.find_executor(fid, eid)
        if executor is not None and claims.get("cid") != executor.container_id:
            return forbidden(f"The executor token belongs to an earlier container of executor '{eid}'")
        return None

    # ------------------------------------------------------------------ sandboxes and state

    def sandbox_user(self, path: str) -> str | None:
        real = os.path.realpath(path)
        for fw in self.agent.state.frameworks.values():
            for executor in list(fw.executors.values()) + list(fw.completed_executors):
                directory = os.path.realpath(executor.directory)
                if real == directory or real.startswith(directory + os.sep):
                    command = executor.info.get("command") or {}
                    user = command.get("user") if isinstance(command, dict) else None
                    return user if isinstance(user, str) else fw.info.get("user")
        return None

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path == "/api/v1/executor":
            denied = await self._check_executor(request)
            if denied is not None:
                return denied
            return await handler(request)
        principal = principal_of(request)
        if path.startswith("/files/") and self.acls.has_rules("access_sandboxes"):
            target = request.query.get("path", "")
            user = self.sandbox_user(target) if target else None
            if not self.acls.allowed("access_sandboxes", principal, user):
                who = f"Principal '{principal}'" if principal else "An unauthenticated caller"
                return forbidden(f"{who} is not authorized to access sandboxes of user '{user or 'ANY'}'")
        elif path == "/flags" and not self.acls.allowed("view_flags", principal, None):
            return forbidden(f"{principal or 'An unauthenticated caller'} is not authorized to view the flags")
        response = await handler(request)
        if path in STATE_PATHS:
            viewer = view_filters.Viewer(self.acls, principal)
            if viewer.filters and isinstance(response, web.Response) and response.status == 200 and response.body:
                doc = _decoder.decode(response.body)  # type: ignore[arg-type]
                doc = view_filters.filter_state(doc, viewer)
                response = web.Response(body=_encoder.encode(doc), status=200, content_type="application/json")
        return response

    # ------------------------------------------------------------------ the master link

    def master_scheme(self) -> str:
        return "https" if self.tls.enabled else "http"

    def master_session(self, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
        headers = {"Authorization": self.master_authorization} if self.master_authorization else None
        connector = None
        if self.master_scheme() == "https":
            connector = aiohttp.TCPConnector(ssl=self.tls.client_context())
        return aiohttp.ClientSession(timeout=timeout, headers=headers, connector=connector)

    def secrets(self) -> list[str]:
        out = self.credentials.all_secrets()
        if self.flags.get("credential") is not None:
            out.append(self.flags["credential"].secret)
        return out
