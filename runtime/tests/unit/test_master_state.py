"""The master's state machine with recording connections and a fake clock: no sockets."""

from __future__ import annotations

import base64
import uuid

import pytest

from corral.allocator import AllocatorOptions
from corral.allocator.hierarchical import HierarchicalAllocator
from corral.master.state import CallError, MasterOptions, MasterState
from corral.resources import Resources


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.closed = False

    def send(self, event):
        self.events.append(event)

    def close(self):
        self.closed = True

    def of(self, kind):
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
def master():
    clock = Clock()
    options = MasterOptions(agent_ping_timeout=1, max_agent_ping_timeouts=3, allocation_batch=0, heartbeat_interval=5)
    m = MasterState(options, HierarchicalAllocator(AllocatorOptions(seed=1), clock), clock=clock, master_id="M")
    m.test_clock = clock
    yield m
    check_books(m)


def check_books(m: MasterState) -> None:
    """Every offer is known to its framework and agent; every live task to its agent."""
    for offer in m.offers.values():
        assert offer.id in m.frameworks[offer.framework_id].offers
        assert offer.id in m.agents[offer.agent_id].offers
    for fw in m.frameworks.values():
        for task in fw.tasks.values():
            if not task.terminal and task.agent_id in m.agents:
                assert m.agents[task.agent_id].tasks[fw.id][task.task_id] is task


def add_agent(m, resources="cpus:4;mem:4096"):
    conn = Recorder()
    agent = m.register_agent({"hostname": "h", "port": 5051}, Resources.parse(resources), conn)
    return agent, conn


def subscribe(m, **info):
    conn = Recorder()
    fw = m.subscribe({"user": "u", "name": "f", **info}, None, conn)
    return fw, conn


def offers(m, conn):
    m.tick()
    return [o for e in conn.of("OFFERS") for o in e["offers"]["offers"]]


def task(task_id, offer, resources="cpus:1;mem:128", **extra):
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": Resources.parse(resources).to_json(), "command": {"value": "true"}, **extra}


def launch(m, fw, offer_list, tasks):
    m.accept(fw, [o["id"]["value"] for o in offer_list], [{"type": "LAUNCH", "launch": {"task_infos": tasks}}], None)


def update(task_id, state, agent_id, uid=None):
    return {"framework_id": {"value": ""}, "status": {
        "task_id": {"value": task_id}, "state": state, "source": "SOURCE_EXECUTOR", "agent_id": {"value": agent_id},
        "uuid": uid or base64.b64encode(uuid.uuid4().bytes).decode()}}


def test_subscribe_offer_launch_and_finish(master):
    agent, agent_conn = add_agent(master)
    fw, conn = subscribe(master)
    assert conn.events[0]["type"] == "SUBSCRIBED"
    [offer] = offers(master, conn)
    assert "allocation_info" not in offer  # not a MULTI_ROLE framework
    launch(master, fw, [offer], [task("t1", offer)])
    [run] = agent_conn.of("RUN_TASK")
    assert run["run_task"]["task"]["resources"][0]["allocation_info"] == {"role": "*"}
    up = update("t1", "TASK_FINISHED", agent.id)
    up["framework_id"] = {"value": fw.id}
    master.status_update(agent, up)
    assert conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_FINISHED"
    master.acknowledge(fw, agent.id, "t1", up["status"]["uuid"])
    assert agent_conn.of("ACKNOWLEDGE")
    assert "t1" not in fw.tasks and fw.completed_tasks[-1].task_id == "t1"


def test_multi_role_offers_carry_allocation_info(master):
    add_agent(master)
    fw, conn = subscribe(master, roles=["a"], capabilities=[{"type": "MULTI_ROLE"}])
    [offer] = offers(master, conn)
    assert offer["allocation_info"] == {"role": "a"}
    assert {r["allocation_info"]["role"] for r in offer["resources"]} == {"a"}


def test_subscription_errors(master):
    with pytest.raises(CallError, match="requires the MULTI_ROLE capability"):
        subscribe(master, roles=["a"])
    with pytest.raises(CallError, match="framework_info.name is required"):
        master.subscribe({"user": "u"}, None, Recorder())
    master.options.roles = ["ok"]
    with pytest.raises(CallError, match="not present in the master's --roles") as err:
        subscribe(master, role="elsewhere")
    assert err.value.status == 403


def test_offer_from_another_agent_and_unknown_offers(master):
    add_agent(master)
    add_agent(master)
    fw, conn = subscribe(master)
    a, b = offers(master, conn)
    launch(master, fw, [a, b], [task("t", a)])
    status = conn.of("UPDATE")[-1]["update"]["status"]
    assert (status["state"], status["reason"]) == ("TASK_LOST", "REASON_INVALID_OFFERS")
    assert "one single agent" in status["message"]
    assert not master.offers  # both offers went back to the allocator


