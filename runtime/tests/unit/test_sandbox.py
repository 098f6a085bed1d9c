"""Finding a task's sandbox from the master's and the agent's /state."""

import pytest

from corral.protocol.sandbox import TaskPlace, place_of, sandbox_in

MASTER = {
    "slaves": [{"id": "A1", "pid": "slave(1)@10.0.0.5:5051"}],
    "frameworks": [{"id": "F1", "tasks": [{"id": "t1", "slave_id": "A1", "executor_id": ""}],
                    "completed_tasks": [{"id": "t0", "slave_id": "A1", "executor_id": "E0"}]}],
    "completed_frameworks": [{"id": "F0", "tasks": [], "completed_tasks": [
        {"id": "old", "slave_id": "A-gone", "executor_id": ""}]}],
}
AGENT = {"frameworks": [{"id": "F1", "executors": [{"id": "t1", "directory": "/w/t1"}],
                         "completed_executors": [{"id": "E0", "directory": "/w/E0"}]}]}


def test_a_command_task_runs_in_an_executor_named_after_it():
    place = place_of(MASTER, "t1")
    assert place == TaskPlace("10.0.0.5:5051", "F1", "t1")
    assert sandbox_in(AGENT, place, "t1") == "/w/t1"


def test_a_completed_task_keeps_its_sandbox():
    assert sandbox_in(AGENT, place_of(MASTER, "t0"), "t0") == "/w/E0"


@pytest.mark.parametrize(("task_id", "message"), [
    ("nope", "no task 'nope' is known to the master"),
    ("old", "task old ran on agent A-gone, which is gone"),
])
def test_tasks_that_cannot_be_placed(task_id, message):
    with pytest.raises(LookupError, match=message):
        place_of(MASTER, task_id)


def test_an_agent_without_the_sandbox():
    with pytest.raises(LookupError, match="agent 10.0.0.5:5051 has no sandbox for task t1"):
        sandbox_in({"frameworks": []}, place_of(MASTER, "t1"), "t1")
