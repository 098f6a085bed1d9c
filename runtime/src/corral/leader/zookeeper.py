"""Leader election and detection through ZooKeeper (kazoo), Mesos's layout.

Masters contend by creating ephemeral sequential znodes `json.info_NNNNNNNNNN`
under the election path, each holding a MasterInfo JSON; the lowest sequence
leads.  Detectors (agents, the scheduler SDK, pymesos) read the lowest node.
Nothing else may live under the election path: pymesos takes the smallest
child whatever its name, so the registry lives beside it (see master/registry.py).

`LeaderContender` and `LeaderDetector` are the znode-level pieces (Mesos's
zookeeper::LeaderContender / LeaderDetector); the master's contender and the
clients' detector around them are `contender.py` and `detector.py`.

kazoo calls back on its own threads; events are handed to the asyncio loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoNodeError

logger = logging.getLogger(__name__)

PREFIX = "json.info_"
_URL = re.compile(r"^zk://(?:(?P<auth>[^@/]+)@)?(?P<hosts>[^/]+)(?P<path>/.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ZooKeeperURLError(ValueError):
    pass


@dataclass(frozen=True)
class ZooKeeperURL:
    """`zk://[user:password@]host:port[,host:port...]/path`; str() leaves the credentials out."""

    hosts: str
    path: str
    auth: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> "ZooKeeperURL":
        text = url.strip()
        m = _URL.match(text)
        if not m or _CONTROL.search(text):
            raise ZooKeeperURLError(f"'{url}' is not zk://host:port[,host:port...]/path")
        path = m.group("path").rstrip("/")
        if not path:
            raise ZooKeeperURLError(f"'{url}' needs a znode path after the hosts, e.g. zk://h1:2181/corral")
        if any(part in ("", ".", "..") for part in path[1:].split("/")):
            raise ZooKeeperURLError(f"'{url}': '{path}' is not a znode path (empty, '.' or '..' component)")
        for host in m.group("hosts").split(","):
            name, sep, port = host.rpartition(":")
            if not sep or not name or any(c.isspace() for c in name) or not _is_port(port):
                raise ZooKeeperURLError(f"'{url}': '{host}' is not host:port")
        return cls(m.group("hosts"), path, m.group("auth"))

    @property
    def servers(self) -> list[str]:
        return self.hosts.split(",")

    def __str__(self) -> str:
        return f"zk://{self.hosts}{self.path}"


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536


def make_client(url: ZooKeeperURL, session_timeout: float) -> KazooClient:
    auth = None
    if url.auth:
        auth = [("digest", url.auth)]
    return KazooClient(hosts=url.hosts, timeout=session_timeout, auth_data=auth, connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 2})


def leader_of(children: list[str]) -> str | None:
    """The election node that leads: the lowest sequence number."""
    nodes = [c for c in children if c.startswith(PREFIX)]
    return min(nodes, key=lambda c: c[len(PREFIX):]) if nodes else None


class LeaderContender:
    """A master's candidacy.  `on_change(leading)` is called on the loop."""

    def __init__(
        self,
        client: KazooClient,
        path: str,
        master_info: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[bool], None],
    ) -> None:
        self.client = client
        self.path = path
        self.master_info = master_info
        self.loop = loop
        self.on_change = on_change
        self.node: str | None = None
        self.leading = False

    def contend(self) -> None:
        """Create our node and start watching (call again after the session was lost)."""
        self.client.ensure_path(self.path)
        created = self.client.create(
            f"{self.path}/{PREFIX}", json.dumps(self.master_info).encode(), ephemeral=True, sequence=True
        )
        self.node = created.rsplit("/", 1)[1]
        logger.info("Contending for leadership as %s", created)
        self.client.ChildrenWatch(self.path, self._children_changed)

    def _children_changed(self, children: list[str]) -> bool:
        leading = self.node is not None and leader_of(children) == self.node and self.node in children
        if leading != self.leading:
            self.leading = leading
            self.loop.call_soon_threadsafe(self.on_change, leading)
        # Stop this watch once our node is gone: a new candidacy installs its own.
        return self.node is not None and self.node in children

    def withdraw(self) -> None:
        if self.node is not None:
            try:
                self.client.delete(f"{self.path}/{self.node}")
            except NoNodeError:
                pass
        self.node = None
        self.leading = False


class LeaderDetector:
    """Follows the leading master: `current` is its MasterInfo (None while there is none)."""

    def __init__(self, client: KazooClient, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.path = path
        self.loop = loop
        self.current: dict[str, Any] | None = None
        self._changed = asyncio.Event()
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.client.ensure_path(self.path)
        self.client.ChildrenWatch(self.path, self._children_changed)

    def _children_changed(self, children: list[str]) -> None:
        node = leader_of(children)
        info = None
        if node is not None:
            try:
                data, _ = self.client.get(f"{self.path}/{node}")
                info = json.loads(data)
            except (NoNodeError, ValueError):
                info = None
        self.loop.call_soon_threadsafe(self._set, info)

    def _set(self, info: dict[str, Any] | None) -> None:
        if info != self.current:
            self.current = info
            self._changed.set()

    async def wait_for_leader(self) -> dict[str, Any]:
        while self.current is None:
            self._changed.clear()
            await self._changed.wait()
        return self.current

    async def changed(self) -> None:
        """Wait for the next change of leader."""
        self._changed.clear()
        await self._changed.wait()


class Session:
    """A kazoo client whose connection states are reported on the asyncio loop."""

    def __init__(self, url: ZooKeeperURL, session_timeout: float, loop: asyncio.AbstractEventLoop,
                 on_state: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.loop = loop
        self.client = make_client(url, session_timeout)
        self.on_state = on_state
        self.client.add_listener(self._listener)

    def _listener(self, state: str) -> None:
        if self.on_state is not None:
            self.loop.call_soon_threadsafe(self.on_state, str(state))

    async def start(self, timeout: float = 30.0) -> None:
        await asyncio.get_running_loop().run_in_executor(None, lambda: self.client.start(timeout=timeout))

    async def stop(self) -> None:
        def stop() -> None:
            self.client.stop()
            self.client.close()

        await asyncio.get_running_loop().run_in_executor(None, stop)


__all__ = [
    "KazooState", "PREFIX", "LeaderContender", "LeaderDetector", "Session", "ZooKeeperURL",
    "ZooKeeperURLError", "leader_of",
]
