"""The agent's checkpoint log on disk: what a restarted agent reads back."""

from __future__ import annotations

import json

from corral.agent import checkpoint as cp
from corral.agent.checkpoint import Checkpointer


def update(task_id: str, state: str, uuid: str) -> dict:
    return {"framework_id": {"value": "F"}, "status": {"task_id": {"value": task_id}, "state": state, "uuid": uuid}}


def launch(ck: Checkpointer, task_id: str) -> None:
    ck.executor("F", task_id, {"executor_id": task_id, "pid": 1})
    ck.task("F", task_id, {"task_id": {"value": task_id}})
    ck.journal("F", task_id, "update", update(task_id, "TASK_RUNNING", "u1"))
    ck.journal("F", task_id, "ack", "u1")


def test_a_restarted_agent_reads_back_what_is_live_and_not_what_was_forgotten(tmp_path):
    ck = Checkpointer(str(tmp_path))
    ck.framework("F", {"id": {"value": "F"}})
    launch(ck, "kept")
    launch(ck, "gone")
    ck.forget_executor("F", "gone", ["gone"])
    again = Checkpointer(str(tmp_path)).load()
    assert list(again.frameworks) == ["F"]
    assert list(again.executors) == [("F", "kept")]
    assert again.tasks == {("F", "kept"): [{"task_id": {"value": "kept"}}]}
    assert again.journals == {("F", "kept"): [("update", update("kept", "TASK_RUNNING", "u1")), ("ack", "u1")]}


def test_the_log_is_rewritten_as_its_live_records_once_it_has_grown(tmp_path, monkeypatch):
    monkeypatch.setattr(cp, "COMPACT_SLACK", 10)
    ck = Checkpointer(str(tmp_path))
    ck.framework("F", {"id": {"value": "F"}})
    for i in range(50):
        launch(ck, f"t{i}")
        ck.forget_executor("F", f"t{i}", [f"t{i}"])
    launch(ck, "last")
    lines = (tmp_path / cp.LOG).read_text().splitlines()
    assert len(lines) < 30, len(lines)  # not the 250 written
    recovered = Checkpointer(str(tmp_path)).load()
    assert list(recovered.executors) == [("F", "last")] and len(recovered.journals[("F", "last")]) == 2


def test_a_torn_last_line_is_skipped_and_a_fresh_agent_starts_a_new_log(tmp_path):
    ck = Checkpointer(str(tmp_path))
    ck.framework("F", {"id": {"value": "F"}})
    launch(ck, "t")
    with open(tmp_path / cp.LOG, "a") as fh:
        fh.write(json.dumps(["ack", "F", "t", "u2"])[:-4])  # killed mid-write
    recovered = Checkpointer(str(tmp_path)).load()
    assert recovered.journals[("F", "t")][-1] == ("ack", "u1")
    fresh = Checkpointer(str(tmp_path))  # an agent with no id to recover
    fresh.framework("G", {"id": {"value": "G"}})
    assert list(Checkpointer(str(tmp_path)).load().frameworks) == ["G"]
