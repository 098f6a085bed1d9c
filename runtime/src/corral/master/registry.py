"""The master's registry: what a new leader must know about the cluster.

It holds the admitted agents (so that a new leader knows whom to expect
back), agents marked unreachable or gone, role weights, quotas (Mesos's
QuotaConfig JSON by role), the agents an operator deactivated or drained, and
the maintenance schedule with its DOWN machines.  Two backends
behind one interface: a JSON file in the work directory (the embedded,
standalone default) and ZooKeeper (with --zk), where each agent is its own
znode so that no node approaches ZooKeeper's 1 MB limit.  The ZooKeeper
registry lives beside the election path (`<path>-registry`), never under it:
pymesos reads the smallest child of the election path as the leader.

Writes never block the master's state machine for long: the file is rewritten
whole, at most once per `FileRegistry.WRITE_DELAY` for all the changes made in
between (ten thousand agents registering at once would otherwise rewrite a
multi-megabyte file ten thousand times); ZooKeeper writes are asynchronous.  An operator
call that changed the registry is answered only once its writes are committed
(`flush`, as Mesos's registrar answers after the registry operation), so that a
200 means the change survives a failover.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

logger = logging.getLogger(__name__)


@dataclass
class RegistryData:
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # admitted: agent_id -> AgentInfo
    unreachable: dict[str, float] = field(default_factory=dict)  # agent_id -> when
    gone: set[str] = field(default_factory=set)
    weights: dict[str, float] = field(default_factory=dict)
    quotas: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> QuotaConfig JSON
    deactivations: dict[str, Any] = field(default_factory=dict)  # agent_id -> DrainInfo JSON or None
    maintenance: dict[str, Any] = field(default_factory=dict)  # {"schedule": Schedule JSON, "down": [MachineID]}


class RegistryError(RuntimeError):
    """A registry write that did not commit."""


class Registry:
    """No persistence (unit tests and embedded use without a work directory)."""

    def load(self) -> RegistryData:
        return RegistryData()

    async def flush(self, timeout: float = 10.0) -> None:
        """Return once every write issued so far is committed; RegistryError if one failed."""

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None: ...

    def mark_unreachable(self, agent_id: str, when: float) -> None: ...

    def mark_gone(self, agent_id: str) -> None: ...

    def set_weights(self, weights: dict[str, float]) -> None: ...

    def set_quotas(self, quotas: dict[str, dict[str, Any]]) -> None: ...

    def set_deactivations(self, deactivations: dict[str, Any]) -> None: ...

    def set_maintenance(self, maintenance: dict[str, Any]) -> None: ...


class FileRegistry(Registry):
    WRITE_DELAY = 0.2  # seconds a change may wait for its write, so that a burst of changes is written once

    def __init__(self, path: str) -> None:
        self.path = path
        self._data = self._read()
        self._pending: asyncio.TimerHandle | None = None
        self._failure: OSError | None = None  # of the last write

    async def flush(self, timeout: float = 10.0) -> None:
        if self._pending is not None or self._failure is not None:
            if self._pending is not None:
                self._pending.cancel()
            self._write_now()
        if self._failure is not None:
            raise RegistryError(f"the registry write of {self.path} failed: {self._failure}")

    def _write(self) -> None:
        """Write soon (within a running event loop), or now (without one)."""
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_now()
            return
        self._pending = loop.call_later(self.WRITE_DELAY, self._write_now)

    def _read(self) -> RegistryData:
        try:
            with open(self.path) as fh:
                raw = json.load(fh)
        except FileNotFoundError:
            return RegistryData()
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"registry {self.path} is unreadable: {exc}") from None
        return RegistryData(
            agents=raw.get("agents", {}), unreachable=raw.get("unreachable", {}),
            gone=set(raw.get("gone", [])), weights=raw.get("weights", {}), quotas=raw.get("quotas", {}),
            deactivations=raw.get("deactivations", {}), maintenance=raw.get("maintenance", {}),
        )

    def _write_now(self) -> None:
        self._pending = None
        d = self._data
        raw = {"agents": d.agents, "unreachable": d.unreachable, "gone": sorted(d.gone), "weights": d.weights,
               "quotas": d.quotas, "deactivations": d.deactivations, "maintenance": d.maintenance}
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".registry-")
            with os.fdopen(fd, "w") as fh:
                json.dump(raw, fh)
            os.replace(tmp, self.path)
        except OSError as exc:  # (the next change, or flush, writes it again)
            logger.error("registry %s: the write failed: %s", self.path, exc)
            self._failure = exc
        else:
            self._failure = None

    def load(self) -> RegistryData:
        self._data = self._read()
        d = self._data
        return RegistryData(dict(d.agents), dict(d.unreachable), set(d.gone), dict(d.weights), dict(d.quotas),
                            json.loads(json.dumps(d.deactivations)), json.loads(json.dumps(d.maintenance)))

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None:
        self._data.agents[agent_id] = info
        self._data.unreachable.pop(agent_id, None)
        self._write()

    def mark_unreachable(self, agent_id: str, when: float) -> None:
        self._data.unreachable[agent_id] = when
        self._write()

    def mark_gone(self, agent_id: str) -> None:
        self._data.gone.add(agent_id)
        self._data.agents.pop(agent_id, None)
        self._data.unreachable.pop(agent_id, None)
        self._write()

    def set_weights(self, weights: dict[str, float]) -> None:
        self._data.weights = dict(weights)
        self._write()

    def set_quotas(self, quotas: dict[str, dict[str, Any]]) -> None:
        self._data.quotas = dict(quotas)
        self._write()

    def set_deactivations(self, deactivations: dict[str, Any]) -> None:
        self._data.deactivations = json.loads(json.dumps(deactivations))
        self._write()

    def set_maintenance(self, maintenance: dict[str, Any]) -> None:
        self._data.maintenance = json.loads(json.dumps(maintenance))
        self._write()


class ZooKeeperRegistry(Registry):
    """`<root>/agents/<id>`, `<root>/unreachable/<id>`, `<root>/gone/<id>`, `<root>/weights`, `<root>/quotas`,
    `<root>/deactivations`, `<root>/maintenance`."""

    def __init__(self, client: Any, root: str) -> None:
        self.client = client
        self.root = root
        self._inflight: list[concurrent.futures.Future[None]] = []
        # What each znode holds as far as this leader knows (None: absent), from `load` and its own
        # writes; the znodes under a `_listed` parent that `_known` lacks are absent.  A write of what
        # is there already is left out: an agent re-registering with a new leader costs no write.
        self._known: dict[str, bytes | None] = {}
        self._listed: set[str] = set()

    async def flush(self, timeout: float = 10.0) -> None:
        pending, self._inflight = self._inflight, []
        if not pending:
            return
        done, not_done = await asyncio.wait([asyncio.wrap_future(f) for f in pending], timeout=timeout)
        if not_done:
            raise RegistryError(f"{len(not_done)} ZooKeeper write(s) not confirmed within {timeout:g} s")
        for future in done:
            future.result()  # raises the RegistryError of a failed write

    def load(self) -> RegistryData:
        """Blocking: call from a thread.  The agents' znodes are read all at once (pipelined): one
        round trip each, in turn, would keep a new leader reading for a minute with 10,000 agents."""
        client = self.client
        for sub in ("agents", "unreachable", "gone"):
            client.ensure_path(f"{self.root}/{sub}")
        data = RegistryData()
        self._known, self._listed = {}, set()
        for agent_id, raw in self._read_children("agents").items():
            try:
                data.agents[agent_id] = json.loads(raw)
            except ValueError:
                continue
        for agent_id, raw in self._read_children("unreachable").items():
            try:
                data.unreachable[agent_id] = float(raw or 0)
            except ValueError:
                continue
        data.gone = set(client.get_children(f"{self.root}/gone"))
        for name, raw in self._read_all([f"{self.root}/{name}" for name in ("weights", "quotas", "deactivations", "maintenance")]).items():
            try:
                setattr(data, name.rsplit("/", 1)[1], json.loads(raw or b"{}"))
            except ValueError:
                pass
        return data

    def _read_children(self, sub: str) -> dict[str, bytes]:
        parent = f"{self.root}/{sub}"
        children = self._read_all([f"{parent}/{child}" for child in self.client.get_children(parent)])
        self._known.update(children)
        self._listed.add(parent)
        return {path.rsplit("/", 1)[1]: raw for path, raw in children.items()}

    def _holds(self, path: str, value: bytes | None) -> bool:
        """Does the znode at `path` hold `value` (None: is it absent) as far as this leader knows?"""
        if path in self._known:
            return self._known[path] == value
        return value is None and path.rsplit("/", 1)[0] in self._listed

    def _read_all(self, paths: list[str]) -> dict[str, bytes]:
        """The data of each of `paths` that exists, read with every request in flight at once."""
        from kazoo.exceptions import NoNodeError

        pending = [(path, self.client.get_async(path)) for path in paths]
        out = {}
        for path, result in pending:
            try:
                out[path] = result.get()[0]
            except NoNodeError:
                continue
        return out

    def _track(self) -> "concurrent.futures.Future[None]":
        """A write's completion, for the next `flush` (writes no call waits for are pruned once done)."""
        if len(self._inflight) >= 1024:
            self._inflight = [f for f in self._inflight if not f.done() or f.exception() is not None]
        committed: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._inflight.append(committed)
        return committed

    def _put(self, path: str, value: bytes) -> None:
        if self._holds(path, value):
            return
        self._known[path] = value
        committed = self._track()

        def created(result: Any) -> None:  # (on kazoo's thread)
            try:
                result.get()
                committed.set_result(None)
            except Exception as exc:  # noqa: BLE001 - kazoo raises NodeExists and friends
                if type(exc).__name__ == "NodeExistsError":
                    self.client.set_async(path, value).rawlink(self._settle(path, committed))
                else:
                    self._fail(path, committed, exc)

        self.client.create_async(path, value, makepath=True).rawlink(created)

    def _delete(self, path: str) -> None:
        if self._holds(path, None):
            return
        self._known[path] = None
        committed = self._track()

        def deleted(result: Any) -> None:
            try:
                result.get()
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ != "NoNodeError":  # (already gone is deleted)
                    self._fail(path, committed, exc)
                    return
            committed.set_result(None)

        self.client.delete_async(path).rawlink(deleted)

    def _settle(self, path: str, committed: "concurrent.futures.Future[None]") -> Callable[[Any], None]:
        def check(result: Any) -> None:
            try:
                result.get()
                committed.set_result(None)
            except Exception as exc:  # noqa: BLE001
                self._fail(path, committed, exc)

        return check

    def _fail(self, path: str, committed: "concurrent.futures.Future[None]", exc: BaseException) -> None:
        self._known.pop(path, None)  # (what the znode holds is not known now)
        logger.warning("registry write %s failed: %s", path, exc)
        committed.set_exception(RegistryError(f"the registry write of {path} failed: {exc}"))

    def admit_agent(self, agent_id: str, info: dict[str, Any]) -> None:
        self._put(f"{self.root}/agents/{agent_id}", json.dumps(info).encode())
        self._delete(f"{self.root}/unreachable/{agent_id}")

    def mark_unreachable(self, agent_id: str, when: float) -> None:
        self._put(f"{self.root}/unreachable/{agent_id}", str(when).encode())

    def mark_gone(self, agent_id: str) -> None:
        self._put(f"{self.root}/gone/{agent_id}", b"")
        self._delete(f"{self.root}/agents/{agent_id}")
        self._delete(f"{self.root}/unreachable/{agent_id}")

    def set_weights(self, weights: dict[str, float]) -> None:
        self._put(f"{self.root}/weights", json.dumps(weights).encode())

    def set_quotas(self, quotas: dict[str, dict[str, Any]]) -> None:
        self._put(f"{self.root}/quotas", json.dumps(quotas).encode())

    def set_deactivations(self, deactivations: dict[str, Any]) -> None:
        self._put(f"{self.root}/deactivations", json.dumps(deactivations).encode())

    def set_maintenance(self, maintenance: dict[str, Any]) -> None:
        self._put(f"{self.root}/maintenance", json.dumps(maintenance).encode())
