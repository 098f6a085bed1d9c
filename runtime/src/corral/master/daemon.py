"""`corral master`: the master daemon (lifecycle, leadership, timers; its flags are in `master/flags.py`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from typing import Any

from aiohttp import web

from corral import config
from corral.allocator import AllocatorOptions, allocator_name
from corral.master import (  # noqa: F401 (the call modules register their calls)
    drain_calls, http, maintenance_calls, metrics, operator, quota_calls, reservation_calls, why_calls,
)
from corral.master.flags import MASTER_FLAGS
from corral.security.master import MasterSecurity
from corral.webui import dashboard
from corral.leader.contender import MasterContender, contender_for
from corral.master.state import MasterOptions, MasterState
from corral.protocol.master_info import master_info
from corral.server import Server, StartupError

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.01


class Master(Server):
    name = "corral master"

    def __init__(self, flags: dict[str, Any]) -> None:
        """`flags`: the parsed values of MASTER_FLAGS (`config.resolve`)."""
        super().__init__(flags["ip"], flags["port"])
        self.flags = flags
        self.id = ""
        self.state: MasterState | None = None  # exists while this master leads
        self.leading = False
        self.safe_mode = False
        self.leadership: MasterContender | None = None
        self.advertised_ip = flags["ip"] if flags["ip"] not in ("0.0.0.0", "::") else _guess_ip()
        http.add_routes(self.app, self)
        self.security = MasterSecurity(self)
        metrics.add_routes(self.app, self)
        operator.add_routes(self.app, self)
        quota_calls.add_routes(self.app, self)
        maintenance_calls.add_routes(self.app, self)
        dashboard.add_routes(self.app, self)

    async def start_unsafe(self) -> None:
        flags = self.flags
        await self.listen()
        self.leadership = contender_for(flags["zk"], flags["work_dir"], flags["quorum"], flags["zk_session_timeout"])
        try:
            await self.leadership.start(self._identity, self)
        except (ConnectionError, RuntimeError) as exc:
            raise StartupError(str(exc)) from None
        self.spawn(self._ticker(), "timers")

    async def close_unsafe(self) -> None:
        if self.leadership is not None:
            await self.leadership.stop()

    def _identity(self) -> dict[str, Any]:
        """A fresh master id and its MasterInfo, for each candidacy."""
        self.id = str(uuid.uuid4())
        return master_info(self.id, self.flags["hostname"] or self.flags["ip"], self.advertised_ip, self.port)

    # -- leadership events (LeadershipEvents) -------------------------------------

    def elected(self) -> None:
        self.spawn(self._take_over(), "take over")

    async def _take_over(self) -> None:
        assert self.leadership is not None
        flags = self.flags
        registry = self.leadership.registry
        recovered = await asyncio.get_running_loop().run_in_executor(None, registry.load)
        allocator = flags["allocator"](
            AllocatorOptions(weights=dict(flags["weights"]), min_allocatable=list(flags["min_allocatable_resources"])),
            clock=time.monotonic,
        )
        self.state = MasterState(
            MasterOptions(
                hostname=flags["hostname"] or flags["ip"],
                ip=self.advertised_ip,
                port=self.port,
                allocation_interval=flags["allocation_interval"],
                offer_timeout=flags["offer_timeout"],
                heartbeat_interval=flags["heartbeat_interval"],
                agent_ping_timeout=flags["agent_ping_timeout"],
                max_agent_ping_timeouts=flags["max_agent_ping_timeouts"],
                agent_reregister_timeout=flags["agent_reregister_timeout"],
                roles=flags["roles"],
                cluster=flags["cluster"],
            ),
            allocator,
            master_id=self.id,
            registry=registry,
            recovered=recovered,
        )
        self.state.set_safe_mode(self.safe_mode)
        self.leading = True
        logger.info(
            "Master %s is the leader (%s), allocator %s, weights %s",
            self.id, "ZooKeeper" if flags["zk"] else "standalone", allocator_name(flags["allocator"]), allocator.weights() or "{}",
        )

    def demoted(self) -> None:
        logger.warning("Master %s lost its leadership; standing by", self.id)
        self.leading = False
        state, self.state = self.state, None
        if state is not None:
            for framework in state.frameworks.values():
                if framework.connection is not None:
                    framework.connection.close()
            for agent in state.agents.values():
                if agent.connection is not None:
                    agent.connection.close()
            for subscriber in state.operator_subscribers:
                subscriber.close()

    def set_safe_mode(self, on: bool) -> None:
        self.safe_mode = on
        if self.state is not None:
            self.state.set_safe_mode(on)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            state = self.state
            if not self.leading or state is None:
                continue
            try:
                state.tick()
            except Exception:  # a bug in one timer must not stop the others
                logger.exception("master timer failed")

    # -- leadership as the HTTP layer sees it ------------------------------------------

    def redirect_if_not_leading(self, request: web.Request) -> web.Response | None:
        if self.leading and self.state is not None:
            return None
        leader = self.leader_info()
        if leader is None or leader.get("id") == self.id:
            return web.Response(status=503, text="No leading master is elected yet; retry later")
        address = leader["address"]
        return web.Response(status=307, headers={"Location": f"//{address['ip']}:{address['port']}{request.path}"})

    def leader_info(self) -> dict[str, Any] | None:
        if self.leading and self.state is not None:
            return self.state.master_info
        return self.leadership.leader() if self.leadership is not None else None

    def public_flags(self) -> dict[str, str]:
        return config.public(self.flags, MASTER_FLAGS)

    def update_weights(self, weights: dict[str, float]) -> None:
        assert self.state is not None
        self.state.update_weights(weights)


def _guess_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
