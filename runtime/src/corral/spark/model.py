"""A submission, the tasks of its current attempt, and their JSON form for the queue store.

States (the queue's, also what the REST status reports as `driverState`):

    QUEUED ──▶ LAUNCHING ──▶ RUNNING ──▶ FINISHED
       ▲           │            │──────▶ FAILED
       │           ▼            ▼
       └──────  RETRYING  ◀── (supervised driver failed)      KILLED from any non-final state

Task ids are `<submission>.<attempt>.master|driver|worker-<n>`, so that every
status update names its submission and attempt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from corral.spark.protocol import CreateSubmission, decode_create

QUEUED = "QUEUED"
LAUNCHING = "LAUNCHING"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"
RETRYING = "RETRYING"

STATES = (QUEUED, LAUNCHING, RUNNING, FINISHED, FAILED, KILLED, RETRYING)
WAITING = frozenset({QUEUED, RETRYING})
ACTIVE = frozenset({LAUNCHING, RUNNING})
FINAL = frozenset({FINISHED, FAILED, KILLED})

MASTER = "master"
DRIVER = "driver"
WORKER = "worker"

TERMINAL_TASK_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
     "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
)


def task_id(submission_id: str, attempt: int, name: str) -> str:
    return f"{submission_id}.{attempt}.{name}"


def parse_task_id(value: str) -> tuple[str, int, str] | None:
    """`driver-2026...-0001.2.worker-3` → (submission id, attempt, name)."""
    parts = value.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]


@dataclass
class TaskRecord:
    task_id: str
    kind: str  # master | driver | worker
    attempt: int
    agent_id: str
    host: str  # the address the Spark daemon binds to (the agent's IP)
    agent_address: str  # host:port of the agent, for its /files API
    cpus: float
    mem: float
    cores: int = 0  # a worker's Spark cores
    state: str = "TASK_STAGING"
    message: str = ""
    launched_at: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # reported by the launcher: URLs, ports, sandbox
    kill_sent_at: float = 0.0  # when a kill was last sent (0: never)
    idle_since: float | None = None  # fine-grained: a worker without executors since

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_TASK_STATES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskRecord":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Submission:
    id: str
    request: CreateSubmission
    submitted_at: float
    state: str = QUEUED
    reason: str = "waiting for resource offers"
    attempt: int = 0  # attempts launched so far
    retries: int = 0
    next_retry_at: float | None = None
    retry_wait: float = 0.0
    last_failure: str = ""
    kill_requested: bool = False
    started_at: float | None = None  # the current attempt's launch
    finished_at: float | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    worker_seq: int = 0
    app_id: str | None = None  # Spark's application id, once the driver registered
    wanted_workers: int = 0  # fine-grained: workers the app asks for (observed)

    @property
    def name(self) -> str:
        return self.request.spark_properties.get("spark.app.name", self.id)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def current(self, kind: str | None = None, alive_only: bool = True) -> list[TaskRecord]:
        """Tasks of the current attempt (optionally of one kind, not yet terminal)."""
        return [
            t for t in self.tasks.values()
            if t.attempt == self.attempt and (kind is None or t.kind == kind) and not (alive_only and t.terminal)
        ]

    def task(self, kind: str) -> TaskRecord | None:
        for t in self.tasks.values():
            if t.attempt == self.attempt and t.kind == kind:
                return t
        return None

    def live_tasks(self) -> list[TaskRecord]:
        return [t for t in self.tasks.values() if not t.terminal]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": self.request.to_json(),
            "submitted_at": self.submitted_at,
            "state": self.state,
            "reason": self.reason,
            "attempt": self.attempt,
            "retries": self.retries,
            "next_retry_at": self.next_retry_at,
            "retry_wait": self.retry_wait,
            "last_failure": self.last_failure,
            "kill_requested": self.kill_requested,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tasks": [t.to_json() for t in self.tasks.values()],
            "worker_seq": self.worker_seq,
            "app_id": self.app_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Submission":
        sub = cls(id=data["id"], request=decode_create(data["request"]), submitted_at=data["submitted_at"])
        for key in ("state", "reason", "attempt", "retries", "next_retry_at", "retry_wait", "last_failure",
                    "kill_requested", "started_at", "finished_at", "worker_seq", "app_id"):
            if key in data:
                setattr(sub, key, data[key])
        if sub.state not in STATES:
            raise ValueError(f"submission {sub.id}: unknown state {sub.state!r}")
        sub.tasks = {t["task_id"]: TaskRecord.from_json(t) for t in data.get("tasks", [])}
        return sub
