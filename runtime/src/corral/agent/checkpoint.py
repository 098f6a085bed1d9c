"""What the agent writes down so that a restarted agent finds its executors again.

    <work_dir>/meta/agent_id
    <work_dir>/meta/resources.json      (checkpointed reservations and volumes)
    <work_dir>/meta/checkpoint.log      one JSON line per change:
        ["framework", fid, FrameworkInfo]
        ["executor", fid, eid, record]         (info, container, pid, cgroup, ...)
        ["task", fid, eid, TaskInfo]
        ["update", fid, tid, update] | ["ack", fid, tid, uuid]   (the status update journal)
        ["forget_executor", fid, eid, [tid]] | ["forget_tasks", fid, eid, [tid]]

A log, not a file per record: launching a task checkpoints its executor, the
task and four journal entries, and on this kind of disk each file created,
renamed or removed costs 100-350 us of CPU where an append to an open file
costs a few.  Replaying the log (`CheckpointModel`) gives what is live; when
the log has grown to several times that, it is rewritten as the live records
alone (write, then rename).  A line torn by a crash is skipped.
"""

from __future__ import annotations

import json

import msgspec
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

LOG = "checkpoint.log"
# Rewrite the log once this many lines, and twice the live records, have been appended since
# it was last rewritten: each rewrite is paid for by the appends before it.
COMPACT_SLACK = 2000


@dataclass
class Recovered:
    frameworks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (framework_id, executor_id) -> the executor's record
    executors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (framework_id, executor_id) -> [TaskInfo]
    tasks: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (framework_id, task_id) -> [("update", update) | ("ack", uuid)]
    journals: dict[tuple[str, str], list[tuple[str, Any]]] = field(default_factory=dict)


