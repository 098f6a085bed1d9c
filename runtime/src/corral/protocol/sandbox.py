"""Where a task's sandbox is, read from the master's and then its agent's `/state` (Mesos's
shapes): the CLI's `corral logs` and the Spark dispatcher's log endpoint use it with their
own HTTP clients. A task that cannot be placed raises LookupError naming why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskPlace:
    agent_address: str  # host:port of the agent's HTTP server
    framework_id: str
    executor_id: str


def place_of(master_state: dict[str, Any], task_id: str) -> TaskPlace:
    """The agent, framework and executor of a task, current or completed."""
    agents = {a["id"]: a for a in master_state["slaves"]}
    for fw in master_state["frameworks"] + master_state["completed_frameworks"]:
        for task in fw["tasks"] + fw["completed_tasks"]:
            if task["id"] != task_id:
                continue
            agent = agents.get(task["slave_id"])
            if agent is None:
                raise LookupError(f"task {task_id} ran on agent {task['slave_id']}, which is gone")
            # An agent's pid is slave(1)@host:port; a command task's executor has the task's id.
            return TaskPlace(agent["pid"].split("@", 1)[1], fw["id"], task["executor_id"] or task_id)
    raise LookupError(f"no task '{task_id}' is known to the master")


def sandbox_in(agent_state: dict[str, Any], place: TaskPlace, task_id: str) -> str:
    """The sandbox directory of the task's executor, from its agent's /state."""
    for fw in agent_state["frameworks"]:
        if fw["id"] != place.framework_id:
            continue
        for executor in fw["executors"] + fw["completed_executors"]:
            if executor["id"] == place.executor_id:
                return str(executor["directory"])
    raise LookupError(f"agent {place.agent_address} has no sandbox for task {task_id}")
