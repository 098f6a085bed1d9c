"""pymesos frameworks and executors against a real master and two agents."""

from __future__ import annotations

import signal
import sys
import textwrap

import pytest

from support.cluster import read_sandbox_file, sandbox_of, wait_for
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework, scalar
from support.raw_scheduler import RawScheduler

pytestmark = pytest.mark.integration


def test_command_tasks_run_and_finish_with_their_output(cluster):
    cluster.start_master()
    cluster.add_agent()
    cluster.add_agent()
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        for i in range(4):
            sched.submit(0.1, 32, lambda o, i=i: command_task(f"echo-{i}", o, f"echo hello-{i}; echo oops >&2"), driver)
        for i in range(4):
            sched.wait_state(f"echo-{i}", "TASK_RUNNING")
            done = sched.wait_terminal(f"echo-{i}")
            assert done["state"] == "TASK_FINISHED", done
            assert done["source"] == "SOURCE_EXECUTOR"
        assert sched.states("echo-0") == ["TASK_RUNNING", "TASK_FINISHED"]
        # The sandbox holds the task's own stdout and stderr.
        agent_address, directory = sandbox_of(cluster, "echo-2")
        assert read_sandbox_file(agent_address, directory + "/stdout") == "hello-2\n"
        assert read_sandbox_file(agent_address, directory + "/stderr") == "oops\n"


def test_failing_command_is_task_failed_with_the_exit_status(cluster):
    cluster.start_master()
    cluster.add_agent()
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("bad", o, "exit 3"), driver)
        update = sched.wait_terminal("bad")
    assert update["state"] == "TASK_FAILED"
    assert update["message"] == "Command exited with status 3"
    assert update["reason"] == "REASON_COMMAND_EXECUTOR_FAILED"


def test_kill_gives_task_killed(cluster):
    cluster.start_master()
    cluster.add_agent()
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("sleeper", o, "sleep 60"), driver)
        sched.wait_state("sleeper", "TASK_RUNNING")
        driver.killTask({"value": "sleeper"})
        update = sched.wait_terminal("sleeper")
    assert update["state"] == "TASK_KILLED", update


def test_kill_escalates_to_sigkill_after_the_grace_period(cluster):
    cluster.start_master()
    cluster.add_agent()
    sched = RecordingScheduler()
    stubborn = "trap '' TERM; echo ready; while true; do sleep 0.1; done"
    policy = {"grace_period": {"nanoseconds": 500_000_000}}
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("stubborn", o, stubborn, kill_policy=policy), driver)
        sched.wait_state("stubborn", "TASK_RUNNING")
        agent_address, directory = sandbox_of(cluster, "stubborn")
        wait_for(lambda: "ready" in read_sandbox_file(agent_address, directory + "/stdout"), what="the trap to be set")
        driver.killTask({"value": "stubborn"})
        assert sched.wait_terminal("stubborn", timeout=20)["state"] == "TASK_KILLED"


EXECUTOR = textwrap.dedent(
    """
    import threading, time
    from pymesos import MesosExecutorDriver, Executor, encode_data

    class Echo(Executor):
        def launchTask(self, driver, task):
            def run():
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})
                time.sleep(0.3)
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_FINISHED",
                                         "data": encode_data(b"done")})
            threading.Thread(target=run).start()

        def frameworkMessage(self, driver, message):
            driver.sendFrameworkMessage(message)

    MesosExecutorDriver(Echo(), use_addict=False).run()
    """
)


def test_pymesos_executor_runs_tasks_and_exchanges_messages(cluster, tmp_path):
    script = tmp_path / "echo_executor.py"
    script.write_text(EXECUTOR)
    cluster.start_master()
    cluster.add_agent()
    sched = RecordingScheduler()
    executor = {
        "executor_id": {"value": "echo-executor"},
        "name": "echo",
        "command": {"value": f"{sys.executable} {script}"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
        ],
    }

    def build(task_id):
        def make(offer):
            task = command_task(task_id, offer, "unused")
            del task["command"]
            task["executor"] = executor
            return task
        return make

    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.2, 96, build("x1"), driver)
        sched.wait_state("x1", "TASK_RUNNING")
        finished = sched.wait_state("x1", "TASK_FINISHED")
        assert finished["data"] == "ZG9uZQ=="
        # A second task reuses the running executor.
        sched.submit(0.1, 32, build("x2"), driver)
        sched.wait_state("x2", "TASK_FINISHED")
        agent_id = finished["agent_id"]
        driver.sendFrameworkMessage({"value": "echo-executor"}, agent_id, "aGVsbG8=")
        assert sched.wait(lambda: sched.messages, what="the echoed message") == ["aGVsbG8="]
    executors = {u["executor_id"]["value"] for u in sched.updates}
    assert executors == {"echo-executor"}