def test_failover_timeout_keeps_then_removes_tasks(master):
    agent, agent_conn = add_agent(master)
    fw, conn = subscribe(master, failover_timeout=10)
    [offer] = offers(master, conn)
    launch(master, fw, [offer], [task("t1", offer)])
    master.disconnect_framework(fw.id, conn)
    master.test_clock.now += 5
    master.agent_pong(agent)
    master.tick()
    assert fw.id in master.frameworks and "t1" in fw.tasks
    # Re-subscribing within the timeout keeps everything.
    again = Recorder()
    fw2 = master.subscribe({"user": "u", "name": "f", "id": {"value": fw.id}}, fw.id, again)
    assert fw2 is fw and fw.connected and "t1" in fw.tasks
    master.disconnect_framework(fw.id, again)
    master.test_clock.now += 11
    master.agent_pong(agent)
    master.tick()
    assert fw.id not in master.frameworks
    assert agent_conn.of("SHUTDOWN_FRAMEWORK")
    with pytest.raises(CallError, match="has been removed"):
        master.subscribe({"user": "u", "name": "f", "id": {"value": fw.id}}, fw.id, Recorder())


def test_silent_agent_becomes_unreachable(master):
    agent, _ = add_agent(master)
    plain, plain_conn = subscribe(master)
    aware, aware_conn = subscribe(master, capabilities=[{"type": "PARTITION_AWARE"}])
    for fw, conn, name in ((plain, plain_conn, "p"), (aware, aware_conn, "a")):
        for o in offers(master, conn):
            launch(master, fw, [o], [task(name, o)])
        master.tick()
    assert set(plain.tasks) == {"p"} and set(aware.tasks) == {"a"}
    master.test_clock.now += 2.5
    master.tick()
    assert agent.id in master.agents  # 2.5 s < 3 pings of 1 s
    master.test_clock.now += 1
    master.tick()
    assert agent.id in master.unreachable_agents
    assert plain_conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_LOST"
    assert aware_conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_UNREACHABLE"
    assert "a" in aware.tasks and "p" not in plain.tasks


def test_heartbeats_and_offer_timeout(master):
    master.options.offer_timeout = 3
    add_agent(master)
    fw, conn = subscribe(master)
    offers(master, conn)
    master.test_clock.now += 5
    master.tick()
    assert conn.of("RESCIND") and conn.of("HEARTBEAT")


def test_implicit_reconciliation_and_kill_of_unknown_task(master):
    agent, agent_conn = add_agent(master)
    fw, conn = subscribe(master)
    [offer] = offers(master, conn)
    launch(master, fw, [offer], [task("t1", offer)])
    master.reconcile(fw, [])
    status = conn.of("UPDATE")[-1]["update"]["status"]
    assert (status["state"], status["reason"]) == ("TASK_STAGING", "REASON_RECONCILIATION")
    master.kill(fw, "ghost", None, None)
    assert conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_LOST"
    master.kill(fw, "t1", None, None)
    assert agent_conn.of("KILL_TASK")[-1]["kill_task"]["task_id"] == {"value": "t1"}


def test_agent_reregistration_reports_missing_tasks(master):
    agent, conn = add_agent(master)
    fw, fconn = subscribe(master)
    [offer] = offers(master, fconn)
    launch(master, fw, [offer], [task("kept", offer), task("vanished", offer)])
    kept = dict(agent.tasks[fw.id]["kept"].info, framework_id={"value": fw.id}, state="TASK_RUNNING")
    master.register_agent(agent.info, agent.total, Recorder(), agent_id=agent.id, tasks=[kept])
    assert conn.closed
    states = {e["update"]["status"]["task_id"]["value"]: e["update"]["status"] for e in fconn.of("UPDATE")}
    assert states["vanished"]["state"] == "TASK_LOST" and states["vanished"]["reason"] == "REASON_TASK_UNKNOWN"
    assert fw.tasks["kept"].state == "TASK_RUNNING"


def test_acknowledge_needs_a_uuid(master):
    agent, _ = add_agent(master)
    fw, _ = subscribe(master)
    with pytest.raises(CallError, match="16-byte UUID"):
        master.acknowledge(fw, agent.id, "t", "bm90LWEtdXVpZA==")


def test_reconciliation_waits_for_agents_that_may_still_reregister():
    from corral.master.registry import RegistryData

    clock = Clock()
    options = MasterOptions(agent_reregister_timeout=10, allocation_batch=0)
    recovered = RegistryData(agents={"old-agent": {"hostname": "h", "port": 5051}})
    m = MasterState(options, HierarchicalAllocator(AllocatorOptions(seed=1), clock), clock=clock,
                    master_id="M2", recovered=recovered)
    fw, conn = subscribe(m)
    m.reconcile(fw, [{"task_id": {"value": "t"}, "agent_id": {"value": "old-agent"}}])
    m.reconcile(fw, [{"task_id": {"value": "t"}}])
    assert conn.of("UPDATE") == []
    clock.now += 11
    m.tick()
    assert "old-agent" in m.unreachable_agents
    m.reconcile(fw, [{"task_id": {"value": "t"}, "agent_id": {"value": "old-agent"}}])
    assert conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_LOST"
