"""Authentication of every HTTP request, as an aiohttp middleware.

Each request falls in a realm (the daemon's `classify` decides from the path
and method).  When the realm requires authentication, a request without
valid credentials gets `401 Unauthorized` with `WWW-Authenticate: Basic`
and the reason in the body.  When it does not, credentials are still
checked if given (so ACLs can use the principal) but bad ones are ignored,
as Mesos does for realms without an authenticator.  The principal (or None)
is stored in `request["principal"]`.
"""

from __future__ import annotations

import enum
import logging
from typing import Awaitable, Callable

from aiohttp import web

from corral.security.credentials import AuthenticationError, Authenticator

logger = logging.getLogger(__name__)

PRINCIPAL = "principal"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Realm(enum.Enum):
    open = "open"            # /health, /version, /redirect
    readonly = "readonly"    # GET endpoints: /state, /metrics, the web UI, /files
    readwrite = "readwrite"  # the operator API and other writes
    framework = "framework"  # the scheduler API
    agent = "agent"          # the agent protocol (master side)
    executor = "executor"    # the executor API (agent side)


def _text(reason: str) -> bytes:
    return reason.encode("utf-8", "backslashreplace")  # reasons quote client input, which may not be valid Unicode


def unauthorized(reason: str) -> web.Response:
    return web.Response(
        status=401, body=_text(reason), content_type="text/plain", charset="utf-8",
        headers={"WWW-Authenticate": 'Basic realm="corral", charset="UTF-8"'},
    )


def forbidden(reason: str) -> web.Response:
    return web.Response(status=403, body=_text(reason), content_type="text/plain", charset="utf-8")


def principal_of(request: web.Request) -> str | None:
    return request.get(PRINCIPAL)


class AuthenticationMiddleware:
    __middleware_version__ = 1  # a new-style aiohttp middleware (an object, not a function)

    def __init__(self, classify: Callable[[web.Request], Realm]) -> None:
        self.classify = classify
        self.authenticator = Authenticator(None)
        self.required: set[Realm] = set()

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        realm = self.classify(request)
        if realm is Realm.executor:  # per-executor tokens: the agent checks them itself
            request[PRINCIPAL] = None
            return await handler(request)
        header = request.headers.get("Authorization")
        principal = None
        if realm in self.required:
            if not header:
                return unauthorized(f"Authentication required for {request.path}: send HTTP Basic credentials or a bearer token")
            try:
                principal = self.authenticator.authenticate(header)
            except AuthenticationError as exc:
                logger.info("Refused %s %s: %s", request.method, request.path, exc)
                return unauthorized(str(exc))
        elif header and len(self.authenticator.credentials) + len(self.authenticator.token_verifiers):
            try:
                principal = self.authenticator.authenticate(header)
            except AuthenticationError:
                principal = None
        request[PRINCIPAL] = principal
        return await handler(request)
