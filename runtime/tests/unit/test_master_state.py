"""The master's state machine with recording connections and a fake clock: no sockets."""

from __future__ import annotations

import base64
import uuid

import pytest

from corral.allocator import AllocatorOptions
from corral.allocator.hierarchical import HierarchicalAllocator
from corral.master.state import CallError, MasterOptions, MasterState
from corral.resources import Resources
from support.fakes import FakeClock
from support.fakes import Recorder


@pytest.fixture
def master():
    clock = FakeClock()
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


def run_for(m, seconds, clock=None, each=None):
    """Let `seconds` pass as a running master sees them: a tick every half second (a longer jump of the
    clock is a stall of the master itself, which its peers are not blamed for)."""
    clock = clock or m.test_clock
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(end, clock.now + 0.5)
        if each is not None:
            each()
        m.tick()


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
    run_for(master, 2.5)
    assert agent.id in master.agents  # 2.5 s < 3 pings of 1 s
    run_for(master, 1)
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

    clock = FakeClock()
    options = MasterOptions(agent_reregister_timeout=10, allocation_batch=0)
    recovered = RegistryData(agents={"old-agent": {"hostname": "h", "port": 5051}})
    m = MasterState(options, HierarchicalAllocator(AllocatorOptions(seed=1), clock), clock=clock,
                    master_id="M2", recovered=recovered)
    fw, conn = subscribe(m)
    m.reconcile(fw, [{"task_id": {"value": "t"}, "agent_id": {"value": "old-agent"}}])
    m.reconcile(fw, [{"task_id": {"value": "t"}}])
    assert conn.of("UPDATE") == []
    run_for(m, 11, clock)
    assert "old-agent" in m.unreachable_agents
    m.reconcile(fw, [{"task_id": {"value": "t"}, "agent_id": {"value": "old-agent"}}])
    assert conn.of("UPDATE")[-1]["update"]["status"]["state"] == "TASK_LOST"


# ---------------------------------------------------------------- frameworks recovered from agents (issue 10)

def reregister_with_a_running_task(m, framework_info, agent_id="A-old", task_id="long"):
    """An agent of an earlier leader re-registers with one running task of a framework this master never saw."""
    framework_id = framework_info["id"]["value"]
    conn = Recorder()
    running = {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
               "resources": Resources.parse("cpus:1;mem:128").to_json(), "command": {"value": "sleep 60"},
               "framework_id": {"value": framework_id}, "executor_id": {"value": task_id}, "state": "TASK_RUNNING"}
    agent = m.register_agent({"hostname": "h", "port": 5051}, Resources.parse("cpus:4;mem:4096"), conn,
                             agent_id=agent_id, tasks=[running], frameworks=[framework_info])
    return agent, conn


def resubscribe_as(m, framework_info):
    conn = Recorder()
    fw = m.subscribe(framework_info, framework_info["id"]["value"], conn)
    return fw, conn


