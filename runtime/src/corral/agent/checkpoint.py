"""What the agent writes down so that a restarted agent finds its executors again.

    <work_dir>/meta/agent_id
    <work_dir>/meta/frameworks/<fid>/framework.json
    <work_dir>/meta/frameworks/<fid>/executors/<eid>/executor.json   (info, container, pid, cgroup)
    <work_dir>/meta/frameworks/<fid>/executors/<eid>/tasks/<tid>.json (TaskInfo)
    <work_dir>/meta/frameworks/<fid>/updates/<tid>.log                (status update journal)

The update journal is the status update manager's: one JSON line per update
and per acknowledgement, replayed on recovery so that unacknowledged updates
are delivered after an agent restart.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


def _safe(name: str) -> str:
    # Mesos ids never contain '/' (validated); be defensive about the file system anyway.
    return name.replace("/", "%2F")


@dataclass
class Recovered:
    frameworks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (framework_id, executor_id) -> executor.json content
    executors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (framework_id, executor_id) -> [TaskInfo]
    tasks: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (framework_id, task_id) -> [("update", update) | ("ack", uuid)]
    journals: dict[tuple[str, str], list[tuple[str, Any]]] = field(default_factory=dict)


class Checkpointer:
    def __init__(self, meta_dir: str) -> None:
        self.root = meta_dir

    def _framework_dir(self, framework_id: str) -> str:
        return os.path.join(self.root, "frameworks", _safe(framework_id))

    def _executor_dir(self, framework_id: str, executor_id: str) -> str:
        return os.path.join(self._framework_dir(framework_id), "executors", _safe(executor_id))

    @staticmethod
    def _write_json(path: str, data: Any) -> None:
        """Atomically (write then rename); raw os calls: this runs for every task launched."""
        tmp = path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(data).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)

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
        self._write_json(os.path.join(self._framework_dir(framework_id), "framework.json"), info)

    def executor(self, framework_id: str, executor_id: str, record: dict[str, Any]) -> None:
        self._write_json(os.path.join(self._executor_dir(framework_id, executor_id), "executor.json"), record)

    def task(self, framework_id: str, executor_id: str, task: dict[str, Any]) -> None:
        path = os.path.join(self._executor_dir(framework_id, executor_id), "tasks", _safe(task["task_id"]["value"]) + ".json")
        self._write_json(path, task)

    def journal(self, framework_id: str, task_id: str, kind: str, data: Any) -> None:
        directory = os.path.join(self._framework_dir(framework_id), "updates")
        path = os.path.join(directory, _safe(task_id) + ".log")
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, (json.dumps([kind, data]) + "\n").encode())
        finally:
            os.close(fd)

    def forget_executor(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None:
        shutil.rmtree(self._executor_dir(framework_id, executor_id), ignore_errors=True)
        self._forget_journals(framework_id, task_ids)

    def forget_tasks(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None:
        for task_id in task_ids:
            try:
                os.unlink(os.path.join(self._executor_dir(framework_id, executor_id), "tasks", _safe(task_id) + ".json"))
            except FileNotFoundError:
                pass
        self._forget_journals(framework_id, task_ids)

    def _forget_journals(self, framework_id: str, task_ids: list[str]) -> None:
        for task_id in task_ids:
            try:
                os.unlink(os.path.join(self._framework_dir(framework_id), "updates", _safe(task_id) + ".log"))
            except FileNotFoundError:
                pass

    def forget_framework(self, framework_id: str) -> None:
        shutil.rmtree(self._framework_dir(framework_id), ignore_errors=True)

    def forget_all(self) -> None:
        shutil.rmtree(os.path.join(self.root, "frameworks"), ignore_errors=True)

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
        out = Recovered()
        base = os.path.join(self.root, "frameworks")
        if not os.path.isdir(base):
            return out
        for fw_name in os.listdir(base):
            fw_dir = os.path.join(base, fw_name)
            info = _read_json(os.path.join(fw_dir, "framework.json"))
            if info is None:
                continue
            framework_id = info["id"]["value"]
            out.frameworks[framework_id] = info
            executors_dir = os.path.join(fw_dir, "executors")
            for ex_name in os.listdir(executors_dir) if os.path.isdir(executors_dir) else []:
                record = _read_json(os.path.join(executors_dir, ex_name, "executor.json"))
                if record is None:
                    continue
                key = (framework_id, record["executor_id"])
                out.executors[key] = record
                tasks_dir = os.path.join(executors_dir, ex_name, "tasks")
                tasks = [_read_json(os.path.join(tasks_dir, n)) for n in sorted(os.listdir(tasks_dir))] if os.path.isdir(tasks_dir) else []
                out.tasks[key] = [t for t in tasks if t is not None]
            updates_dir = os.path.join(fw_dir, "updates")
            for log_name in os.listdir(updates_dir) if os.path.isdir(updates_dir) else []:
                entries = []
                with open(os.path.join(updates_dir, log_name)) as fh:
                    for line in fh:
                        try:
                            kind, data = json.loads(line)
                        except ValueError:
                            logger.warning("skipping a torn line in %s", log_name)
                            continue
                        entries.append((kind, data))
                task_id = log_name[: -len(".log")].replace("%2F", "/")
                out.journals[(framework_id, task_id)] = entries
        return out


def _read_json(path: str) -> Any:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None
