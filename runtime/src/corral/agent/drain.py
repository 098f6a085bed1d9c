"""Draining, as Mesos 1.9's agent does it (slave.cpp `Slave::drain`).

The master sends DRAIN_AGENT with a DrainConfig; the agent kills every task,
each with its own kill policy unless the config's `max_grace_period` is
shorter, and from then on reports TASK_KILLING / TASK_KILLED with
REASON_AGENT_DRAINING (TASK_GONE_BY_OPERATOR instead of TASK_KILLED when the
agent will be marked gone and the framework is partition-aware).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from corral.protocol import states as S

if TYPE_CHECKING:
    from corral.agent.model import AgentTask, FrameworkRecord


def live_tasks(frameworks: Iterable["FrameworkRecord"]) -> list[tuple[str, "AgentTask"]]:
    """(framework id, task) of every task that has not ended."""
    return [(fw.id, task) for fw in list(frameworks) for executor in list(fw.executors.values())
            for task in list(executor.tasks.values()) if not task.terminal]


def grace_ns(kill_policy: Any) -> int | None:
    if not isinstance(kill_policy, dict):
        return None
    grace = kill_policy.get("grace_period")
    value = grace.get("nanoseconds") if isinstance(grace, dict) else None
    return value if isinstance(value, int) else None


def kill_policy_for(config: dict[str, Any], task_policy: Any) -> dict[str, Any] | None:
    """The policy a drained task is killed with: the config's cap if the task's grace period exceeds it."""
    cap = grace_ns({"grace_period": config.get("max_grace_period")})
    if cap is None:
        return None
    own = grace_ns(task_policy)
    if own is not None and own <= cap:
        return None  # the task's own policy applies
    return {"grace_period": {"nanoseconds": cap}}


def draining_status(status: dict[str, Any], config: dict[str, Any], framework_info: dict[str, Any]) -> dict[str, Any]:
    """A task's status while the agent drains."""
    if status.get("state") not in (S.TASK_KILLING, S.TASK_KILLED):
        return status
    status = {**status, "reason": S.REASON_AGENT_DRAINING}
    partition_aware = any(c.get("type") == "PARTITION_AWARE" for c in framework_info.get("capabilities", []))
    if status["state"] == S.TASK_KILLED and config.get("mark_gone") and partition_aware:
        status["state"] = S.TASK_GONE_BY_OPERATOR
    return status
