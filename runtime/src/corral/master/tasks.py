"""The tasks layer of the master: a task's life as the master records it.

Created when a launch is accepted, its statuses applied as agents report them
(or as the master decides, `_transition`), its resources returned when it ends,
forgotten into its framework's completed tasks once the end is acknowledged.
See master/core.py for how the layers fit together.
"""

from __future__ import annotations

import logging
from typing import Any

from corral.ids import value_of, wrap
from corral.master import render
from corral.master.core import MasterCore
from corral.master.model import Framework, Task
from corral.protocol import states as S
from corral.resources import Resources

logger = logging.getLogger(__name__)

# What a task's `statuses` keep of each TaskStatus besides its state and time, as Mesos's master summarizes them.
STATUS_SUMMARY_KEYS = ("container_status", "labels", "healthy")


class TaskBook(MasterCore):
    def _create_task(self, framework, agent_id, role, task_json, executor_id) -> None:
        agent = self.agents.get(agent_id)
        resources = Resources.from_json(task_json.get("resources", []))
        task = Task(
            task_id=value_of(task_json["task_id"]) or "",
            framework_id=framework.id,
            agent_id=agent_id,
            executor_id=executor_id,
            name=task_json.get("name", ""),
            role=role,
            resources=resources,
            info=task_json,
        )
        framework.tasks[task.task_id] = task
        if agent is not None:
            agent.tasks.setdefault(framework.id, {})[task.task_id] = task
        self.metrics["master/tasks_launched"] += 1
        self._operator_event({"type": "TASK_ADDED", "task_added": {"task": render.task_json(task)}})

    def send_unlaunched_status(self, framework, task, state, reason, message) -> None:
        """A status for a task that never got launched (it, its offers or its authorization were bad)."""
        task_id = value_of(task.get("task_id")) if isinstance(task, dict) else None
        agent_id = value_of(task.get("agent_id")) if isinstance(task, dict) else None
        status = {
            "task_id": wrap(task_id or ""),
            "state": state,
            "source": S.SOURCE_MASTER,
            "reason": reason,
            "message": message,
            "timestamp": self.wallclock(),
        }
        if agent_id:
            status["agent_id"] = wrap(agent_id)
        self._count_state(state)
        logger.info("Task %s of framework %s: %s (%s)", task_id, framework.id, state, message)
        self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    def _apply_status(self, task: Task, status: dict[str, Any], latest_state: str) -> None:
        was_terminal = task.terminal
        task.status = status
        if not was_terminal:
            task.state = latest_state
            summary = {"state": status["state"], "timestamp": status.get("timestamp", self.wallclock())}
            for key in STATUS_SUMMARY_KEYS:  # (the Mesos CLI finds a task's container in container_status)
                if key in status:
                    summary[key] = status[key]
            task.statuses.append(summary)
            if len(task.statuses) > 20:
                del task.statuses[1:-19]
        if task.terminal and not was_terminal:
            self._count_state(task.state)
            self._release_task_resources(task)
        if status.get("state") in S.TERMINAL_STATES and status.get("uuid"):
            task.terminal_uuid = status["uuid"]
        self._operator_event({"type": "TASK_UPDATED", "task_updated": {
            "framework_id": wrap(task.framework_id), "status": status, "state": task.state}})

    def _transition(self, task: Task, state: str, source: str, reason: str, message: str) -> None:
        """A master-generated status (no uuid: frameworks need not acknowledge it)."""
        framework = self.frameworks.get(task.framework_id)
        status: dict[str, Any] = {
            "task_id": wrap(task.task_id), "state": state, "source": source, "reason": reason, "message": message,
            "agent_id": wrap(task.agent_id), "timestamp": self.wallclock(),
        }
        if state == S.TASK_UNREACHABLE:
            status["unreachable_time"] = {"nanoseconds": int(status["timestamp"] * 1e9)}
        if task.executor_id:
            status["executor_id"] = wrap(task.executor_id)
        self._apply_status(task, status, state)
        if framework is not None and framework.connected:
            self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    def _release_task_resources(self, task: Task) -> None:
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            self.allocator.recover_resources(task.framework_id, task.agent_id, task.role, task.resources)
            self._request_allocation([task.agent_id])

    def _forget_task(self, task: Task, framework: Framework | None = None) -> None:
        """Move a task that ended (and was acknowledged) to its framework's completed tasks."""
        framework = framework or self.frameworks.get(task.framework_id)
        if framework is not None and framework.tasks.get(task.task_id) is task:
            del framework.tasks[task.task_id]
            framework.completed_tasks.append(task)
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            tasks = agent.tasks.get(task.framework_id, {})
            if tasks.get(task.task_id) is task:
                del tasks[task.task_id]
                if not tasks:
                    agent.tasks.pop(task.framework_id, None)
