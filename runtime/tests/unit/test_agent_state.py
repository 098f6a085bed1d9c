"""The agent's state machine with a recording master, executors and containers and a fake clock:
no processes, sockets or files."""

from __future__ import annotations

import base64
import uuid

import pytest

from corral.agent.checkpoint import Checkpointer, Recovered
from corral.agent.limitations import disk_limitation, memory_limitation
from corral.agent.model import Executor
from corral.agent.registration import registration_payload
from corral.agent.state import AgentOptions, AgentState
from corral.resources import Resources
from support.fakes import FakeClock
from support.fakes import Recorder


class Containers:
    """Records what the state asks of the containers; `alive` pids and `limits` are set by tests."""

    def __init__(self) -> None:
        self.launched: list[Executor] = []
        self.killed: list[tuple[str, int]] = []
        self.cleaned: list[str] = []
        self.adopted: dict[str, str] = {}
        self.watched: list[Executor] = []
        self.limits: dict[str, tuple[str, str]] = {}
        self.alive_pids: set[int] = set()
        self.limit_updates: list[tuple[str, Resources]] = []
        self.terminated: list[tuple[str, int]] = []
        self.exit_statuses: dict[str, int] = {}  # container_id -> what its exit file says

    def launch(self, framework, executor):
        self.launched.append(executor)

    def update_limits(self, container_id, resources):
        self.limit_updates.append((container_id, resources))

    def kill(self, container_id, pid):
        self.killed.append((container_id, pid))

    def terminate(self, container_id, pid):
        self.terminated.append((container_id, pid))

    def exit_status(self, executor):
        return self.exit_statuses.get(executor.container_id)

    def cleanup(self, container_id):
        self.cleaned.append(container_id)

    def limitation(self, container_id):
        return self.limits.get(container_id)

    def adopt(self, container_id, cgroup):
        self.adopted[container_id] = cgroup

    def alive(self, pid, pid_start):
        return pid in self.alive_pids

    def watch(self, executor):
        self.watched.append(executor)


class Checkpoint(Checkpointer):
    """The real checkpointer without its file: every entry goes to its model only, which
    `load` returns (its frameworks, executors, tasks and journals are read as its own)."""

    def __init__(self) -> None:
        super().__init__("/nonexistent")
        self.agent: str | None = None

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _write(self, entry):
        self.model.apply(entry)

    def _rewrite(self):
        pass

    def agent_id(self, agent_id):
        self.agent = agent_id

    def load(self) -> Recovered:
        return self.model.recovered()


def make_state(checkpoint=None, **options):
    options.setdefault("containerizers", ("mesos", "docker"))
    clock = FakeClock()
    master, containers = Recorder(), Containers()
    checkpoint = checkpoint or Checkpoint()
    opts = AgentOptions(hostname="h", port=5051, work_dir="/w", total=Resources.parse("cpus:4;mem:4096"),
                        executor_registration_timeout=10, executor_reregistration_timeout=2,
                        executor_shutdown_grace_period=3, status_update_retry_interval=1, **options)
    state = AgentState(opts, master=master, containers=containers, checkpoint=checkpoint, clock=clock, wallclock=clock)
    state.test_clock, state.test_master, state.test_containers, state.test_checkpoint = clock, master, containers, checkpoint
    return state


@pytest.fixture
def agent():
    state = make_state()
    state.registered("A1")
    yield state
    check_books(state)


def check_books(state: AgentState) -> None:
    """Every task is live, or ended and waiting for its acknowledgement, or completed; every
    unacknowledged update is pending redelivery; no checkpoint is left of a forgotten executor;
    every container the state launched is current or cleaned up."""
    checkpoint, containers = state.test_checkpoint, state.test_containers
    current = set()
    for fw in state.frameworks.values():
        for executor in fw.executors.values():
            current.add(executor.container_id)
            for task in executor.tasks.values():
                assert not task.terminal or state.updates.pending(fw.id, task.task_id), task
        for executor in fw.completed_executors:
            key = (fw.id, executor.executor_id)
            for task in executor.tasks.values():
                assert task.terminal and state.updates.pending(fw.id, task.task_id), task
                assert key in checkpoint.executors or (fw.id, task.task_id) in checkpoint.journals
            if not executor.tasks and not any(e.executor_id == executor.executor_id for e in fw.executors.values()):
                assert key not in checkpoint.executors, f"checkpoint left of forgotten executor {key}"
        for executor in list(fw.executors.values()) + list(fw.completed_executors):
            for task in executor.completed_tasks:
                assert task.terminal and not state.updates.pending(fw.id, task.task_id)
    for executor in containers.launched:
        assert executor.container_id in current or executor.container_id in containers.cleaned
    if not state.updates.paused:  # every unacknowledged update is of a task we track, and goes out again
        tracked = {
            task.task_id for fw in state.frameworks.values()
            for executor in list(fw.executors.values()) + list(fw.completed_executors)
            for task in executor.tasks.values() if state.updates.pending(fw.id, task.task_id)
        }
        before = len(state.test_master.events)
        state.test_clock.now += 1e6
        state.updates.tick()
        resent = [e["update"]["status"]["task_id"]["value"] for e in state.test_master.events[before:]]
        assert sorted(resent) == sorted(tracked)


# ---------------------------------------------------------------- helpers

