"""What the master remembers: frameworks, agents, tasks and offers."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Protocol

from corral.protocol.states import TERMINAL_STATES
from corral.resources import Resources


class Connection(Protocol):
    """An event stream to a framework, an agent or an operator subscriber.

    `send` queues without blocking; `close` ends the stream.  The HTTP layer
    implements it over a RecordIO response; tests record what is sent.
    """

    def send(self, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@dataclass
class Task:
    task_id: str
    framework_id: str
    agent_id: str
    executor_id: str | None
    name: str
    role: str
    resources: Resources
    info: dict[str, Any]
    state: str = "TASK_STAGING"
    # The state last forwarded to the framework (updates may be queued behind it on the agent).
    status: dict[str, Any] | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)
    # uuid of the terminal update; the task is forgotten once it is acknowledged.
    terminal_uuid: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass
class Framework:
    id: str
    info: dict[str, Any]
    roles: set[str]
    capabilities: set[str]
    registered_time: float
    connection: Connection | None = None
    stream_id: str | None = None
    connected: bool = False
    active: bool = False
    # Mesos's RECOVERED state: learnt from re-registering agents after a master failover and not
    # subscribed to this master yet.  Kept, with its tasks, until it subscribes or is torn down;
    # no failover timer runs for it (the timeout counts from a disconnection this master saw).
    recovered: bool = False
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    # Set when the framework disconnects from this master: it is removed when the deadline passes.
    failover_deadline: float | None = None
    suppressed_roles: set[str] = field(default_factory=set)
    tasks: dict[str, Task] = field(default_factory=dict)
    # agent_id -> executor_id -> ExecutorInfo (custom or default executors in use)
    executors: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    offers: set[str] = field(default_factory=set)
    completed_tasks: collections.deque[Task] = field(default_factory=lambda: collections.deque(maxlen=1000))
    last_heartbeat: float = 0.0

    @property
    def name(self) -> str:
        return str(self.info.get("name", ""))

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    @property
    def failover_timeout(self) -> float:
        value = self.info.get("failover_timeout") or 0.0
        return float(value)


@dataclass
class Agent:
    id: str
    info: dict[str, Any]
    total: Resources
    registered_time: float
    connection: Connection | None = None
    stream_id: str | None = None
    connected: bool = True
    active: bool = True  # False while an operator has it deactivated or drained (master/drains.py)
    drain: dict[str, Any] | None = None  # Mesos's DrainInfo JSON while it drains or is drained
    unavailability: dict[str, Any] | None = None  # its machine's maintenance window (master/maintenance.py)
    version: str = ""
    last_seen: float = 0.0
    last_ping: float = 0.0
    reregistered_time: float | None = None
    # framework_id -> task_id -> Task (non-terminal or awaiting acknowledgement)
    tasks: dict[str, dict[str, Task]] = field(default_factory=dict)
    # framework_id -> executor_id -> (role, resources) of executors with their own resources
    executors: dict[str, dict[str, tuple[str, Resources]]] = field(default_factory=dict)
    offers: set[str] = field(default_factory=set)

    @property
    def hostname(self) -> str:
        return str(self.info.get("hostname", ""))

    @property
    def port(self) -> int:
        return int(self.info.get("port", 5051))

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.info.get('ip', self.hostname)}:{self.port}"

    def used(self) -> Resources:
        used = Resources()
        for tasks in self.tasks.values():
            for task in tasks.values():
                if not task.terminal:
                    used = used + task.resources
        for executors in self.executors.values():
            for _, resources in executors.values():
                used = used + resources
        return used


@dataclass
class Offer:
    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    created: float
    expires: float | None = None
