"""Where the leading master is, for its clients: Mesos's MasterDetector.

Agents (`agent/master_link.py`), the scheduler SDK (`scheduler/client.py`), the Spark
dispatcher and the CLI are given `--master` as `host:port` or `zk://host:port,.../path`;
`detector_for` turns it into a `MasterDetector`:

- `StandaloneMasterDetector`: a fixed address (the client follows a non-leader's 307
  redirects itself);
- `ZooKeeperMasterDetector`: reads the lowest `json.info_` znode under the path, as pymesos
  does, and follows it as leaders come and go.

This is the client side only: nothing here imports the master (`contender.py` is the
master's candidacy, which owns the registry).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from corral.leader.zookeeper import LeaderDetector, Session, ZooKeeperURL, leader_of, make_client
from corral.protocol.master_info import address_of

logger = logging.getLogger(__name__)

__all__ = [
    "MasterDetector", "StandaloneMasterDetector", "ZooKeeperMasterDetector", "detector_for", "parse_master",
    "resolve_master",
]


class MasterDetector(Protocol):
    """host:port of the leading master."""

    @property
    def dynamic(self) -> bool:
        """True when the leader may change under this detector: ask `detect()` before each connection."""
        ...

    async def detect(self) -> str: ...

    async def moved_from(self, address: str) -> None:
        """Return once another master than `address` leads (never, for a fixed master)."""
        ...

    async def close(self) -> None: ...


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


class StandaloneMasterDetector:
    """One master at a fixed address."""

    dynamic = False

    def __init__(self, address: str) -> None:
        self.address = address

    async def detect(self) -> str:
        return self.address

    async def moved_from(self, address: str) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None


class ZooKeeperMasterDetector:
    """The leader elected under a znode; the ZooKeeper session opens at the first `detect()`."""

    dynamic = True

    def __init__(self, url: ZooKeeperURL, session_timeout: float = 10.0) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self._session: Session | None = None
        self._detector: LeaderDetector | None = None
        self._lock = asyncio.Lock()

    async def detect(self) -> str:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._detector is None:
                session = Session(self.url, self.session_timeout, loop)
                await session.start(timeout=30)
                detector = LeaderDetector(session.client, self.url.path, loop)
                await loop.run_in_executor(None, detector.start)
                self._session, self._detector = session, detector
        return address_of(await self._detector.wait_for_leader())

    async def moved_from(self, address: str) -> None:
        await self.detect()
        assert self._detector is not None
        while self._detector.current is None or address_of(self._detector.current) == address:
            await self._detector.changed()

    async def close(self) -> None:
        if self._session is not None:
            try:
                await asyncio.wait_for(self._session.stop(), 5)
            except asyncio.TimeoutError:
                logger.warning("ZooKeeper session did not close in time")
            self._session = None


def detector_for(master: str | ZooKeeperURL, session_timeout: float = 10.0) -> MasterDetector:
    """The detector of a `--master` value (raises ValueError when it is neither form)."""
    where = parse_master(master) if isinstance(master, str) else master
    if isinstance(where, ZooKeeperURL):
        return ZooKeeperMasterDetector(where, session_timeout)
    return StandaloneMasterDetector(where)


def resolve_master(master: str, timeout: float = 10.0) -> str:
    """host:port of the leader, for command-line tools (blocking; zk:// URLs are looked up once)."""
    url = parse_master(master)
    if isinstance(url, str):
        return url
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
