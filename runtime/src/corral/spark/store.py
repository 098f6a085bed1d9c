"""Where the dispatcher keeps its queue: a local JSON file, or ZooKeeper (via kazoo).

What is kept: the framework id (to re-subscribe as the same framework after a
restart), the submission counter, and every submission with its tasks.

ZooKeeper layout under the path of `zk://[user:password@]host:port,.../path` (the parsed
`--zk`, a `corral.leader.zookeeper.ZooKeeperURL`):

    <path>/framework_id          the framework id (UTF-8)
    <path>/seq                   the last submission number
    <path>/submissions/<id>      one submission as JSON (a few KB; far below the 1 MB znode limit)

The methods are blocking; the daemon calls them from a worker thread with
already-serialized data.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from corral.leader.zookeeper import ZooKeeperURL

logger = logging.getLogger(__name__)


class StoreError(RuntimeError):
    pass


@dataclass
class Stored:
    framework_id: str | None = None
    seq: int = 0
    submissions: list[dict[str, Any]] = field(default_factory=list)


class Store(Protocol):
    def load(self) -> Stored: ...

    def save(self, submissions: list[dict[str, Any]], forgotten: list[str], seq: int) -> None: ...

    def save_framework_id(self, framework_id: str | None) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class FileStore:
    """The whole queue in one JSON file, replaced atomically on every change."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._data: dict[str, Any] = {"framework_id": None, "seq": 0, "submissions": {}}

    def describe(self) -> str:
        return f"file {self.path}"

    def load(self) -> Stored:
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return Stored()
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the dispatcher's queue from {self.path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("submissions", {}), dict):
            raise StoreError(f"{self.path} is not a dispatcher queue file")
        self._data = {"framework_id": data.get("framework_id"), "seq": int(data.get("seq") or 0),
                      "submissions": dict(data.get("submissions") or {})}
        return Stored(self._data["framework_id"], self._data["seq"], list(self._data["submissions"].values()))

    def save(self, submissions: list[dict[str, Any]], forgotten: list[str], seq: int) -> None:
        for sub in submissions:
            self._data["submissions"][sub["id"]] = sub
        for sid in forgotten:
            self._data["submissions"].pop(sid, None)
        self._data["seq"] = max(int(self._data.get("seq") or 0), seq)
        self._write()

    def save_framework_id(self, framework_id: str | None) -> None:
        self._data["framework_id"] = framework_id
        self._write()

    def _write(self) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".queue-", dir=directory)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(self._data, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def close(self) -> None:
        pass


class ZooKeeperStore:
    """One znode per submission; the framework id and counter beside them."""

    def __init__(self, url: ZooKeeperURL, timeout: float = 10.0) -> None:
        from corral.leader.zookeeper import make_client

        self.url = url
        self.root = url.path
        self.client = make_client(url, timeout)
        try:
            self.client.start(timeout=timeout)
        except Exception as exc:  # kazoo raises its own timeout type
            self.client.close()
            raise StoreError(f"--zk: cannot reach ZooKeeper at {url.hosts}: {exc}") from None
        self.client.ensure_path(f"{self.root}/submissions")

    def describe(self) -> str:
        return f"ZooKeeper {self.url}"

    def load(self) -> Stored:
        stored = Stored()
        if self.client.exists(f"{self.root}/framework_id"):
            data, _ = self.client.get(f"{self.root}/framework_id")
            stored.framework_id = data.decode() or None
        if self.client.exists(f"{self.root}/seq"):
            data, _ = self.client.get(f"{self.root}/seq")
            stored.seq = int(data.decode() or 0)
        for child in sorted(self.client.get_children(f"{self.root}/submissions")):
            data, _ = self.client.get(f"{self.root}/submissions/{child}")
            try:
                stored.submissions.append(json.loads(data))
            except ValueError:
                logger.error("ignoring unreadable submission znode %s/submissions/%s", self.root, child)
        return stored

    def _put(self, path: str, data: bytes) -> None:
        if self.client.exists(path):
            self.client.set(path, data)
        else:
            self.client.create(path, data, makepath=True)

    def save(self, submissions: list[dict[str, Any]], forgotten: list[str], seq: int) -> None:
        for sub in submissions:
            data = json.dumps(sub, separators=(",", ":")).encode()
            if len(data) > 1_000_000:
                raise StoreError(f"submission {sub['id']} is {len(data)} bytes, over ZooKeeper's 1 MB znode limit")
            self._put(f"{self.root}/submissions/{sub['id']}", data)
        for sid in forgotten:
            if self.client.exists(f"{self.root}/submissions/{sid}"):
                self.client.delete(f"{self.root}/submissions/{sid}")
        self._put(f"{self.root}/seq", str(seq).encode())

    def save_framework_id(self, framework_id: str | None) -> None:
        self._put(f"{self.root}/framework_id", (framework_id or "").encode())

    def close(self) -> None:
        try:
            self.client.stop()
        finally:
            self.client.close()


def open_store(zk: ZooKeeperURL | None, work_dir: str) -> Store:
    if zk is not None:
        return ZooKeeperStore(zk)
    return FileStore(os.path.join(work_dir, "queue.json"))
