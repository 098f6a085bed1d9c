"""What the agent remembers: frameworks, executors and their tasks."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from corral.protocol.states import TERMINAL_STATES
from corral.resources import Resources

# Kinds of executor containers.
COMMAND = "command"  # the built-in command executor, one per command task (in the agent for most: `in_agent`)
DEFAULT = "default"  # the built-in default executor, one per task group
CUSTOM = "custom"  # a framework's own executor program


@dataclass(frozen=True)
class Limitation:
    """A container went over a limit (TaskStatus reason, message and `limitation.resources`)."""

    reason: str  # REASON_CONTAINER_LIMITATION_MEMORY, ...
    message: str
    resources: list[dict[str, Any]] = field(default_factory=list)  # what was used, as Mesos reports it


@dataclass
class AgentTask:
    info: dict[str, Any]
    framework_id: str
    executor_id: str
    state: str = "TASK_STAGING"
    launched: bool = False  # delivered to the executor

    @property
    def task_id(self) -> str:
        return self.info["task_id"]["value"]

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def resources(self) -> Resources:
        return Resources.from_json(self.info.get("resources", []))


@dataclass
class Executor:
    framework_id: str
    executor_id: str
    info: dict[str, Any]
    kind: str
    container_id: str
    directory: str
    resources: Resources
    launched_at: float
    pid: int | None = None
    connection: Any = None  # the executor's SUBSCRIBE stream
    subscribed: bool = False
    terminating: bool = False
    killed_by_agent: bool = False
    recovered: bool = False  # found running after an agent restart
    pid_start: float | None = None  # the process's start time, so a reused pid is not mistaken for it
    kill_at: float | None = None  # when its shutdown grace period ends (clock time)
    ended: bool = False  # its tasks were ended and it left fw.executors
    # A command task the agent runs itself, without an executor process: `pid` is the task's
    # process, and its updates are the agent's (agent/state.py, "command tasks in the agent").
    in_agent: bool = False
    kill_requested: bool = False  # (in_agent) KILL_TASK came: its end is TASK_KILLED
    expire_at: float | None = None  # (in_agent) when its max_completion_time is reached
    expired: bool = False
    # Launches waiting for the executor to subscribe: ("LAUNCH", [task]) or ("LAUNCH_GROUP", [tasks]).
    queued: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    tasks: dict[str, AgentTask] = field(default_factory=dict)
    completed_tasks: deque[AgentTask] = field(default_factory=lambda: deque(maxlen=200))

    def total_resources(self) -> Resources:
        total = self.resources
        for task in self.tasks.values():
            if not task.terminal:
                total = total + task.resources
        return total


@dataclass
class FrameworkRecord:
    id: str
    info: dict[str, Any]
    executors: dict[str, Executor] = field(default_factory=dict)
    completed_executors: deque[Executor] = field(default_factory=lambda: deque(maxlen=50))
