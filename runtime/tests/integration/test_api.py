"""The scheduler API's answers to bad input, and its delivery guarantees."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.cluster import http_json
from support.raw_scheduler import RawScheduler, launch, task

pytestmark = pytest.mark.integration


@pytest.fixture
def running(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:2;mem:1024;disk:0;ports:[31000-31010]")
    scheduler = RawScheduler(cluster.master.address).subscribe()
    yield cluster, scheduler
    scheduler.close()


def test_malformed_and_unknown_calls_are_400_naming_the_problem(running):
    cluster, s = running
    assert s.post(b"{not json") == (400, s.post(b"{not json")[1])
    code, text = s.post(b"{not json")
    assert code == 400 and "Malformed JSON" in text
    code, text = s.post({"type": "FLY"})
    assert (code, text) == (400, "Unknown or unsupported call type 'FLY'")
    code, text = s.post({"type": "ACCEPT"})
    assert (code, text) == (400, "Expecting 'accept' to be present")
    code, text = s.post({"type": "KILL", "kill": {"task_id": "not-an-object"}})
    assert code == 400 and "kill.task_id" in text
    code, text = s.post(b'{"type": "SUBSCRIBE", "subscribe": {"framework_info": 7}}', stream_id=None)
    assert code == 400 and "subscribe.framework_info" in text
    code, text = s.post({"type": "REVIVE"}, content_type="application/x-protobuf")
    assert code == 415 and "application/json" in text


def test_stream_id_is_required_and_checked(running):
    cluster, s = running
    code, text = s.post({"type": "REVIVE"}, stream_id=None)
    assert code == 400 and "Mesos-Stream-Id" in text
    code, text = s.post({"type": "REVIVE"}, stream_id="not-my-stream")
    assert code == 400 and "didn't match" in text
    code, text = s.post({"type": "REVIVE", "framework_id": {"value": "nobody"}})
    # As Mesos: an unknown (or removed) framework is a bad request; a known one that is not
    # connected is forbidden.
    assert code == 400 and "Framework nobody cannot be found" in text


def test_bad_launches_become_task_errors_and_the_master_keeps_serving(running):
    cluster, s = running
    offer = s.next_offer()
    too_big = task("greedy", offer, resources="cpus:64;mem:32")
    first = task("dup", offer)
    second = task("dup", offer)
    no_command = task("nothing", offer)
    del no_command["command"]
    code, _ = s.post(launch([offer["id"]], [too_big, first, second, no_command]))
    assert code == 202
    greedy = s.wait_update("greedy")
    assert greedy["state"] == "TASK_ERROR" and greedy["reason"] == "REASON_TASK_INVALID"
    assert "more resources" in greedy["message"]
    assert s.wait_update("dup", "TASK_RUNNING")
    duplicate = s.wait_update("dup", "TASK_ERROR")
    assert "duplicate ID" in duplicate["message"]
    missing = s.wait_update("nothing")
    assert missing["state"] == "TASK_ERROR" and "CommandInfo or ExecutorInfo" in missing["message"]
    # Offers that are gone: every task of the call is lost, with the reason.
    code, _ = s.post(launch([offer["id"]], [task("late", offer)]))
    assert code == 202
    late = s.wait_update("late")
    assert (late["state"], late["reason"]) == ("TASK_LOST", "REASON_INVALID_OFFERS")
    assert "uuid" not in late
    # The master still serves everyone.
    assert http_json(f"http://{cluster.master.address}/state")["activated_slaves"] == 1
    other = RawScheduler(cluster.master.address, {"user": "root", "name": "other"}).subscribe()
    other.close()


def test_status_updates_are_retried_until_acknowledged_and_stay_in_order(running):
    cluster, s = running
    offer = s.next_offer()
    code, _ = s.post(launch([offer["id"]], [task("reliable", offer, "sleep 0.2")]))
    assert code == 202
    running_update = s.wait_update("reliable", "TASK_RUNNING")
    # Not acknowledged: the same update comes again (the agent retries every second here)
    # and TASK_FINISHED waits behind it.
    s.wait(lambda e: len(s.updates("reliable")) >= 2, timeout=10)
    assert [u["uuid"] for u in s.updates("reliable")][:2] == [running_update["uuid"]] * 2
    assert all(u["state"] == "TASK_RUNNING" for u in s.updates("reliable"))
    s.acknowledge(running_update)
    finished = s.wait_update("reliable", "TASK_FINISHED")
    s.acknowledge(finished)
    state = cluster.state()
    assert [t["state"] for f in state["frameworks"] for t in f["completed_tasks"]] == ["TASK_FINISHED"]


def test_launch_group_runs_every_task_under_the_default_executor(running):
    cluster, s = running
    offer = s.next_offer()
    executor = {
        "executor_id": {"value": "group-executor"},
        "type": "DEFAULT",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
    }
    tasks = [task("g1", offer, "echo one"), task("g2", offer, "echo two")]
    for t in tasks:
        del t["agent_id"]
        t["agent_id"] = offer["agent_id"]
    call = {"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH_GROUP", "launch_group": {"executor": executor, "task_group": {"tasks": tasks}}}]}}
    assert s.post(call)[0] == 202
    for task_id in ("g1", "g2"):
        s.acknowledge(s.wait_update(task_id, "TASK_RUNNING"))
        s.acknowledge(s.wait_update(task_id, "TASK_FINISHED"))
    statuses = {u["executor_id"]["value"] for u in s.updates("g1") + s.updates("g2")}
    assert statuses == {"group-executor"}


def test_executor_that_never_subscribes_times_out(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512", "--executor_registration_timeout", "1")
    s = RawScheduler(cluster.master.address).subscribe()
    offer = s.next_offer()
    silent = task("silent", offer)
    del silent["command"]
    silent["executor"] = {"executor_id": {"value": "mute"}, "command": {"value": "sleep 600"}}
    assert s.post(launch([offer["id"]], [silent]))[0] == 202
    update = s.wait_update("silent", timeout=15)
    assert (update["state"], update["reason"], update["source"]) == (
        "TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", "SOURCE_AGENT")
    s.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["agent", "--resources", "cpus;mem:1"], "--resources: resources: cannot parse 'cpus'"),
        (["agent", "--resources", "ports:[9-1]"], "begin > end"),
        (["master", "--weights", "ads=two"], "--weights: weight of 'ads' is not a number"),
        (["master", "--allocator", "nope"], "--allocator: must be drf, priority or package.module:Class (got 'nope')"),
        (["agent", "--isolation", "docker"], "'docker' is not an isolator Corral has: auto, cgroups, posix, or a list of"),
        (["agent", "--isolation", "cgroups/mem,filesystem/linux"], "'filesystem/linux' is not an isolator Corral has"),
    ],
)
def test_bad_flags_fail_at_start_with_a_clear_message(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "corral.cli.main", *args, "--work_dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("source", ["--attributes", "YAML", "CORRAL_ATTRIBUTES"])
def test_a_malformed_attribute_stops_the_agent_before_it_starts(source, tmp_path):
    """`zone:[a-b]` (a range of letters) from any source: one line naming the flag and where the
    value came from, exit status 2, no traceback; the agent never starts (the master is bogus)."""
    args = ["agent", "--master", "127.0.0.1:1", "--port", "0", "--work_dir", str(tmp_path / "work")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    config = tmp_path / "agent.yaml"
    config.write_text("attributes: 'zone:[a-b]'\n")
    where = {"--attributes": "--attributes", "YAML": f"{config}: attributes", "CORRAL_ATTRIBUTES": "CORRAL_ATTRIBUTES"}
    if source == "--attributes":
        args += ["--attributes", "zone:[a-b]"]
    elif source == "YAML":
        args += ["--config", str(config)]
    else:
        env["CORRAL_ATTRIBUTES"] = "zone:[a-b]"
    result = subprocess.run([sys.executable, "-m", "corral.cli.main", *args], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: {where[source]}: 'zone:[a-b]': bad range 'a-b' (expected begin-end)"]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "work").exists()


def test_config_file_and_environment_feed_the_flags(tmp_path):
    config = tmp_path / "master.yaml"
    config.write_text("port: 0\nweights: {ads: 2}\nbogus: 1\n")
    result = subprocess.run([sys.executable, "-m", "corral.cli.main", "master", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "unknown key(s) bogus" in result.stderr
