"""Who leads: a master's candidacy and everyone's view of the leader.

Two implementations behind one small interface, as Mesos has its
MasterContender/MasterDetector pairs: `Standalone` (no ZooKeeper: the one
master leads at once and keeps its registry in a file) and
`ZooKeeperLeadership` (masters contend through ZooKeeper; the registry lives
there too).  The master only sees the callbacks of `LeadershipEvents`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable, Protocol

from corral.leader.zookeeper import (
    PREFIX,
    Session,
    ZooKeeperContender,
    ZooKeeperDetector,
    ZooKeeperURL,
    ZooKeeperURLError,
    address_of,
)
from corral.master.registry import FileRegistry, Registry, ZooKeeperRegistry

logger = logging.getLogger(__name__)

__all__ = [
    "LeadershipEvents", "Standalone", "ZooKeeperLeadership", "ZooKeeperURL", "ZooKeeperURLError",
    "LeaderResolver", "address_of", "parse_master", "resolve_master",
]


class LeadershipEvents(Protocol):
    def elected(self) -> None: ...

    def demoted(self) -> None: ...

    def set_safe_mode(self, on: bool) -> None: ...


class Standalone:
    """No ZooKeeper: this master leads, its registry is a file in its work directory."""

    def __init__(self, work_dir: str) -> None:
        self.registry: Registry = FileRegistry(os.path.join(work_dir, "registry.json"))
        self._info: dict[str, Any] | None = None

    async def start(self, identity: Callable[[], dict[str, Any]], events: LeadershipEvents) -> None:
        self._info = identity()
        events.elected()

    def leader(self) -> dict[str, Any] | None:
        return self._info

    async def stop(self) -> None:
        return None


class ZooKeeperLeadership:
    """Masters contend under the election znode; below `quorum` live masters the leader is in safe mode."""

    def __init__(self, url: ZooKeeperURL, quorum: int = 1, session_timeout: float = 10.0) -> None:
        self.url = url
        self.quorum = quorum
        self.session_timeout = session_timeout
        self.registry: Registry = Registry()
        self._session: Session | None = None
        self._detector: ZooKeeperDetector | None = None
        self._contender: ZooKeeperContender | None = None
        self._events: LeadershipEvents | None = None
        self._identity: Callable[[], dict[str, Any]] | None = None
        self._leading = False
        self._suspended = False
        self._below_quorum = False
        self._session_lost = False

    async def start(self, identity: Callable[[], dict[str, Any]], events: LeadershipEvents) -> None:
        loop = asyncio.get_running_loop()
        self._events, self._identity = events, identity
        self._session = Session(self.url, self.session_timeout, loop, on_state=self._on_state)
        try:
            await self._session.start(timeout=30)
        except Exception as exc:  # kazoo raises its own timeout types
            raise ConnectionError(f"--zk: cannot reach ZooKeeper at {self.url.hosts}: {exc or type(exc).__name__}") from None
        client = self._session.client
        self.registry = ZooKeeperRegistry(client, f"{self.url.path}-registry")
        self._detector = ZooKeeperDetector(client, self.url.path, loop)
        await loop.run_in_executor(None, self._detector.start)
        client.ChildrenWatch(self.url.path, self._count_masters)
        await self._contend()

    async def _contend(self) -> None:
        assert self._session is not None and self._identity is not None
        loop = asyncio.get_running_loop()
        self._contender = ZooKeeperContender(
            self._session.client, self.url.path, self._identity(), loop, self._on_leading
        )
        await loop.run_in_executor(None, self._contender.contend)

    def _count_masters(self, children: list[str]) -> None:
        assert self._session is not None
        below = sum(1 for c in children if c.startswith(PREFIX)) < self.quorum
        self._session.loop.call_soon_threadsafe(self._set_below_quorum, below)

    def _set_below_quorum(self, below: bool) -> None:
        if below != self._below_quorum:
            self._below_quorum = below
            if self._leading:
                logger.warning("%d masters are needed for a quorum: %s", self.quorum, "lost" if below else "regained")
            self._update_safe_mode()

    def _on_leading(self, leading: bool) -> None:
        assert self._events is not None
        if leading and not self._leading:
            self._leading = True
            self._events.elected()
            self._update_safe_mode()
        elif not leading and self._leading:
            self._leading = False
            self._events.demoted()

    def _on_state(self, state: str) -> None:
        """kazoo's connection states: CONNECTED, SUSPENDED (no quorum reachable), LOST (session expired)."""
        if state == "SUSPENDED":
            self._suspended = True
        elif state == "LOST":
            self._suspended = True
            self._session_lost = True
            if self._contender is not None:
                self._contender.node = None
            self._on_leading(False)
        elif state == "CONNECTED":
            self._suspended = False
            if self._session_lost:
                self._session_lost = False
                logger.info("New ZooKeeper session: contending again")
                asyncio.ensure_future(self._contend())
        self._update_safe_mode()

    def _update_safe_mode(self) -> None:
        if self._events is not None and self._leading:
            self._events.set_safe_mode(self._suspended or self._below_quorum)

    def leader(self) -> dict[str, Any] | None:
        return self._detector.current if self._detector is not None else None

    async def stop(self) -> None:
        """Withdraw (so that a standby takes over at once) and close; never hang on a dead ZooKeeper."""
        if self._session is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if self._contender is not None and not self._suspended:
                await asyncio.wait_for(loop.run_in_executor(None, self._contender.withdraw), 3)
            await asyncio.wait_for(self._session.stop(), 5)
        except (asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down anyway
            logger.warning("Leaving ZooKeeper uncleanly: %s", exc or type(exc).__name__)


def parse_master(text: str) -> str | ZooKeeperURL:
    """A `--master` value: `zk://host:port,.../path`, or `host:port` (an `http(s)://` prefix and a
    trailing `/` are dropped: the scheme follows the TLS settings)."""
    text = text.strip()
    if text.startswith("zk://"):
        return ZooKeeperURL.parse(text)
    address = text.removeprefix("http://").removeprefix("https://").rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep or not host or any(c.isspace() or c == "/" for c in host) or not (
        port.isascii() and port.isdigit() and 0 < int(port) < 65536
    ):
        raise ValueError(f"'{text}' is not host:port or zk://host:port,.../path")
    return address


class LeaderResolver:
    """host:port of the leading master, for agents and clients: a fixed address or a zk:// URL."""

    def __init__(self, master: str | ZooKeeperURL, session_timeout: float = 10.0) -> None:
        self.master = parse_master(master) if isinstance(master, str) else master
        self.session_timeout = session_timeout
        self._url = self.master if isinstance(self.master, ZooKeeperURL) else None
        self._session: Session | None = None
        self._detector: ZooKeeperDetector | None = None
        self._lock = asyncio.Lock()

    @property
    def dynamic(self) -> bool:
        return self._url is not None

    async def resolve(self) -> str:
        if self._url is None:
            assert isinstance(self.master, str)
            return self.master
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._detector is None:
                session = Session(self._url, self.session_timeout, loop)
                await session.start(timeout=30)
                detector = ZooKeeperDetector(session.client, self._url.path, loop)
                await loop.run_in_executor(None, detector.start)
                self._session, self._detector = session, detector
        return address_of(await self._detector.wait_for_leader())

    async def close(self) -> None:
        if self._session is not None:
            try:
                await asyncio.wait_for(self._session.stop(), 5)
            except asyncio.TimeoutError:
                logger.warning("ZooKeeper session did not close in time")
            self._session = None


def resolve_master(master: str, timeout: float = 10.0) -> str:
    """host:port of the leader, for command-line tools (blocking; zk:// URLs are looked up once)."""
    url = parse_master(master)
    if isinstance(url, str):
        return url
    import json

    from corral.leader.zookeeper import leader_of, make_client

    client = make_client(url, timeout)
    client.start(timeout=timeout)
    try:
        node = leader_of(client.get_children(url.path)) if client.exists(url.path) else None
        if node is None:
            raise LookupError(f"no master is elected under {url}")
        return address_of(json.loads(client.get(f"{url.path}/{node}")[0]))
    finally:
        client.stop()
        client.close()
