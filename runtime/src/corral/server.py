"""One lifecycle for every Corral daemon (master, agent, dispatcher).

A `Server` owns an aiohttp application and its background tasks.  `start()`
runs the subclass's `start_unsafe()` under a timeout, binds the listening
socket (failing with a message that names the address when the port is
taken), logs readiness, and `close()` cancels the background tasks and stops
listening.  Servers are async context managers; `serve_forever()` runs one
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import signal
import socket
import ssl
from typing import Any, Awaitable, Callable, Coroutine

from aiohttp import web

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30 * 24 * 3600.0


class Status(enum.Enum):
    init = "init"
    starting = "starting"
    running = "running"
    closing = "closing"
    closed = "closed"
    failed = "failed"


class StartupError(RuntimeError):
    """A daemon could not start; the message says why (shown without a traceback)."""


class Server:
    name = "server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.status = Status.init
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        # TLS: set (by the security set-up) before listen() to serve HTTPS only.
        self.tls: ssl.SSLContext | None = None
        # Run first thing in listen(), inside start(): a StartupError here is reported cleanly.
        self.before_listen: list[Callable[[], None]] = []

    # -- lifecycle --------------------------------------------------------------

    async def start(self, timeout: float = 60.0) -> "Server":
        if self.status is not Status.init:
            raise RuntimeError(f"{self.name} cannot start from status {self.status.value}")
        self.status = Status.starting
        try:
            await asyncio.wait_for(self.start_unsafe(), timeout)
        except BaseException:
            self.status = Status.failed
            await self._cleanup()
            raise
        self.status = Status.running
        logger.info("%s ready at %s", self.name, self.address)
        return self

    async def start_unsafe(self) -> None:
        """Bind and serve; subclasses extend this (call super first or last as needed)."""
        await self.listen()

    async def listen(self) -> None:
        # Idle keep-alive connections are (practically) never closed by the server,
        # as Mesos does: pymesos reuses one connection and breaks when it is closed.
        # handler_cancellation: a client that goes away ends its event stream at once.
        for hook in self.before_listen:
            hook()
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, keepalive_timeout=KEEPALIVE_SECONDS, handler_cancellation=True
        )
        await self._runner.setup()
        sock = _bind(self.host, self.port, self.name)
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, shutdown_timeout=1.0, ssl_context=self.tls)
        await site.start()

    async def close(self) -> None:
        if self.status in (Status.closing, Status.closed):
            await self._stopped.wait()
            return
        self.status = Status.closing
        logger.info("%s shutting down", self.name)
        try:
            await self.close_unsafe()
        finally:
            await self._cleanup()
            self.status = Status.closed
            self._stopped.set()
            logger.info("%s stopped", self.name)

    async def close_unsafe(self) -> None:
        """Subclass hook run before background tasks are cancelled."""

    async def _cleanup(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if not t.done() and t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "Server":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.close()))
        await self._stopped.wait()

    # -- helpers ----------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def spawn(self, coro: Coroutine[Any, Any, Any] | Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a background task owned by this server; its failure is logged, not lost."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", task.get_name(), exc_info=task.exception())


def _bind(host: str, port: int, who: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"{who}: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock
