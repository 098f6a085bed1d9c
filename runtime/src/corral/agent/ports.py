"""The ports of the agent's state machine: what `AgentState` calls to act on the
world. The daemon provides them (`containerizer.Containerizer`, `checkpoint.Checkpoint`,
the master link, the executor API's streams); the unit tests provide recording fakes."""

from __future__ import annotations

from typing import Any, Protocol

from corral.agent.model import Executor, FrameworkRecord, Limitation
from corral.resources import Resources


class Connection(Protocol):
    """An executor's SUBSCRIBE stream: `send` queues an event, `close` ends the stream."""

    def send(self, event: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class MasterSink(Protocol):
    def post(self, call: dict[str, Any]) -> None:
        """Send a call to the master (dropped while disconnected: updates are retried)."""


class Containers(Protocol):
    """Executor containers: processes, their isolation and their exits."""

    def launch(self, framework: FrameworkRecord, executor: Executor) -> None:
        """Start the executor; answer with `executor_started` or `executor_launch_failed`,
        later with `executor_exited` when its process ends."""

    def update_limits(self, container_id: str, resources: Resources) -> None:
        """Resize a running executor's container (it got another task)."""

    def kill(self, container_id: str, pid: int) -> None:
        """Kill the executor and everything it started (its exit is reported as usual)."""

    def terminate(self, container_id: str, pid: int) -> None:
        """SIGTERM to the process group of a command task the agent runs (`Executor.in_agent`)."""

    def exit_status(self, executor: Executor) -> int | None:
        """The wait status of a command task the agent ran that ended while the agent was down
        (written by the zygote that reaped it); None when it is not known."""

    def cleanup(self, container_id: str) -> None:
        """Release the container of an ended executor (may raise OSError)."""

    def limitation(self, container_id: str) -> Limitation | None:
        """Set once the container hit a limit (e.g. a process of it was OOM-killed)."""

    def adopt(self, container_id: str, cgroup: str) -> None:
        """A container recovered after a restart keeps its cgroups."""

    def alive(self, pid: int | None, pid_start: float | None) -> bool:
        """Is `pid` still the process started at `pid_start`?"""

    def watch(self, executor: Executor) -> None:
        """Report the exit of a recovered executor (not our child) with `recovered_executor_exited`
        (for a command task the agent runs, once its exit status can be read: `exit_status`;
        also when it has ended already)."""


class CheckpointWriter(Protocol):
    def agent_id(self, agent_id: str) -> None: ...
    def resources(self, resources: list[dict[str, Any]]) -> None: ...
    def volumes(self, create: list[str], delete: list[str]) -> None: ...
    def framework(self, framework_id: str, info: dict[str, Any]) -> None: ...
    def executor(self, framework_id: str, executor_id: str, record: dict[str, Any]) -> None: ...
    def task(self, framework_id: str, executor_id: str, task: dict[str, Any]) -> None: ...
    def journal(self, framework_id: str, task_id: str, kind: str, data: Any) -> None: ...
    def forget_executor(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None: ...
    def forget_tasks(self, framework_id: str, executor_id: str, task_ids: list[str]) -> None:
        """Forget these tasks of an executor whose id a newer run now has (it keeps the rest)."""
    def forget_all(self) -> None: ...