def test_agent_killed_with_sigkill_reports_its_tasks_lost_or_unreachable(cluster):
    cluster.start_master()
    doomed = cluster.add_agent("cpus:1;mem:512")
    plain, aware = RecordingScheduler(), RecordingScheduler()
    with pymesos_framework(cluster.master.address, plain, "plain") as d1, pymesos_framework(
        cluster.master.address, aware, "aware", capabilities=[{"type": "PARTITION_AWARE"}]
    ) as d2:
        plain.submit(0.1, 32, lambda o: command_task("p-long", o, "sleep 120"), d1)
        aware.submit(0.1, 32, lambda o: command_task("a-long", o, "sleep 120"), d2)
        plain.wait_state("p-long", "TASK_RUNNING")
        aware.wait_state("a-long", "TASK_RUNNING")
        doomed.kill(signal.SIGKILL)
        lost = plain.wait_terminal("p-long", timeout=30)
        unreachable = aware.wait_state("a-long", "TASK_UNREACHABLE", timeout=30)
    assert lost["state"] == "TASK_LOST"
    assert lost["reason"] == "REASON_AGENT_REMOVED"
    assert unreachable["source"] == "SOURCE_MASTER"
    assert cluster.state()["unreachable_slaves"] == 1


def test_seed_example_remainder_is_offered_to_the_second_framework(cluster):
    # One agent with 4 CPUs / 4 GB: framework 1 launches <2 CPU, 1 GB> and <1 CPU, 2 GB>
    # from its offer; the remaining 1 CPU / 1 GB is offered to framework 2.
    cluster.start_master()
    cluster.add_agent("cpus:4;mem:4096;disk:0;ports:[31000-31000]")
    first, second = RecordingScheduler(), RecordingScheduler()
    first.decline_seconds = 3600
    with pymesos_framework(cluster.master.address, first, "framework-1") as d1:
        first.submit(2, 1024, lambda o: command_task("t1", o, "sleep 60", cpus=2, mem=1024))
        first.submit(1, 2048, lambda o: command_task("t2", o, "sleep 60", cpus=1, mem=2048), d1)
        first.wait_state("t1", "TASK_RUNNING")
        first.wait_state("t2", "TASK_RUNNING")
        assert scalar(first.offers[0], "cpus") == 4 and scalar(first.offers[0], "mem") == 4096
        with pymesos_framework(cluster.master.address, second, "framework-2"):
            offer = second.wait(lambda: second.offers and second.offers[0], what="an offer for framework 2")
    assert (scalar(offer, "cpus"), scalar(offer, "mem")) == (1, 1024)


def test_reconciliation_returns_the_latest_state(cluster):
    cluster.start_master()
    cluster.add_agent()
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("r1", o, "sleep 30"), driver)
        sched.wait_state("r1", "TASK_RUNNING")
        before = len(sched.updates)
        driver.reconcileTasks([])
        update = sched.wait(lambda: len(sched.updates) > before and sched.updates[-1], what="a reconciliation update")
        assert update["state"] == "TASK_RUNNING" and update["reason"] == "REASON_RECONCILIATION"
        assert "uuid" not in update
        driver.reconcileTasks([{"task_id": {"value": "never-launched"}}])
        unknown = sched.wait(lambda: sched.states("never-launched"), what="an answer about an unknown task")
        assert unknown == ["TASK_LOST"]


def test_only_a_gpu_aware_framework_is_offered_a_gpu_agent(cluster):
    """Mesos's rule: a GPU agent's resources go only to frameworks with GPU_RESOURCES. A v1
    client with a bare FrameworkInfo (user and name, as mesoshttp's) never sees the GPU
    agent; pymesos declares GPU_RESOURCES by default (to masters >= 1.0) and runs a task on
    it. The GPUs are declared with --resources: no GPU is on these machines."""
    cluster.start_master()
    gpu_agent_id = cluster.agent_id(cluster.add_agent("cpus:2;mem:1024;gpus:2"))
    plain_agent_id = cluster.agent_id(cluster.add_agent("cpus:2;mem:1024"))

    def on_a_gpu(offer):
        if scalar(offer, "gpus") < 1:
            return None
        task = command_task("on-gpu", offer, "true")
        task["resources"].append({"name": "gpus", "type": "SCALAR", "scalar": {"value": 1}})
        return task

    plain = RawScheduler(cluster.master.address).subscribe()
    try:
        assert plain.next_offer()["agent_id"]["value"] == plain_agent_id  # and it keeps that offer
        aware = RecordingScheduler()
        with pymesos_framework(cluster.master.address, aware, name="gpu") as driver:
            aware.submit(0.1, 32, on_a_gpu, driver)
            done = aware.wait_terminal("on-gpu")
            assert done["state"] == "TASK_FINISHED", done
        offered_to_plain = [o["agent_id"]["value"] for e in plain.events if e["type"] == "OFFERS"
                            for o in e["offers"]["offers"]]
    finally:
        plain.close()
    assert gpu_agent_id not in offered_to_plain, offered_to_plain
    assert any(o["agent_id"]["value"] == gpu_agent_id for o in aware.offers)
