"""A master's candidacy for leadership: Mesos's MasterContender.

Two implementations behind one small interface, `MasterContender`:
`StandaloneMasterContender` (no ZooKeeper: the one master leads at once and keeps
its registry in a file) and `ZooKeeperMasterContender` (masters contend through
ZooKeeper; the registry lives there too, beside the election path).  The master
only sees the callbacks of `LeadershipEvents`, the `registry` and `leader()`.

Clients that look for the leader use `detector.py`, which does not import this
module nor the master's registry.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable, Protocol

from corral.leader.zookeeper import PREFIX, LeaderContender, LeaderDetector, Session, ZooKeeperURL
from corral.master.registry import FileRegistry, Registry, RegistryError, ZooKeeperRegistry

logger = logging.getLogger(__name__)

__all__ = ["LeadershipEvents", "MasterContender", "StandaloneMasterContender", "ZooKeeperMasterContender", "contender_for"]


class LeadershipEvents(Protocol):
    def elected(self) -> None: ...

    def demoted(self) -> None: ...

    def set_safe_mode(self, on: bool) -> None: ...


class MasterContender(Protocol):
    """`start` contends with the MasterInfo that `identity()` returns (called again for each
    new candidacy); `leader()` is the leading master's MasterInfo as far as this master knows."""

    registry: Registry

    async def start(self, identity: Callable[[], dict[str, Any]], events: LeadershipEvents) -> None: ...

    def leader(self) -> dict[str, Any] | None: ...

    async def stop(self) -> None: ...


class StandaloneMasterContender:
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
        try:
            await self.registry.flush()  # (changes of the last moments are written when they batch)
        except RegistryError as exc:
            logger.error("%s", exc)


class ZooKeeperMasterContender:
    """Masters contend under the election znode; below `quorum` live masters the leader is in safe mode."""

    def __init__(self, url: ZooKeeperURL, quorum: int = 1, session_timeout: float = 10.0) -> None:
        self.url = url
        self.quorum = quorum
        self.session_timeout = session_timeout
        self.registry: Registry = Registry()
        self._session: Session | None = None
        self._detector: LeaderDetector | None = None
        self._contender: LeaderContender | None = None
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
        self._detector = LeaderDetector(client, self.url.path, loop)
        await loop.run_in_executor(None, self._detector.start)
        client.ChildrenWatch(self.url.path, self._count_masters)
        await self._contend()

    async def _contend(self) -> None:
        assert self._session is not None and self._identity is not None
        loop = asyncio.get_running_loop()
        self._contender = LeaderContender(
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


def contender_for(zk: ZooKeeperURL | None, work_dir: str, quorum: int = 1, session_timeout: float = 10.0) -> MasterContender:
    """A master's contender: through ZooKeeper with `--zk`, else standalone (the embedded default)."""
    if zk is not None:
        return ZooKeeperMasterContender(zk, quorum, session_timeout)
    return StandaloneMasterContender(work_dir)
