"""`corral master`: the master daemon (flags, lifecycle, timers)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from aiohttp import web

from corral import config
from corral.allocator import AllocatorOptions, load_allocator_class
from corral.config import Flag
from corral.master import http
from corral.master.state import MasterOptions, MasterState
from corral.resources import DEFAULT_MIN_ALLOCATABLE, ResourceError, parse_min_allocatable
from corral.server import Server, StartupError

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.01


def _min_allocatable(value: Any) -> str:
    text = config.as_str(value)
    try:
        parse_min_allocatable(text)
    except ResourceError as exc:
        raise ValueError(str(exc)) from None
    return text


def _allocator(value: Any) -> str:
    from corral.allocator import AllocatorLoadError

    spec = config.as_str(value)
    try:
        load_allocator_class(spec)
    except AllocatorLoadError as exc:
        raise ValueError(str(exc).removeprefix("--allocator: ")) from None
    return spec


MASTER_FLAGS = [
    Flag("ip", config.as_str, "127.0.0.1", "IP address to listen on"),
    Flag("port", config.as_port, 5050, "Port to listen on (0 picks a free one)"),
    Flag("hostname", config.as_optional_str, None, "Hostname advertised to agents and frameworks (default: the IP)"),
    Flag("work_dir", config.as_str, "/var/lib/corral/master", "Directory for the master's registry file"),
    Flag("zk", config.as_optional_str, None, "ZooKeeper URL zk://host:port,.../path for leader election and the registry"),
    Flag("quorum", config.as_int, 1, "Number of masters that form a quorum (with --zk)"),
    Flag("allocator", _allocator, "drf", "drf, priority, or package.module:Class"),
    Flag("weights", config.as_weights, {}, "Role weights, e.g. ads=2,dev=1"),
    Flag("roles", config.as_roles, None, "Whitelist of roles frameworks may use (default: any)"),
    Flag("allocation_interval", config.as_duration, 1.0, "Seconds between full allocation rounds"),
    Flag("min_allocatable_resources", _min_allocatable, DEFAULT_MIN_ALLOCATABLE, "Smallest offer, e.g. cpus:0.01|mem:32"),
    Flag("offer_timeout", config.as_duration, None, "Rescind offers not used within this time (default: never)"),
    Flag("heartbeat_interval", config.as_duration, 15.0, "Seconds between HEARTBEAT events to schedulers"),
    Flag("agent_ping_timeout", config.as_duration, 15.0, "Seconds between agent pings (and to answer one)"),
    Flag("max_agent_ping_timeouts", config.as_int, 5, "Missed pings before an agent is unreachable"),
    Flag("agent_reregister_timeout", config.as_duration, 600.0, "After a failover, seconds agents have to re-register"),
    Flag("cluster", config.as_str, "corral", "Human-readable cluster name"),
    Flag("log_level", config.as_str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
]


class Master(Server):
    name = "corral master"

    def __init__(self, flags: dict[str, Any]) -> None:
        super().__init__(flags["ip"], flags["port"])
        self.flags = flags
        self.state: MasterState | None = None  # created once the port is known
        self.leading = True
        self.safe_mode = False
        http.add_routes(self.app, self)
        self.app.router.add_get("/", self._index)

    async def start_unsafe(self) -> None:
        flags = self.flags
        if flags["zk"]:
            raise StartupError("--zk: ZooKeeper leader election is not available in this build")
        await self.listen()
        allocator_cls = load_allocator_class(flags["allocator"])
        allocator = allocator_cls(
            AllocatorOptions(weights=dict(flags["weights"]), min_allocatable=parse_min_allocatable(flags["min_allocatable_resources"])),
            clock=time.monotonic,
        )
        hostname = flags["hostname"] or flags["ip"]
        advertised_ip = flags["ip"] if flags["ip"] not in ("0.0.0.0", "::") else _guess_ip()
        self.state = MasterState(
            MasterOptions(
                hostname=hostname,
                ip=advertised_ip,
                port=self.port,
                allocation_interval=flags["allocation_interval"],
                offer_timeout=flags["offer_timeout"],
                heartbeat_interval=flags["heartbeat_interval"],
                agent_ping_timeout=flags["agent_ping_timeout"],
                max_agent_ping_timeouts=flags["max_agent_ping_timeouts"],
                roles=flags["roles"],
                cluster=flags["cluster"],
            ),
            allocator,
        )
        self.spawn(self._ticker(), "timers")
        logger.info(
            "Master %s elected (standalone), allocator %s, weights %s", self.state.id, flags["allocator"], flags["weights"] or "{}"
        )

    async def _ticker(self) -> None:
        assert self.state is not None
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if not self.leading or self.safe_mode:
                continue
            try:
                self.state.tick()
            except Exception:  # a bug in one timer must not stop the others
                logger.exception("master timer failed")

    # -- leadership hooks ---------------------------------------------------------

    def redirect_if_not_leading(self, request: web.Request) -> web.Response | None:
        if self.leading:
            return None
        leader = self.leader_info()
        if leader is None:
            return web.Response(status=503, text="No leading master is elected; retry later")
        address = leader["address"]
        return web.Response(status=307, headers={"Location": f"//{address['hostname']}:{address['port']}{request.path}"})

    def leader_info(self) -> dict[str, Any] | None:
        return self.state.master_info if self.state is not None else None

    def public_flags(self) -> dict[str, str]:
        return config.public(self.flags, MASTER_FLAGS)

    def update_weights(self, weights: dict[str, float]) -> None:
        assert self.state is not None
        self.state.update_weights(weights)

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f"corral master {self.state.id if self.state else ''}: see /state, /metrics/snapshot and /api/v1\n",
            content_type="text/plain",
        )


def _guess_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