@pytest.mark.parametrize("failover_timeout", [None, 0, 5])
def test_a_framework_recovered_from_an_agent_is_kept_until_it_resubscribes(master, failover_timeout):
    from corral.master import operator, views

    info = {"user": "u", "name": "old", "id": {"value": "FW-old"}}
    if failover_timeout is not None:
        info["failover_timeout"] = failover_timeout
    events = Recorder()
    master.subscribe_operator(events)
    agent, agent_conn = reregister_with_a_running_task(master, info)
    fw = master.frameworks["FW-old"]
    assert (fw.recovered, fw.active, fw.connected, fw.failover_deadline) == (True, False, False, None)
    assert events.of("FRAMEWORK_ADDED")[0]["framework_added"]["framework"]["recovered"] is True
    # No timer runs for it, however far the clock goes (the agent stays healthy).
    for _ in range(50):
        master.test_clock.now += 3600
        master.agent_pong(agent)
        master.tick()
    assert master.frameworks.get("FW-old") is fw and fw.tasks["long"].state == "TASK_RUNNING"
    assert not agent_conn.of("SHUTDOWN_FRAMEWORK") and not agent_conn.of("KILL_TASK")
    assert not master.completed_frameworks and not master.offers  # inactive: no offers either
    # The operator views show it as Mesos does: in `frameworks`, inactive, not connected, recovered.
    [listed] = operator.get_frameworks(master)["frameworks"]
    assert (listed["active"], listed["connected"], listed["recovered"]) == (False, False, True)
    assert "unregistered_time" not in listed  # it never registered with this master
    assert operator.get_state(master)["get_frameworks"]["frameworks"][0]["recovered"] is True
    [shown] = views.state(master)["frameworks"]
    assert (shown["id"], shown["active"], shown["connected"], shown["recovered"]) == ("FW-old", False, False, True)
    assert [t["id"] for t in shown["tasks"]] == ["long"]
    # The task ends while the framework is away: the agent keeps the update, the master forwards nothing.
    finished = update("long", "TASK_FINISHED", agent.id)
    finished["framework_id"] = {"value": "FW-old"}
    master.status_update(agent, finished)
    # Re-subscription with its framework id works and makes it active.
    again, conn = resubscribe_as(master, info)
    assert again is fw and conn.events[0]["type"] == "SUBSCRIBED"
    assert conn.events[0]["subscribed"]["framework_id"] == {"value": "FW-old"}
    assert (fw.recovered, fw.active, fw.connected) == (False, True, True)
    assert events.of("FRAMEWORK_UPDATED")[-1]["framework_updated"]["framework"]["recovered"] is False
    # Its agent hears of it (and resends what it holds), although it runs no custom executor for it.
    assert agent_conn.of("UPDATE_FRAMEWORK")[-1]["update_framework"]["framework_info"]["id"] == {"value": "FW-old"}
    assert operator.get_frameworks(master)["frameworks"][0]["recovered"] is False
    master.status_update(agent, finished)  # the agent's retry
    [forwarded] = conn.of("UPDATE")
    assert forwarded["update"]["status"]["state"] == "TASK_FINISHED"
    master.acknowledge(fw, agent.id, "long", finished["status"]["uuid"])
    assert agent_conn.of("ACKNOWLEDGE")[-1]["acknowledge"]["uuid"] == finished["status"]["uuid"]
    assert "long" not in fw.tasks and fw.completed_tasks[-1].task_id == "long"
    # The framework now gets offers like any other.
    assert offers(master, conn)


def test_a_recovered_framework_that_disconnects_from_this_master_gets_its_failover_timeout(master):
    info = {"user": "u", "name": "old", "id": {"value": "FW-0"}}  # failover_timeout unset: 0
    agent, agent_conn = reregister_with_a_running_task(master, info)
    master.test_clock.now += 1000
    master.agent_pong(agent)
    master.tick()
    fw, conn = resubscribe_as(master, info)
    master.disconnect_framework(fw.id, conn)  # a disconnection this master saw: removed at once, as before
    assert "FW-0" not in master.frameworks and master.completed_frameworks[-1] is fw
    assert fw.completed_tasks[-1].state == "TASK_KILLED"
    assert agent_conn.of("SHUTDOWN_FRAMEWORK")[-1]["shutdown_framework"]["framework_id"] == {"value": "FW-0"}
    with pytest.raises(CallError, match="has been removed"):
        resubscribe_as(master, info)


def test_a_recovered_framework_with_a_failover_timeout_is_removed_that_long_after_it_disconnects(master):
    info = {"user": "u", "name": "old", "id": {"value": "FW-7"}, "failover_timeout": 7}
    agent, agent_conn = reregister_with_a_running_task(master, info)
    fw, conn = resubscribe_as(master, info)
    master.disconnect_framework(fw.id, conn)
    assert fw.failover_deadline == master.test_clock.now + 7 and not fw.recovered
    run_for(master, 6.5, each=lambda: master.agent_pong(agent))
    assert master.frameworks.get("FW-7") is fw and fw.tasks["long"].state == "TASK_RUNNING"
    run_for(master, 1, each=lambda: master.agent_pong(agent))
    assert "FW-7" not in master.frameworks and agent_conn.of("SHUTDOWN_FRAMEWORK")
    assert fw.completed_tasks[-1].state == "TASK_KILLED"