FRAMEWORK = {"id": {"value": "F"}, "name": "f", "user": "u"}


# The tests of the executor protocol run command tasks in an image, which the built-in command
# executor runs; command tasks on the host the agent runs itself (`in_agent`, the tests below).
IMAGE = {"type": "DOCKER", "docker": {"image": "busybox"}}


def task_info(task_id, executor=None, resources="cpus:1;mem:128", container=IMAGE):
    info = {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": "A1"},
            "resources": Resources.parse(resources).to_json(), "command": {"value": "true"}}
    if container is not None and not executor:
        info["container"] = container
    if executor:
        info["executor"] = {"executor_id": {"value": executor}, "command": {"value": "my-executor"},
                            "resources": Resources.parse("cpus:0.1;mem:32").to_json()}
    return info


def run_task(state, task_id, executor=None):
    state.handle_master_event({"type": "RUN_TASK", "run_task": {"framework_info": FRAMEWORK, "task": task_info(task_id, executor)}})
    return state.frameworks["F"].executors[executor or task_id]


def start(state, executor, pid=1000):
    """The container came up and its executor subscribed: returns the executor's stream."""
    state.executor_started(executor, pid, 5.0, "c1")
    conn = Recorder()
    state.executor_subscribed(executor, conn, set())
    return conn


def status(task_id, state_name):
    return {"task_id": {"value": task_id}, "state": state_name, "source": "SOURCE_EXECUTOR",
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}


def last_update(state, task_id=None):
    updates = [e["update"] for e in state.test_master.of("UPDATE")
               if task_id is None or e["update"]["status"]["task_id"]["value"] == task_id]
    return updates[-1]["status"]


def ack(state, task_id, update_status=None):
    update_status = update_status or last_update(state, task_id)
    state.handle_master_event({"type": "ACKNOWLEDGE", "acknowledge": {
        "framework_id": {"value": "F"}, "task_id": {"value": task_id}, "uuid": update_status["uuid"]}})


# ---------------------------------------------------------------- launching and updates


def test_launch_running_finished_with_acks(agent):
    executor = run_task(agent, "t1")
    assert agent.test_containers.launched == [executor]
    assert executor.directory == "/w/slaves/A1/frameworks/F/executors/t1/runs/" + executor.container_id
    assert agent.test_checkpoint.frameworks["F"] == FRAMEWORK
    assert executor.queued and not executor.tasks["t1"].launched
    conn = start(agent, executor)
    assert agent.test_checkpoint.executors[("F", "t1")]["pid"] == 1000
    assert [e["type"] for e in conn.events] == ["SUBSCRIBED", "LAUNCH"]
    assert conn.events[0]["subscribed"]["agent_info"]["id"] == {"value": "A1"}
    assert executor.tasks["t1"].launched and "t1" in agent.test_checkpoint.tasks[("F", "t1")]

    running = status("t1", "TASK_RUNNING")
    agent.executor_update(executor, running)
    sent = last_update(agent)
    assert (sent["state"], sent["agent_id"], sent["executor_id"]) == ("TASK_RUNNING", {"value": "A1"}, {"value": "t1"})
    finished = status("t1", "TASK_FINISHED")
    agent.executor_update(executor, finished)
    assert last_update(agent)["uuid"] == running["uuid"]  # one outstanding update per task
    agent.test_clock.now += 1.5
    agent.tick()
    retry = agent.test_master.of("UPDATE")[-1]["update"]
    assert (retry["status"]["uuid"], retry["latest_state"]) == (running["uuid"], "TASK_FINISHED")
    ack(agent, "t1", running)
    assert conn.of("ACKNOWLEDGED")[-1]["acknowledged"]["uuid"] == running["uuid"]
    assert last_update(agent)["uuid"] == finished["uuid"]
    ack(agent, "t1", finished)
    assert "t1" not in executor.tasks and executor.completed_tasks[-1].task_id == "t1"

    agent.executor_exited(executor, 0)
    fw = agent.frameworks["F"]
    assert not fw.executors and fw.completed_executors[-1] is executor
    assert conn.closed and executor.container_id in agent.test_containers.cleaned
    assert ("F", "t1") not in agent.test_checkpoint.executors and ("F", "t1") not in agent.test_checkpoint.journals
    assert not agent.test_master.of("EXITED_EXECUTOR")  # not for the command executor


def test_second_task_of_a_custom_executor_reuses_it_and_grows_its_limits(agent):
    executor = run_task(agent, "t1", executor="E")
    conn = start(agent, executor)
    assert run_task(agent, "t2", executor="E") is executor
    assert len(agent.test_containers.launched) == 1
    assert [e["type"] for e in conn.events] == ["SUBSCRIBED", "LAUNCH", "LAUNCH"]
    [(container, resources)] = agent.test_containers.limit_updates
    assert container == executor.container_id and resources.scalar("cpus") == pytest.approx(2.1)


def test_run_task_group_launches_the_default_executor(agent):
    group = [task_info("g1"), task_info("g2")]
    agent.handle_master_event({"type": "RUN_TASK_GROUP", "run_task_group": {
        "framework_info": FRAMEWORK, "executor_info": {"executor_id": {"value": "D"}, "type": "DEFAULT", "resources": []},
        "task_group": {"tasks": group}}})
    executor = agent.frameworks["F"].executors["D"]
    assert executor.kind == "default"
    conn = start(agent, executor)
    [launch] = conn.of("LAUNCH_GROUP")
    assert [t["task_id"]["value"] for t in launch["launch_group"]["task_group"]["tasks"]] == ["g1", "g2"]


