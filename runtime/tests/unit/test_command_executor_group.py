"""The default executor's task group: a task that ends at once does not end the executor
while the group's other tasks have yet to start (the agent then failed them as
REASON_EXECUTOR_TERMINATED)."""

from __future__ import annotations

import time

from corral.executor import command
from corral.executor.command import CommandExecutor


class SlowAgent:
    """Takes its time over each update, as a busy agent does: long enough for a `true` task to end."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, str]] = []

    def post(self, call):
        status = call["update"]["status"]
        self.updates.append((status["task_id"]["value"], status["state"]))
        time.sleep(0.3)


def group_task(name: str, command: str) -> dict:
    return {"task_id": {"value": name}, "name": name, "command": {"value": command}}


def executor(tmp_path) -> tuple[CommandExecutor, SlowAgent]:
    ex = CommandExecutor({"MESOS_AGENT_ENDPOINT": "127.0.0.1:1", "MESOS_FRAMEWORK_ID": "fw",
                          "MESOS_EXECUTOR_ID": "group", "MESOS_SANDBOX": str(tmp_path)})
    ex.client = agent = SlowAgent()  # type: ignore[assignment]
    return ex, agent


def test_a_task_that_ends_at_once_leaves_the_group_running(tmp_path, monkeypatch):
    ex, agent = executor(tmp_path)
    # The executor's thread is slow to take up the group's next task (a busy machine
    # deschedules it): the first task ends meanwhile.
    grace = command._grace
    monkeypatch.setattr(command, "_grace", lambda policy: (time.sleep(0.5), grace(policy))[1])
    ex.launch([group_task("quick", "true"), group_task("slow", "sleep 1")])
    assert not ex.done.is_set()  # (quick ended while its TASK_RUNNING was being sent)
    assert ex.done.wait(10)
    assert ("slow", "TASK_FINISHED") in agent.updates and ("quick", "TASK_FINISHED") in agent.updates


def test_a_task_that_cannot_start_kills_the_rest_of_its_group(tmp_path):
    ex, agent = executor(tmp_path)
    missing = {"task_id": {"value": "broken"}, "name": "broken", "command": {"value": "/nonexistent", "shell": False}}
    ex.launch([missing, group_task("never", "sleep 30")])
    assert ex.done.wait(10)
    assert agent.updates == [("broken", "TASK_FAILED"), ("never", "TASK_KILLED")]
