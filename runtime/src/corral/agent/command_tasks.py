"""Command tasks the agent runs itself: how each one ends, from its wait status.

A command task (a TaskInfo with a CommandInfo and no ExecutorInfo) has, in
Mesos, a command executor of its own, with the task's id as its executor id.
Corral's agent plays that executor for a task on the host (one without a
container image): the zygote starts the task's process directly, and the
agent's state machine sends the updates the executor would send
(TASK_RUNNING when it starts, TASK_KILLING, the terminal state when it
ends), with SOURCE_EXECUTOR as Mesos's command executor does.  That saves an
executor process per task and its HTTP calls (issue 15).  Tasks in an image
still get the built-in executor (executor/command.py), which drives the
container tool.  Pure functions: the state machine (agent/state.py) calls them.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from corral.executor import image_run
from corral.protocol import states as S

DEFAULT_KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL, as the built-in executor


def runs_in_agent(task: dict[str, Any]) -> bool:
    """A command task on the host; one with an image (or an invalid container) gets an executor."""
    try:
        return image_run.image_name(task.get("container")) is None
    except ValueError:
        return False


def kill_grace(kill_policy: dict[str, Any] | None, task: dict[str, Any]) -> float:
    """The grace period of a kill: KILL_TASK's kill_policy, else the task's, else the default."""
    for policy in (kill_policy, task.get("kill_policy")):
        nanos = ((policy or {}).get("grace_period") or {}).get("nanoseconds")
        if nanos is not None:
            return max(0.0, int(nanos) / 1e9)
    return DEFAULT_KILL_GRACE


def max_completion_time(task: dict[str, Any]) -> float | None:
    nanos = (task.get("max_completion_time") or {}).get("nanoseconds")
    return None if nanos is None else int(nanos) / 1e9


def outcome(wait_status: int | None, *, kill_requested: bool, expired: bool, shut_down: bool) -> tuple[str, str | None, str, str]:
    """(state, reason, message, source) of a command task whose process ended with `wait_status`
    (None: not known, it ended while the agent was down and its exit file was not written)."""
    if kill_requested:
        return S.TASK_KILLED, None, "Command terminated by a kill request", S.SOURCE_EXECUTOR
    if expired:
        return S.TASK_FAILED, S.REASON_MAX_COMPLETION_TIME_REACHED, "Task reached its max_completion_time", S.SOURCE_EXECUTOR
    if shut_down:
        return S.TASK_KILLED, S.REASON_EXECUTOR_TERMINATED, "Executor was shut down", S.SOURCE_AGENT
    if wait_status is None:
        return (S.TASK_FAILED, S.REASON_EXECUTOR_TERMINATED,
                "The task ended while the agent was down and its exit status is not known", S.SOURCE_AGENT)
    if os.WIFSIGNALED(wait_status):
        name = signal.Signals(os.WTERMSIG(wait_status)).name
        return S.TASK_FAILED, S.REASON_COMMAND_EXECUTOR_FAILED, f"Command terminated with signal {name}", S.SOURCE_EXECUTOR
    code = os.waitstatus_to_exitcode(wait_status)
    if code == 0:
        return S.TASK_FINISHED, None, "Command exited with status 0", S.SOURCE_EXECUTOR
    return S.TASK_FAILED, S.REASON_COMMAND_EXECUTOR_FAILED, f"Command exited with status {code}", S.SOURCE_EXECUTOR