def test_resubscribing_executor_is_not_sent_tasks_it_has(agent):
    executor = run_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    conn = Recorder()
    agent.executor_subscribed(executor, conn, {"t1"})
    assert [e["type"] for e in conn.events] == ["SUBSCRIBED"]


def test_updates_wait_for_registration_and_are_retried(agent):
    agent.disconnected()
    executor = run_task(agent, "t1")
    start(agent, executor)
    agent.executor_update(executor, status("t1", "TASK_RUNNING"))
    assert not agent.test_master.of("UPDATE")  # paused while disconnected
    agent.registered("A1")
    assert len(agent.test_master.of("UPDATE")) == 1
    agent.test_clock.now += 1.5
    agent.tick()
    assert len(agent.test_master.of("UPDATE")) == 2  # not acknowledged: sent again
    ack(agent, "t1")


def test_update_framework_resends_pending_updates_now(agent):
    executor = run_task(agent, "t1")
    start(agent, executor)
    agent.executor_update(executor, status("t1", "TASK_RUNNING"))
    framework = dict(FRAMEWORK, name="renamed")
    agent.handle_master_event({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": framework}})
    assert len(agent.test_master.of("UPDATE")) == 2  # before its backoff expired
    assert agent.frameworks["F"].info == framework
    agent.disconnected()
    agent.handle_master_event({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": framework}})
    assert len(agent.test_master.of("UPDATE")) == 2  # not while disconnected
    agent.registered("A1")
    ack(agent, "t1")


def test_messages_and_pings(agent):
    executor = run_task(agent, "t1", executor="E")
    conn = start(agent, executor)
    agent.handle_master_event({"type": "FRAMEWORK_MESSAGE", "framework_message": {
        "framework_id": {"value": "F"}, "executor_id": {"value": "E"}, "data": "aGk="}})
    assert conn.of("MESSAGE") == [{"type": "MESSAGE", "message": {"data": "aGk="}}]
    agent.executor_message(executor, "b2s=")
    assert agent.test_master.of("MESSAGE")[-1]["message"]["data"] == "b2s="
    agent.handle_master_event({"type": "PING"})
    assert agent.test_master.of("PONG")


# ---------------------------------------------------------------- kills and shutdowns


def test_kill_of_a_queued_task_ends_it_and_its_executor(agent):
    executor = run_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F"}, "task_id": {"value": "t1"}}})
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["source"]) == ("TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH", "SOURCE_AGENT")
    assert sent["timestamp"] == agent.test_clock.now
    assert not executor.queued
    assert agent.test_containers.killed == [(executor.container_id, 1000)]  # no stream: killed right away
    agent.executor_exited(executor, 9)
    ack(agent, "t1")


def test_kill_of_a_running_task_goes_to_its_executor(agent):
    executor = run_task(agent, "t1")
    conn = start(agent, executor)
    policy = {"grace_period": {"nanoseconds": 1}}
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {
        "framework_id": {"value": "F"}, "task_id": {"value": "t1"}, "kill_policy": policy}})
    assert conn.of("KILL") == [{"type": "KILL", "kill": {"task_id": {"value": "t1"}, "kill_policy": policy}}]
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F"}, "task_id": {"value": "nope"}}})
    assert len(conn.of("KILL")) == 1


def test_shutdown_executor_kills_it_after_its_grace_period(agent):
    executor = run_task(agent, "t1", executor="E")
    conn = start(agent, executor)
    agent.executor_update(executor, status("t1", "TASK_RUNNING"))
    ack(agent, "t1")
    agent.handle_master_event({"type": "SHUTDOWN_EXECUTOR", "shutdown_executor": {
        "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}})
    assert conn.of("SHUTDOWN")
    agent.test_clock.now += 2.9
    agent.tick()
    assert not agent.test_containers.killed
    agent.test_clock.now += 0.2
    agent.tick()
    agent.tick()
    assert agent.test_containers.killed == [(executor.container_id, 1000)]  # once
    agent.executor_exited(executor, 9)
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["message"]) == ("TASK_KILLED", "REASON_EXECUTOR_TERMINATED", "Executor was shut down")
    [exited] = agent.test_master.of("EXITED_EXECUTOR")
    assert exited["exited_executor"] == {"framework_id": {"value": "F"}, "executor_id": {"value": "E"}, "status": 9}
    ack(agent, "t1")


def test_executor_that_exits_before_its_grace_period_is_not_killed(agent):
    executor = run_task(agent, "t1", executor="E")
    start(agent, executor)
    agent.handle_master_event({"type": "SHUTDOWN_FRAMEWORK", "shutdown_framework": {"framework_id": {"value": "F"}}})
    agent.executor_exited(executor, 0)
    agent.test_clock.now += 10
    agent.tick()
    assert not agent.test_containers.killed
    ack(agent, "t1")


def test_task_launched_while_its_executor_terminates_gets_a_new_container(agent):
    executor = run_task(agent, "t1", executor="E")
    start(agent, executor)
    agent.handle_master_event({"type": "SHUTDOWN_EXECUTOR", "shutdown_executor": {
        "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}})
    replacement = run_task(agent, "t2", executor="E")
    assert replacement is not executor and len(agent.test_containers.launched) == 2
    agent.executor_exited(executor, 0)
    assert agent.frameworks["F"].executors["E"] is replacement
    start(agent, replacement, pid=1001)
    ack(agent, "t1")


def test_the_old_run_of_an_executor_id_does_not_take_the_new_runs_checkpoint(agent):
    executor = run_task(agent, "t1", executor="E")
    start(agent, executor)
    agent.handle_master_event({"type": "SHUTDOWN_EXECUTOR", "shutdown_executor": {
        "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}})
    replacement = run_task(agent, "t2", executor="E")
    start(agent, replacement, pid=1001)  # the new run is up before the old one has exited
    agent.executor_exited(executor, 0)
    ack(agent, "t1")
    assert agent.test_checkpoint.executors[("F", "E")]["pid"] == 1001
    assert set(agent.test_checkpoint.tasks[("F", "E")]) == {"t2"}
    assert list(agent.test_checkpoint.load().executors) == [("F", "E")]


def test_an_executor_shut_down_while_it_launches_is_killed_when_it_starts(agent):
    executor = run_task(agent, "t1")
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F"}, "task_id": {"value": "t1"}}})
    assert last_update(agent)["state"] == "TASK_KILLED" and executor.ended
    agent.executor_started(executor, 1000, 5.0, "c1")  # the launch that was under way completes
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    assert ("F", "t1") not in agent.test_checkpoint.executors  # nothing to recover after a restart
    updates = len(agent.test_master.of("UPDATE"))
    agent.executor_exited(executor, 9)
    assert len(agent.test_master.of("UPDATE")) == updates  # its task ended once
    assert agent.test_containers.cleaned.count(executor.container_id) == 2  # again, now the process is gone
    ack(agent, "t1")


def test_shutdown_from_the_master_shuts_every_executor_down(agent):
    executor = run_task(agent, "t1")
    conn = start(agent, executor)
    agent.handle_master_event({"type": "SHUTDOWN", "shutdown": {"message": "bye"}})
    assert conn.of("SHUTDOWN") and executor.terminating
    agent.test_clock.now += 3.1
    agent.tick()
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    agent.executor_exited(executor, 9)
    assert last_update(agent)["state"] == "TASK_KILLED"
    ack(agent, "t1")


# ---------------------------------------------------------------- executor exits


def test_executor_exit_fails_its_unfinished_tasks(agent):
    executor = run_task(agent, "t1", executor="E")
    start(agent, executor)
    run_task(agent, "t2", executor="E")
    agent.executor_update(executor, status("t1", "TASK_FINISHED"))
    ack(agent, "t1")
    agent.executor_exited(executor, 256)
    sent = last_update(agent, "t2")
    assert (sent["state"], sent["reason"], sent["message"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED", "Executor terminated")
    assert executor.completed_tasks[-1].task_id == "t1" and set(executor.tasks) == {"t2"}
    assert ("F", "E") in agent.test_checkpoint.executors  # until t2's update is acknowledged
    ack(agent, "t2")
    assert ("F", "E") not in agent.test_checkpoint.executors


def test_executor_over_its_memory_limit_fails_its_tasks_with_the_limitation(agent):
    executor = run_task(agent, "t1")
    start(agent, executor)
    agent.test_containers.limits[executor.container_id] = memory_limitation(64 << 20, 64 << 20)
    agent.executor_exited(executor, 9)
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["source"]) == ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT")
    assert sent["message"] == "Memory limit exceeded: Requested: 64MB Maximum Used: 64MB"
    assert sent["limitation"] == {"resources": Resources.parse("mem:64").to_json()}
    ack(agent, "t1")


def test_a_task_killed_by_its_containers_memory_limit_fails_with_the_limitation_not_the_exit_status(agent):
    executor = run_task(agent, "t1")
    conn = start(agent, executor)
    agent.executor_update(executor, status("t1", "TASK_RUNNING"))
    ack(agent, "t1")
    agent.test_containers.limits[executor.container_id] = memory_limitation(64 << 20, 64 << 20)
    failed = dict(status("t1", "TASK_FAILED"), message="Command exited with status 137",
                  reason="REASON_COMMAND_EXECUTOR_FAILED")
    agent.executor_update(executor, failed)  # what the command executor saw: its task's process died
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["source"]) == ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT")
    assert sent["message"].startswith("Memory limit exceeded: Requested: 64MB")
    assert conn.of("SHUTDOWN") and executor.terminating  # the container is destroyed, as Mesos does
    agent.executor_exited(executor, 0)
    assert [u["update"]["status"]["state"] for u in agent.test_master.of("UPDATE")][-1] == "TASK_FAILED"
    ack(agent, "t1")


def test_an_image_container_killed_for_memory_is_the_agents_memory_limitation_for_a_built_in_executor_only(agent):
    used = Resources.parse("mem:100").to_json()
    executor = run_task(agent, "t1")
    start(agent, executor)
    oom = dict(status("t1", "TASK_FAILED"), message="The container's memory limit (134217728 bytes) was exceeded",
               reason="REASON_CONTAINER_LIMITATION_MEMORY", limitation={"resources": used})
    agent.executor_update(executor, oom)  # (executor/oom_watch.py saw it: the container runs outside the executor's cgroups)
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["source"]) == ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT")
    assert sent["message"] == "Memory limit exceeded: Requested: 128MB Maximum Used: 100MB"
    assert sent["limitation"] == {"resources": used}
    ack(agent, "t1")
    custom = run_task(agent, "t2", executor="E2")
    start(agent, custom)
    agent.executor_update(custom, dict(status("t2", "TASK_FAILED"), message=oom["message"], reason=oom["reason"]))
    sent = last_update(agent, "t2")  # a framework's own executor speaks for itself
    assert (sent["source"], sent["message"]) == ("SOURCE_EXECUTOR", oom["message"])


def test_memory_limitation_messages_write_bytes_as_mesos_does():
    assert memory_limitation(1 << 30, 1536 << 10).message == "Memory limit exceeded: Requested: 1GB Maximum Used: 1536KB"
    assert memory_limitation(100, 0).message == "Memory limit exceeded: Requested: 100B Maximum Used: 0B"


def test_launch_failure_fails_the_task(agent):
    executor = run_task(agent, "t1", executor="E")
    agent.executor_launch_failed(executor, "no such program")
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["message"]) == (
        "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "Failed to launch container: no such program")
    assert "E" not in agent.frameworks["F"].executors
    ack(agent, "t1")


def test_late_update_of_an_ended_task_is_dropped(agent):
    executor = run_task(agent, "t1")
    start(agent, executor)
    agent.handle_master_event({"type": "SHUTDOWN_EXECUTOR", "shutdown_executor": {
        "framework_id": {"value": "F"}, "executor_id": {"value": "t1"}}})
    agent.test_clock.now += 5
    agent.tick()
    agent.executor_exited(executor, 9)
    before = len(agent.test_master.events)
    agent.executor_update(executor, status("t1", "TASK_FINISHED"))
    assert len(agent.test_master.events) == before
    ack(agent, "t1")


# ---------------------------------------------------------------- registration with a master


def test_registration_payload_reports_tasks_executors_and_frameworks(agent):
    custom = run_task(agent, "t1", executor="E")
    start(agent, custom)
    run_task(agent, "t2")
    payload = registration_payload(agent)
    assert payload["agent_id"] == {"value": "A1"} and payload["agent_info"]["id"] == {"value": "A1"}
    assert payload["resources"] == Resources.parse("cpus:4;mem:4096").to_json()
    assert [e["executor_info"]["executor_id"]["value"] for e in payload["executors"]] == ["E"]  # not command executors
    assert {(t["task_id"]["value"], t["state"], t["executor_id"]["value"]) for t in payload["tasks"]} == {
        ("t1", "TASK_STAGING", "E"), ("t2", "TASK_STAGING", "t2")}
    assert payload["frameworks"] == [FRAMEWORK]


def test_registration_payload_includes_unacknowledged_tasks_of_ended_executors(agent):
    executor = run_task(agent, "t1", executor="E")
    start(agent, executor)
    run_task(agent, "t2", executor="E")
    agent.executor_update(executor, status("t2", "TASK_FINISHED"))
    ack(agent, "t2")
    agent.executor_exited(executor, 0)
    agent.disconnected()  # the master failed over before t1's TASK_FAILED was acknowledged
    payload = registration_payload(agent)
    assert [(t["task_id"]["value"], t["state"]) for t in payload["tasks"]] == [("t1", "TASK_FAILED")]
    assert payload["frameworks"] == [FRAMEWORK] and payload["executors"] == []
    agent.registered("A1")
    assert last_update(agent)["state"] == "TASK_FAILED"  # delivered to the new leader
    ack(agent, "t1")
    assert registration_payload(agent)["tasks"] == []


def test_a_new_agent_id_is_checkpointed(agent):
    assert agent.test_checkpoint.agent == "A1"
    agent.test_checkpoint.agent = None
    agent.registered("A1")
    assert agent.test_checkpoint.agent is None  # unchanged: not written again
    agent.registered("A2")
    assert agent.test_checkpoint.agent == "A2" and agent.agent_info()["id"] == {"value": "A2"}


def test_executor_that_never_subscribes_times_out(agent):
    executor = run_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    agent.test_clock.now += 9
    agent.tick()
    assert not agent.test_master.of("UPDATE")
    agent.test_clock.now += 2
    agent.tick()
    sent = last_update(agent)
    assert (sent["state"], sent["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT")
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    agent.executor_exited(executor, 9)
    assert len(agent.test_master.of("UPDATE")) == 1  # the task failed once
    ack(agent, "t1")


# ---------------------------------------------------------------- recovery


def previous_life(checkpoint: Checkpoint) -> tuple[AgentState, dict[str, Executor]]:
    """An agent that ran three executors, then went away without a word."""
    state = make_state(checkpoint)
    state.registered("A1")
    executors = {}
    for n, name in enumerate(["alive", "dead", "done"]):
        executor = executors[name] = run_task(state, name, executor=name)
        start(state, executor, pid=2000 + n)
        state.executor_update(executor, status(name, "TASK_RUNNING"))
        ack(state, name)
    state.executor_update(executors["done"], status("done", "TASK_FINISHED"))  # not acknowledged
    return state, executors


def test_recovery_reattaches_live_executors_and_fails_the_dead(agent):
    previous_life(agent.test_checkpoint)
    state = make_state(agent.test_checkpoint)
    state.test_containers.alive_pids = {2000, 2002}
    recovered = agent.test_checkpoint.load()
    state.recover("A1", recovered, "reconnect")
    executors = state.frameworks["F"].executors
    alive = executors["alive"]
    assert alive.recovered and alive.pid == 2000 and alive.tasks["alive"].state == "TASK_RUNNING"
    assert alive.tasks["alive"].launched
    assert state.test_containers.watched == [alive, executors["done"]]
    assert state.test_containers.adopted == {r["container_id"]: "c1" for r in recovered.executors.values()}
    assert "done" in executors and "dead" not in executors  # done's executor still runs; dead's ended
    assert not state.test_master.of("UPDATE")  # nothing sent before registering
    state.registered("A1")
    sent = {u["update"]["status"]["task_id"]["value"]: u["update"]["status"] for u in state.test_master.of("UPDATE")}
    assert sent["done"]["state"] == "TASK_FINISHED"  # replayed from the journal
    assert (sent["dead"]["state"], sent["dead"]["message"]) == ("TASK_FAILED", "Executor terminated while the agent was down")
    assert "alive" not in sent  # its update was acknowledged before the restart
    state.recovered_executor_exited(alive)
    assert last_update(state, "alive")["state"] == "TASK_FAILED"
    state.recovered_executor_exited(alive)  # a second report changes nothing
    for task_id in ("done", "dead", "alive"):
        ack(state, task_id)
    check_books(state)


def test_recovered_executor_must_resubscribe_within_the_reregistration_timeout(agent):
    previous_life(agent.test_checkpoint)
    state = make_state(agent.test_checkpoint)
    state.test_containers.alive_pids = {2000, 2002}
    state.recover("A1", agent.test_checkpoint.load(), "reconnect")
    state.registered("A1")
    state.executor_subscribed(state.frameworks["F"].executors["done"], Recorder(), {"done"})
    state.test_clock.now += 2.5
    state.tick()
    sent = last_update(state, "alive")
    assert (sent["state"], sent["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_REREGISTRATION_TIMEOUT")
    alive = state.frameworks["F"].executors["alive"]
    assert state.test_containers.killed == [(alive.container_id, 2000)]
    state.recovered_executor_exited(alive)
    for task_id in ("done", "dead", "alive"):
        ack(state, task_id)
    check_books(state)


def test_recovery_with_cleanup_kills_survivors_and_forgets_everything(agent):
    previous_life(agent.test_checkpoint)
    state = make_state(agent.test_checkpoint)
    state.test_containers.alive_pids = {2000}
    recovered = agent.test_checkpoint.load()
    state.recover("A1", recovered, "cleanup")
    alive = recovered.executors[("F", "alive")]
    assert state.test_containers.killed == [(alive["container_id"], 2000)]
    assert state.test_containers.cleaned == [alive["container_id"]]
    assert state.test_containers.adopted == {alive["container_id"]: "c1"}
    assert not state.frameworks and not agent.test_checkpoint.executors and not agent.test_checkpoint.journals
    state.registered("A1")
    assert not state.test_master.of("UPDATE")
    check_books(state)


@pytest.mark.parametrize(("container", "image"), [
    ({"type": "DOCKER", "docker": {"image": "library/busybox:1.36"}}, "docker:library/busybox:1.36"),
    ({"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "spark:4"}}}}, "docker:spark:4"),
])
def test_a_task_asking_for_a_container_image_fails_to_launch_naming_the_image(container, image):
    agent = make_state(containerizers=("mesos",))
    agent.registered("A1")
    info = dict(task_info("t1"), container=container)
    agent.handle_master_event({"type": "RUN_TASK", "run_task": {"framework_info": FRAMEWORK, "task": info}})
    assert not agent.test_containers.launched  # never run on the host instead
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["source"]) == ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "SOURCE_AGENT")
    assert sent["message"].startswith("Failed to launch container: None of the enabled containerizers (mesos)")
    assert f"(asked for {image})" in sent["message"]
    ack(agent, "t1")
    check_books(agent)


def test_a_mesos_container_without_an_image_runs(agent):
    info = dict(task_info("t1"), container={"type": "MESOS", "mesos": {}})
    agent.handle_master_event({"type": "RUN_TASK", "run_task": {"framework_info": FRAMEWORK, "task": info}})
    assert len(agent.test_containers.launched) == 1


def test_a_container_over_a_limit_the_agent_watches_fails_its_tasks_and_is_destroyed(agent):
    executor = run_task(agent, "t1")
    conn = start(agent, executor)
    agent.executor_update(executor, status("t1", "TASK_RUNNING"))
    ack(agent, "t1")
    agent.container_limited(executor, disk_limitation(10 << 20, 30 << 20))
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["message"]) == (
        "TASK_FAILED", "REASON_CONTAINER_LIMITATION_DISK", "Disk usage (30MB) exceeds quota (10MB)")
    assert sent["limitation"] == {"resources": Resources.parse("disk:30").to_json()}
    assert conn.of("SHUTDOWN") and executor.terminating
    agent.executor_exited(executor, 0)
    ack(agent, "t1")


def test_the_agent_waits_for_pings_as_long_as_the_master_waits_for_it():
    from corral.agent.master_link import silence_allowed

    # The master's budget (agent_ping_timeout x max_agent_ping_timeouts), as Mesos's MasterSlaveConnection carries it:
    # shorter, a master stalled for 1.5 s under load lost every agent (and their offers) to a reconnection.
    assert silence_allowed({"ping_interval_seconds": 0.5, "connection": {"total_ping_timeout_seconds": 3.0}}) == 3.0
    assert silence_allowed({"ping_interval_seconds": 15}) == 45.0  # (a master that does not say)


# ---------------------------------------------------------------- command tasks the agent runs itself


def host_task(state, task_id, framework=FRAMEWORK, **fields):
    """A command task on the host: the agent runs it (no executor process); returns its executor record."""
    info = {**task_info(task_id, container=None), **fields}
    state.handle_master_event({"type": "RUN_TASK", "run_task": {"framework_info": framework, "task": info}})
    return state.frameworks[framework["id"]["value"]].executors[task_id]


def killed_after(agent, executor, seconds):
    """The task's process is SIGKILLed `seconds` from now, not before; it dies: its last update."""
    agent.test_clock.now += seconds - 0.1
    agent.tick()
    assert not agent.test_containers.killed
    agent.test_clock.now += 0.2
    agent.tick()
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    agent.executor_exited(executor, 9)
    return last_update(agent)


def test_a_command_task_on_the_host_runs_without_an_executor_and_reports_as_its_executor(agent):
    executor = host_task(agent, "t1")
    assert executor.in_agent and agent.test_containers.launched == [executor] and not executor.queued
    assert not agent.test_master.of("UPDATE")  # nothing until its process exists
    agent.executor_started(executor, 1000, 5.0, "c1")
    assert agent.test_checkpoint.executors[("F", "t1")]["in_agent"] is True
    assert "t1" in agent.test_checkpoint.tasks[("F", "t1")] and executor.tasks["t1"].launched
    running = last_update(agent)
    assert (running["state"], running["source"], running["container_status"]["executor_pid"]) == (
        "TASK_RUNNING", "SOURCE_EXECUTOR", 1000)
    assert running["container_status"]["container_id"] == {"value": executor.container_id}
    agent.executor_exited(executor, 0)  # before TASK_RUNNING was acknowledged: FINISHED waits its turn
    assert last_update(agent)["uuid"] == running["uuid"]
    ack(agent, "t1")
    finished = last_update(agent)
    assert (finished["state"], finished["message"], finished["source"]) == (
        "TASK_FINISHED", "Command exited with status 0", "SOURCE_EXECUTOR")
    ack(agent, "t1")
    assert ("F", "t1") not in agent.test_checkpoint.executors and executor.container_id in agent.test_containers.cleaned
    assert not agent.test_master.of("EXITED_EXECUTOR")
    agent.test_clock.now += 1000
    agent.tick()  # no executor registration timeout: none subscribes
    assert len(agent.test_master.of("UPDATE")) == 2


@pytest.mark.parametrize(("wait_status", "message"), [
    (3 << 8, "Command exited with status 3"),
    (9, "Command terminated with signal SIGKILL"),
])
def test_a_command_task_that_fails_fails_as_under_the_command_executor(agent, wait_status, message):
    executor = host_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    ack(agent, "t1")
    agent.executor_exited(executor, wait_status)
    sent = last_update(agent)
    assert (sent["state"], sent["reason"], sent["message"]) == ("TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", message)
    ack(agent, "t1")


def test_a_command_task_over_its_memory_limit_fails_with_the_limitation(agent):
    executor = host_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, "c1")
    ack(agent, "t1")
    agent.test_containers.limits[executor.container_id] = memory_limitation(64 << 20, 80 << 20)
    agent.executor_exited(executor, 9)
    sent = last_update(agent)
    assert (sent["state"], sent["reason"]) == ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY")
    ack(agent, "t1")


@pytest.mark.parametrize("killing_capable", [True, False])
def test_killing_a_command_task_terms_it_then_kills_it_after_its_grace_period(agent, killing_capable):
    framework = dict(FRAMEWORK, capabilities=[{"type": "TASK_KILLING_STATE"}]) if killing_capable else FRAMEWORK
    executor = host_task(agent, "t1", framework=framework, kill_policy={"grace_period": {"nanoseconds": 2_000_000_000}})
    agent.executor_started(executor, 1000, 5.0, None)
    ack(agent, "t1")
    kill = {"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F"}, "task_id": {"value": "t1"}}}
    agent.handle_master_event(kill)
    agent.handle_master_event(kill)  # a retried kill changes nothing
    assert agent.test_containers.terminated == [(executor.container_id, 1000)] and not agent.test_containers.killed
    if killing_capable:
        assert (last_update(agent)["state"], last_update(agent)["source"]) == ("TASK_KILLING", "SOURCE_EXECUTOR")
        ack(agent, "t1")
    else:
        assert last_update(agent)["state"] == "TASK_RUNNING"
    sent = killed_after(agent, executor, 2.0)
    assert (sent["state"], sent["message"]) == ("TASK_KILLED", "Command terminated by a kill request")
    ack(agent, "t1")


def test_a_kill_with_no_grace_period_kills_at_once(agent):
    executor = host_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {
        "framework_id": {"value": "F"}, "task_id": {"value": "t1"}, "kill_policy": {"grace_period": {"nanoseconds": 0}}}})
    assert agent.test_containers.killed == [(executor.container_id, 1000)] and not agent.test_containers.terminated
    agent.executor_exited(executor, 9)
    ack(agent, "t1")
    assert last_update(agent)["state"] == "TASK_KILLED"
    ack(agent, "t1")


def test_a_command_task_killed_before_its_process_exists_never_runs(agent):
    executor = host_task(agent, "t1")
    agent.handle_master_event({"type": "KILL_TASK", "kill_task": {"framework_id": {"value": "F"}, "task_id": {"value": "t1"}}})
    sent = last_update(agent)
    assert (sent["state"], sent["reason"]) == ("TASK_KILLED", "REASON_TASK_KILLED_DURING_LAUNCH")
    agent.executor_started(executor, 1000, 5.0, None)  # the launch that was under way
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    assert [u["update"]["status"]["state"] for u in agent.test_master.of("UPDATE")] == ["TASK_KILLED"]
    agent.executor_exited(executor, 9)
    ack(agent, "t1")


def test_a_command_task_past_its_max_completion_time_is_killed_and_fails(agent):
    executor = host_task(agent, "t1", max_completion_time={"nanoseconds": 5_000_000_000})
    agent.executor_started(executor, 1000, 5.0, None)
    ack(agent, "t1")
    sent = killed_after(agent, executor, 5.0)
    assert (sent["state"], sent["reason"]) == ("TASK_FAILED", "REASON_MAX_COMPLETION_TIME_REACHED")
    ack(agent, "t1")


def test_shutting_a_framework_down_terms_its_command_tasks_for_the_shutdown_grace_period(agent):
    executor = host_task(agent, "t1")
    agent.executor_started(executor, 1000, 5.0, None)
    ack(agent, "t1")
    agent.handle_master_event({"type": "SHUTDOWN_FRAMEWORK", "shutdown_framework": {"framework_id": {"value": "F"}}})
    assert agent.test_containers.terminated == [(executor.container_id, 1000)]
    agent.test_clock.now += 3.1
    agent.tick()
    assert agent.test_containers.killed == [(executor.container_id, 1000)]
    agent.executor_exited(executor, 15)
    assert (last_update(agent)["state"], last_update(agent)["reason"]) == ("TASK_KILLED", "REASON_EXECUTOR_TERMINATED")


def test_a_restarted_agent_learns_how_its_command_tasks_ended_from_their_exit_files(agent):
    names = ["running", "ended", "unknown"]
    executors = {}
    for n, name in enumerate(names):
        executors[name] = host_task(agent, name)
        agent.executor_started(executors[name], 3000 + n, 5.0, "c1")
        ack(agent, name)
    state = make_state(agent.test_checkpoint)
    state.test_containers.alive_pids = {3000}
    state.test_containers.exit_statuses = {executors["ended"].container_id: 0, executors["running"].container_id: 2 << 8}
    state.recover("A1", agent.test_checkpoint.load(), "reconnect")
    state.registered("A1")
    recovered = state.frameworks["F"].executors
    running = recovered["running"]
    # The ended ones are watched too: the zygote that reaps them may not have written their exit files yet.
    assert running.in_agent and state.test_containers.watched == [recovered[name] for name in names]
    assert not state.test_master.of("UPDATE")
    state.recovered_executor_exited(recovered["ended"])
    state.recovered_executor_exited(recovered["unknown"])
    sent = {u["update"]["status"]["task_id"]["value"]: u["update"]["status"] for u in state.test_master.of("UPDATE")}
    assert (sent["ended"]["state"], sent["ended"]["message"]) == ("TASK_FINISHED", "Command exited with status 0")
    assert (sent["unknown"]["state"], sent["unknown"]["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_TERMINATED")
    assert "running" not in sent
    state.test_clock.now += 1000
    state.tick()  # it never re-subscribes, and is not expected to
    assert "running" in state.frameworks["F"].executors
    state.recovered_executor_exited(running)
    assert (last_update(state, "running")["state"], last_update(state, "running")["message"]) == (
        "TASK_FAILED", "Command exited with status 2")
    for name in names:
        ack(state, name)
    check_books(state)


def test_a_task_kept_for_its_unacknowledged_end_does_not_take_back_its_cgroup(agent):
    # Ended before the restart, its TASK_FINISHED not yet acknowledged: its slot went back to the
    # pool and is running another task now. Adopting it would have the ended one's cleanup kill that.
    executor = host_task(agent, "ended")
    agent.executor_started(executor, 3000, 5.0, "c1")
    ack(agent, "ended")
    agent.executor_exited(executor, 0)
    assert last_update(agent, "ended")["state"] == "TASK_FINISHED"
    alive = host_task(agent, "alive")
    agent.executor_started(alive, 3001, 5.0, "c1")  # (the same slot, reused)
    state = make_state(agent.test_checkpoint)
    state.test_containers.alive_pids = {3001}
    state.recover("A1", agent.test_checkpoint.load(), "reconnect")
    assert state.test_containers.adopted == {alive.container_id: "c1"}