def test_a_recovered_framework_can_be_torn_down_by_an_operator(master):
    info = {"user": "u", "name": "old", "id": {"value": "FW-t"}}
    agent, agent_conn = reregister_with_a_running_task(master, info)
    master.remove_framework("FW-t", "torn down by operator")
    assert "FW-t" not in master.frameworks and agent_conn.of("SHUTDOWN_FRAMEWORK")
    with pytest.raises(CallError, match="has been removed"):
        resubscribe_as(master, info)


def test_an_answered_inverse_offer_is_sent_again_once_its_filter_expires():
    from corral.master.maintenance import Machine

    clock = FakeClock()
    options = MasterOptions(agent_ping_timeout=1000, allocation_batch=0, heartbeat_interval=1000)
    master = MasterState(options, HierarchicalAllocator(AllocatorOptions(seed=1), clock), clock=clock, master_id="M")
    master.test_clock = clock

    agent, agent_conn = add_agent(master)
    fw, conn = subscribe(master)
    [offer] = offers(master, conn)
    launch(master, fw, [offer], [task("t1", offer)])
    master.update_maintenance_schedule([([Machine(hostname="h")], {"start": {"nanoseconds": 0}})])

    def inverse_offers():
        master.test_clock.now += 0.2  # past a health check
        master.tick()
        return [o for e in conn.of("INVERSE_OFFERS") for o in e["inverse_offers"]["inverse_offers"]]

    [first] = inverse_offers()
    assert inverse_offers() == [first]  # outstanding: not sent twice
    master.answer_inverse_offers(fw.id, [first["id"]["value"]], False, refuse_seconds=10)
    statuses = master.maintenance_status_json()["draining_machines"][0]["statuses"]
    assert [s["status"] for s in statuses] == ["DECLINE"]
    master.test_clock.now += 9
    assert inverse_offers() == [first]  # filtered for 10 s
    master.test_clock.now += 1
    [_, second] = inverse_offers()
    assert second["id"] != first["id"] and second["agent_id"] == first["agent_id"]
    master.answer_inverse_offers(fw.id, [second["id"]["value"]], True)  # default filter: 5 s
    assert [s["status"] for s in master.maintenance_status_json()["draining_machines"][0]["statuses"]] == ["ACCEPT"]
    master.test_clock.now += 5
    assert len(inverse_offers()) == 3


def test_a_master_that_was_stopped_does_not_blame_its_agents_and_frameworks_for_the_silence(master):
    agent, _ = add_agent(master)
    fw, conn = subscribe(master, failover_timeout=3)
    master.disconnect_framework(fw.id, conn)
    run_for(master, 1, each=lambda: master.agent_pong(agent))
    master.test_clock.now += 10  # SIGSTOP for 10 s: no tick, nothing heard
    master.tick()
    assert agent.id in master.agents and agent.id not in master.unreachable_agents
    assert fw.id in master.frameworks  # 1 s of its 3 s failover timeout had passed
    run_for(master, 3.5)  # but silence after the stall counts
    assert agent.id in master.unreachable_agents and fw.id not in master.frameworks


def test_safe_mode_rescinds_offers_and_is_counted(master):
    add_agent(master)
    fw, conn = subscribe(master)
    [offer] = offers(master, conn)
    master.set_safe_mode(True)
    assert conn.of("RESCIND")[-1]["rescind"]["offer_id"] == offer["id"]
    master.set_safe_mode(True)  # (already in it: not a new entry)
    master.set_safe_mode(False)
    assert master.metrics["master/safe_mode_entries"] == 1  # (seen afterwards, as a moment in safe mode is not by the gauge)
