"""The command executor played inside the agent, for plain command tasks.

Mesos runs each command task under its own command executor process.  A
task that needs nothing of that process (no container image: see
`task_command`) is instead forked by the zygote straight into its sandbox,
and an `InlineExecutor` plays the executor's side for it: it is the
executor's `Connection`, takes LAUNCH, KILL and SHUTDOWN as the command
executor does, and reports TASK_RUNNING and the terminal state, with the
command executor's messages and reasons (executor/command.py), through
`AgentState.executor_update` as SOURCE_EXECUTOR updates.  Frameworks see the
same updates, executor and container; each task saves an interpreter, a
connection and three HTTP calls.

The zygote writes the task's wait status to `EXIT_FILE` in the sandbox and
outlives an agent that dies, so an agent restarted while the task ran still
reports how it ended.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
from typing import TYPE_CHECKING, Any

from corral.agent.model import Executor
from corral.executor import image_run
from corral.executor.command import DEFAULT_KILL_GRACE, exit_outcome, grace_period, task_argv, task_status
from corral.protocol import states as S

if TYPE_CHECKING:
    from corral.agent.state import AgentState

EXIT_FILE = ".exit_status"


class TaskCommand:
    """What the zygote needs to run a task without an executor: argv and, as root, the user."""

    __slots__ = ("argv", "user", "home")

    def __init__(self, argv: list[str], user: tuple[int, int] | None, home: str | None) -> None:
        self.argv, self.user, self.home = argv, user, home


def task_command(executor: Executor, framework_user: str) -> TaskCommand | None:
    """The command of an executor's one plain command task; None when it needs the executor
    process (an image, or anything the command executor would refuse with its own error)."""
    if len(executor.tasks) != 1:
        return None
    task = next(iter(executor.tasks.values())).info
    command = task.get("command") or {}
    try:
        if image_run.image_name(task.get("container")) is not None:
            return None
        argv = task_argv(command)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not all(isinstance(arg, str) for arg in argv):
        return None
    user = command.get("user") or framework_user
    if not user or os.geteuid() != 0 or user == "root":
        return TaskCommand(argv, None, None)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None  # the executor reports the unknown user
    return TaskCommand(argv, (entry.pw_uid, entry.pw_gid), entry.pw_dir)


class InlineExecutor:
    """The executor's Connection for a task the agent runs itself (see the module's docstring)."""

    def __init__(self, state: AgentState, executor: Executor, pid: int) -> None:
        self.state = state
        self.executor = executor
        self.pid = pid
        self.task = next(iter(executor.tasks.values())).info
        framework = state.frameworks[executor.framework_id].info
        self.capabilities = {c.get("type") for c in framework.get("capabilities", []) if isinstance(c, dict)}
        self.kill_requested = False
        self.expired = False
        self.ended = False
        self._timers: list[asyncio.TimerHandle] = []

    # ------------------------------------------------------------------ Connection

    def send(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "LAUNCH":
            self._update(S.TASK_RUNNING, None, None, self.pid)
            limit = (self.task.get("max_completion_time") or {}).get("nanoseconds")
            if limit is not None:
                self._later(limit / 1e9, self._expire)
        elif kind == "KILL":
            self._kill(grace_period(event["kill"].get("kill_policy") or {}))
        elif kind == "SHUTDOWN":
            self._kill(self.state.options.executor_shutdown_grace_period * 0.8)
        # SUBSCRIBED and ACKNOWLEDGED need nothing here.

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()

    # ------------------------------------------------------------------ the task's process

    def exited(self, wait_status: int) -> None:
        """The task's process ended with `wait_status`: report its terminal state."""
        if self.ended:
            return
        self.ended = True
        self.close()
        if self.expired:
            self._update(S.TASK_FAILED, "Task reached its max_completion_time", S.REASON_MAX_COMPLETION_TIME_REACHED)
        else:
            self._update(*exit_outcome(os.waitstatus_to_exitcode(wait_status), self.kill_requested))

    def _kill(self, grace: float | None) -> None:
        if self.ended or self.kill_requested:
            return
        self.kill_requested = True
        if grace is None:
            own = grace_period(self.task.get("kill_policy") or {})
            grace = DEFAULT_KILL_GRACE if own is None else own
        if "TASK_KILLING_STATE" in self.capabilities:
            self._update(S.TASK_KILLING, None, None)
        self._signal(signal.SIGTERM)
        if grace <= 0:
            self._signal(signal.SIGKILL)
        else:
            self._later(grace, lambda: self._signal(signal.SIGKILL))

    def _expire(self) -> None:
        if not self.ended:
            self.expired = True
            self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.ended:
            return
        try:
            os.killpg(self.pid, sig)  # the zygote made the task a session (and group) leader
        except (ProcessLookupError, PermissionError):
            pass

    def _later(self, delay: float, callback: Any) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, callback))

    def _update(self, state: str, message: str | None, reason: str | None, executor_pid: int | None = None) -> None:
        self.state.executor_update(self.executor, task_status(self.task["task_id"]["value"], state, message, reason, executor_pid))


def read_exit_file(directory: str) -> int | None:
    """The wait status the zygote wrote for an inline task, if it did."""
    try:
        with open(os.path.join(directory, EXIT_FILE)) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None
