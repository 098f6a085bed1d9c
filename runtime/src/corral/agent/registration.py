"""What a (re-)registering agent tells the master: its info, resources, and every framework,
executor and task it runs (as Mesos's ReregisterSlaveMessage)."""

from __future__ import annotations

from typing import Any

from corral import __version__
from corral.agent.model import COMMAND, Executor, FrameworkRecord
from corral.agent.state import AgentState
from corral.ids import wrap


def registration_payload(state: AgentState) -> dict[str, Any]:
    """The REGISTER call's body: what this agent runs, for the master to merge with what it knows."""
    tasks, executors, frameworks = [], [], []

    def report(fw: FrameworkRecord, executor: Executor, only_unacknowledged: bool) -> None:
        for task in executor.tasks.values():
            if only_unacknowledged and not state.updates.pending(fw.id, task.task_id):
                continue
            tasks.append({**task.info, "framework_id": wrap(fw.id), "executor_id": wrap(executor.executor_id),
                          "state": task.state})

    for fw in state.frameworks.values():
        frameworks.append(fw.info)
        for executor in fw.executors.values():
            if executor.kind != COMMAND:
                executors.append({"framework_id": wrap(fw.id), "executor_info": executor.info})
            report(fw, executor, only_unacknowledged=False)
        # As Mesos's agent: also the tasks of ended executors whose terminal update is not yet
        # acknowledged (a new leader learns of them, and of their framework, from us).
        for executor in fw.completed_executors:
            report(fw, executor, only_unacknowledged=True)
    payload: dict[str, Any] = {
        "agent_info": state.agent_info(),
        "resources": state.options.total.to_json(),
        "version": __version__,
        "tasks": tasks,
        "executors": executors,
        "frameworks": frameworks,
    }
    if state.agent_id:
        payload["agent_id"] = wrap(state.agent_id)
    return payload