class CheckpointModel:
    """The live checkpoint: the log's lines applied in order (pure)."""

    def __init__(self) -> None:
        self.frameworks: dict[str, dict[str, Any]] = {}
        self.executors: dict[tuple[str, str], dict[str, Any]] = {}
        self.tasks: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.journals: dict[tuple[str, str], list[tuple[str, Any]]] = {}

    def apply(self, entry: list[Any]) -> None:
        kind = entry[0]
        if kind == "framework":
            self.frameworks[entry[1]] = entry[2]
        elif kind == "executor":
            self.executors[(entry[1], entry[2])] = entry[3]
        elif kind == "task":
            self.tasks.setdefault((entry[1], entry[2]), {})[entry[3]["task_id"]["value"]] = entry[3]
        elif kind in ("update", "ack"):
            self.journals.setdefault((entry[1], entry[2]), []).append((kind, entry[3]))
        elif kind == "forget_executor":
            self.executors.pop((entry[1], entry[2]), None)
            self.tasks.pop((entry[1], entry[2]), None)
            self._forget_journals(entry[1], entry[3])
        elif kind == "forget_tasks":
            tasks = self.tasks.get((entry[1], entry[2]), {})
            for task_id in entry[3]:
                tasks.pop(task_id, None)
            self._forget_journals(entry[1], entry[3])
        else:
            raise ValueError(f"unknown checkpoint entry {kind!r}")

    def _forget_journals(self, framework_id: str, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self.journals.pop((framework_id, task_id), None)

    def entries(self) -> list[list[Any]]:
        """The live records as log lines, in an order that replays to this model."""
        out: list[list[Any]] = [["framework", fid, info] for fid, info in self.frameworks.items()]
        out += [["executor", fid, eid, record] for (fid, eid), record in self.executors.items()]
        out += [["task", fid, eid, task] for (fid, eid), tasks in self.tasks.items() for task in tasks.values()]
        out += [[kind, fid, tid, data] for (fid, tid), journal in self.journals.items() for kind, data in journal]
        return out

    def recovered(self) -> Recovered:
        return Recovered(
            frameworks=dict(self.frameworks),
            executors={k: v for k, v in self.executors.items() if k[0] in self.frameworks},
            tasks={k: list(v.values()) for k, v in self.tasks.items() if k in self.executors},
            journals={k: list(v) for k, v in self.journals.items()},
        )


_encoder = msgspec.json.Encoder()  # (several entries per task: json.dumps was a tenth of the agent's CPU)


class Checkpointer:
    def __init__(self, meta_dir: str) -> None:
        self.root = meta_dir
        self.model = CheckpointModel()
        self._fd: int | None = None  # the log, opened (and a stale one dropped) by the first write unless loaded
        self._lines = 0  # in the log file
        self._compact_at = 0  # lines at which to rewrite it, set by each rewrite

    def _write(self, entry: list[Any]) -> None:
        self.model.apply(entry)
        if self._fd is None:
            self._rewrite()  # a log no recovery read describes nothing that runs
            return
        os.write(self._fd, _encoder.encode(entry) + b"\n")
        self._lines += 1
        if self._lines > self._compact_at:
            self._rewrite()

    def _rewrite(self) -> None:
        """Replace the log with the live records alone."""
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, LOG)
        entries = self.model.entries()
        with open(path + ".tmp", "w") as fh:
            fh.writelines(json.dumps(entry) + "\n" for entry in entries)
        os.replace(path + ".tmp", path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._lines = len(entries)
        self._compact_at = COMPACT_SLACK + 3 * len(entries)

    @staticmethod
    def _write_json(path: str, data: Any) -> None:
        """Atomically (write then rename)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as fh:
            json.dump(data, fh)
        os.replace(path + ".tmp", path)

    # -- writing ----------------------------------------------------------------------

    def agent_id(self, agent_id: str) -> None:
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, "agent_id"), "w") as fh:
            fh.write(agent_id)

    def resources(self, resources: list[dict[str, Any]]) -> None:
        """The dynamic reservations and volumes the master asked this agent to checkpoint (CHECKPOINT_RESOURCES)."""
        self._write_json(os.path.join(self.root, "resources.json"), resources)

    def volumes(self, create: list[str], delete: list[str]) -> None:
        """Create and delete persistent volumes' directories (agent/volumes.py)."""
        for path in create:
            os.makedirs(path, mode=0o755, exist_ok=True)
        for path in delete:
            shutil.rmtree(path, ignore_errors=True)
            logger.info("Deleted persistent volume %s", path)

    def framework(self, framework_id: str, info: dict[str, Any]) -> None:
        self._write(["framework", framework_id, info])

    def executor(self, framework_id: str, executor_id: str, record: dict[str, Any]) -> None:
        self._write(["executor", framework_id, executor_id, record])

    def task(self, framework_id: str, executor_id: str, task: dict[str, Any]) -> None:
        self._write(["task", framework_id, executor_id, task])

    def journal(self, framework_id: str, task_id: str, kind: str, data: Any) -> None:
        self._write([kind, framework_id, task_id, data])

    def forget_executor(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None:
        self._write(["forget_executor", framework_id, executor_id, task_ids])

    def forget_tasks(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None:
        self._write(["forget_tasks", framework_id, executor_id, task_ids])

    def forget_all(self) -> None:
        self.model = CheckpointModel()
        self._rewrite()

    # -- reading ----------------------------------------------------------------------

    def load_agent_id(self) -> str | None:
        try:
            with open(os.path.join(self.root, "agent_id")) as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    def load_resources(self) -> list[dict[str, Any]]:
        try:
            with open(os.path.join(self.root, "resources.json")) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"the checkpointed resources {self.root}/resources.json are unreadable: {exc}") from None
        return data if isinstance(data, list) else []

    def load(self) -> Recovered:
        """Replay the log; later writes append to it."""
        self.model = CheckpointModel()
        path = os.path.join(self.root, LOG)
        try:
            with open(path) as fh:
                for number, line in enumerate(fh, 1):
                    try:
                        self.model.apply(json.loads(line))
                    except (ValueError, KeyError, IndexError, TypeError):
                        logger.warning("skipping a torn or unreadable line %d of %s", number, path)
        except FileNotFoundError:
            pass
        self._rewrite()
        return self.model.recovered()
