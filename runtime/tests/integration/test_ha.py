"""High availability with a real ZooKeeper: election, failover, recovery, safe mode."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import pytest
from kazoo.client import KazooClient

from support.cluster import Daemon, free_port, http_json, wait_for
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework
from support.raw_scheduler import RawScheduler, launch, task

pytestmark = pytest.mark.integration

ZK_MASTER = ["--zk_session_timeout", "2", "--agent_reregister_timeout", "30"]


def start_masters(cluster, zk_url, n, *extra, first=0):
    masters = []
    for i in range(first, first + n):
        port = free_port()
        args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(cluster.root / f"master-{i}"),
                "--zk", zk_url, *ZK_MASTER, "--agent_ping_timeout", "0.5", "--max_agent_ping_timeouts", "6",
                "--allocation_interval", "0.2", "--heartbeat_interval", "1", *extra]
        master = Daemon("master", args, cluster.root / f"master-{i}.log", port).start()
        cluster.daemons.append(master)
        masters.append(master)
    return masters


def state_of(master):
    return http_json(f"http://{master.address}/state")


def leader_among(masters):
    for master in masters:
        if master.alive():
            try:
                if state_of(master)["elected"]:
                    return master
            except OSError:
                continue
    return None


def add_zk_agent(cluster, zk_url, resources="cpus:2;mem:1024;disk:0", *extra):
    name = f"agent-{sum(1 for d in cluster.daemons if d.kind == 'agent')}"
    port = free_port()
    args = ["--master", zk_url, "--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(cluster.root / name),
            "--resources", resources, "--status_update_retry_interval", "1", "--registration_backoff", "0.5", *extra]
    agent = Daemon("agent", args, cluster.root / f"{name}.log", port).start()
    cluster.daemons.append(agent)
    return agent


def test_one_master_leads_standbys_redirect_and_pymesos_finds_it(zookeeper, cluster):
    url = zookeeper.url("/corral")
    masters = start_masters(cluster, url, 2)
    leader = wait_for(lambda: leader_among(masters), what="a leader")
    standby = next(m for m in masters if m is not leader)
    standby_state = wait_for(lambda: state_of(standby)["leader"] and state_of(standby), what="the standby to know the leader")
    assert standby_state["elected"] is False
    assert standby_state["leader_info"]["address"]["port"] == leader.port
    # The election znodes are Mesos-shaped MasterInfo JSON.
    zk = KazooClient(hosts=zookeeper.hosts)
    zk.start()
    try:
        children = sorted(zk.get_children("/corral"))
        assert len(children) == 2 and all(c.startswith("json.info_") for c in children)
        info = json.loads(zk.get(f"/corral/{children[0]}")[0])
        assert info["address"] == {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": leader.port}
    finally:
        zk.stop()
    # A standby sends schedulers to the leader.
    request = urllib.request.Request(
        f"http://{standby.address}/api/v1/scheduler", method="POST",
        data=b'{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"x"}}}',
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=5)
    assert redirect.value.code == 307
    assert redirect.value.headers["Location"] == f"//127.0.0.1:{leader.port}/api/v1/scheduler"
    # A call on a subscription to a master that no longer leads: dropped with a 202 when the protocol
    # survives its loss (pymesos treats any other answer as fatal), redirected otherwise.
    for kind, expected in (("ACKNOWLEDGE", 202), ("DECLINE", 202), ("RECONCILE", 202), ("ACCEPT", 202), ("KILL", 307),
                           ("TEARDOWN", 307)):
        late = urllib.request.Request(
            f"http://{standby.address}/api/v1/scheduler", method="POST",
            data=json.dumps({"type": kind, "framework_id": {"value": "F"}}).encode(),
            headers={"Content-Type": "application/json", "Mesos-Stream-Id": "an-old-stream"})
        try:
            status = opener.open(late, timeout=5).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == expected, kind
    # Agents and pymesos find the leader through zk://.
    cluster.master = leader
    add_zk_agent(cluster, url)
    wait_for(lambda: state_of(leader)["activated_slaves"] == 1, what="the agent to register")
    sched = RecordingScheduler()
    with pymesos_framework(url, sched) as driver:
        sched.submit(0.1, 32, lambda o: command_task("via-zk", o, "true"), driver)
        assert sched.wait_terminal("via-zk")["state"] == "TASK_FINISHED"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_killing_the_leader_mid_workload_loses_and_duplicates_nothing(zookeeper3, cluster):
    url = zookeeper3.url("/corral")
    masters = start_masters(cluster, url, 3, "--quorum", "2")
    first = wait_for(lambda: leader_among(masters), what="a leader")
    for _ in range(2):
        add_zk_agent(cluster, url)
    wait_for(lambda: state_of(first)["activated_slaves"] == 2, what="agents to register")
    sched = RecordingScheduler()
    names = [f"long-{i}" for i in range(6)]
    with pymesos_framework(url, sched, failover_timeout=120) as driver:
        for name in names:
            sched.submit(0.1, 32, lambda o, n=name: command_task(n, o, "sleep 6"), driver)
        for name in names:
            sched.wait_state(name, "TASK_RUNNING", timeout=30)
        first.kill(signal.SIGKILL)
        second = wait_for(lambda: leader_among(masters), timeout=30, what="a new leader")
        assert second is not first
        wait_for(lambda: state_of(second)["activated_slaves"] == 2, timeout=30, what="agents to follow the new leader")
        for name in names:
            assert sched.wait_terminal(name, timeout=60)["state"] == "TASK_FINISHED"
        time.sleep(1)  # sleep, not wait: no duplicate is an absence; an unacknowledged update is resent within 1 s
    for name in names:
        terminal = [u for u in sched.updates if u["task_id"]["value"] == name and u["state"] != "TASK_RUNNING"]
        assert {u["state"] for u in terminal} == {"TASK_FINISHED"}, terminal
        assert len({u["uuid"] for u in terminal}) == 1, f"{name} finished more than once: {terminal}"
    framework_ids = {f["id"] for f in state_of(second)["frameworks"] + state_of(second)["completed_frameworks"]}
    assert framework_ids == {sched.framework_id}


@pytest.mark.parametrize(("extra_info", "sleep", "state_while_away"), [
    ({}, 10, "TASK_RUNNING"),
    ({"failover_timeout": 0}, 10, "TASK_RUNNING"),
    ({"failover_timeout": 0}, 3, "TASK_FINISHED"),
], ids=["pymesos-defaults", "failover-timeout-0", "failover-timeout-0-task-ends-while-away"])
def test_a_framework_with_default_info_keeps_its_task_through_a_leader_failover(zookeeper, cluster, extra_info, sleep,
                                                                                state_while_away):
    """Issue 10: the new leader learns of the framework from the re-registering agent (RECOVERED) and
    keeps it, with its task, however short its failover_timeout, until it re-subscribes through zk://.

    FrameworkInfo has only user and name.  pymesos then sends failover_timeout 100 of its own; the
    other cases send the proto default, 0, as other clients do (the setting of the report).  In the
    last one the task ends while the framework is away: the agent holds the update until it is back."""
    url = zookeeper.url("/corral")
    masters = start_masters(cluster, url, 2)
    first = wait_for(lambda: leader_among(masters), what="a leader")
    cluster.master = first
    agent = add_zk_agent(cluster, url)
    wait_for(lambda: state_of(first)["activated_slaves"] == 1, what="the agent to register")
    sched = RecordingScheduler()
    acks: list[dict] = []
    seen_by_new_leader: list[dict] = []
    with pymesos_framework(url, sched, name="defaults", **extra_info) as driver:
        framework_id = sched.framework_id
        acknowledge, change_master = driver.acknowledgeStatusUpdate, driver.change_master

        def counted_acknowledge(status):
            sent = driver.connected and "uuid" in status  # pymesos drops it silently otherwise
            acknowledge(status)
            if sent:
                with sched.lock:
                    acks.append(status)
                    sched.lock.notify_all()

        def recovered_at(address):
            """The framework as the new leader lists it, once the agent is back and the task in the case's state."""
            framework = next((f for f in http_json(f"http://{address}/state")["frameworks"] if f["id"] == framework_id), None)
            if framework is None or not framework["tasks"] and state_while_away == "TASK_RUNNING":
                return None
            executors = [e for f in http_json(f"http://{agent.address}/state")["frameworks"] if f["id"] == framework_id
                         for e in f["executors"] + f["completed_executors"]]
            states = [t["state"] for e in executors for t in e["tasks"] + e["completed_tasks"] if t["id"] == "long"]
            return framework if states == [state_while_away] else None

        def change_master_once_the_agent_is_back(address):
            # Make the order of the report certain: the new leader hears of the framework from the
            # agent before the framework subscribes to it (pymesos waits on ZooKeeper's thread here).
            if address and address != first.address:
                try:
                    seen_by_new_leader.append(wait_for(lambda: recovered_at(address), timeout=15,
                                                       what="the new leader to recover the framework from the agent"))
                except AssertionError:
                    pass  # asserted below
            change_master(address)

        driver.acknowledgeStatusUpdate = counted_acknowledge
        driver.change_master = change_master_once_the_agent_is_back
        sched.submit(0.1, 32, lambda o: command_task("long", o, f"sleep {sleep}"), driver)
        running = sched.wait_state("long", "TASK_RUNNING")
        sched.wait(lambda: any(a["uuid"] == running["uuid"] for a in acks), what="TASK_RUNNING to be acknowledged")
        first.kill(signal.SIGKILL)
        second = wait_for(lambda: leader_among(masters), timeout=30, what="a new leader")
        assert second is not first
        finished = sched.wait_state("long", "TASK_FINISHED", timeout=60)
        sched.wait(lambda: any(a["uuid"] == finished["uuid"] for a in acks), what="TASK_FINISHED to be acknowledged")
        # The ack went through the new leader to the agent: the master forgets the task ...
        wait_for(lambda: any(t["id"] == "long" for f in state_of(second)["frameworks"] if f["id"] == framework_id
                             for t in f["completed_tasks"]), what="the new leader to see the acknowledgement")
        time.sleep(2.5)  # ... and the agent, retrying every 1 s, would redeliver an unacknowledged update now
        [framework] = [f for f in state_of(second)["frameworks"] if f["id"] == framework_id]
        assert not state_of(second)["completed_frameworks"]
        log = second.log.read_text()
    assert seen_by_new_leader, "the new leader never listed the framework recovered from the agent"
    [recovered] = seen_by_new_leader
    assert (recovered["active"], recovered["connected"], recovered["recovered"]) == (False, False, True)
    if state_while_away == "TASK_RUNNING":
        assert [t["state"] for t in recovered["tasks"]] == ["TASK_RUNNING"]
    assert (framework["active"], framework["connected"], framework["recovered"]) == (True, True, False)
    assert sched.framework_id == framework_id and not sched.errors
    states = sched.states("long")
    assert states[-1] == "TASK_FINISHED" and states.count("TASK_FINISHED") == 1, states
    assert set(states[:-1]) == {"TASK_RUNNING"}, states
    assert finished["source"] == "SOURCE_EXECUTOR"
    assert [a["state"] for a in acks].count("TASK_FINISHED") == 1, acks
    assert "Recovered framework " + framework_id in log and "Removing framework" not in log


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_agent_killed_and_restarted_keeps_its_tasks(cluster, stop):
    # (SIGTERM is how systemd stops or restarts the agent's unit, which kills only the agent)
    cluster.start_master("--max_agent_ping_timeouts", "20")  # (10 s: the agent stays down for 2)
    agent = cluster.add_agent("cpus:1;mem:512;disk:0")
    sched = RecordingScheduler()
    names = ["survivor-0", "survivor-1"]
    with pymesos_framework(cluster.master.address, sched, failover_timeout=60) as driver:
        for name in names:
            sched.submit(0.1, 32, lambda o, n=name: command_task(n, o, "sleep 6; echo survived"), driver)
        sched.submit(0.1, 32, lambda o: command_task("ends-meanwhile", o, "sleep 1; exit 3"), driver)
        for name in names + ["ends-meanwhile"]:
            sched.wait_state(name, "TASK_RUNNING")
        agent.kill(stop)
        time.sleep(2)  # the agent is down while ends-meanwhile ends (its exit file says how)
        agent.start()  # same flags, same work_dir
        for name in names:
            assert sched.wait_terminal(name, timeout=60)["state"] == "TASK_FINISHED"
        failed = sched.wait_terminal("ends-meanwhile", timeout=60)
    for name in names:
        assert set(sched.states(name)) == {"TASK_RUNNING", "TASK_FINISHED"}
    assert (failed["state"], failed["message"]) == ("TASK_FAILED", "Command exited with status 3")
    assert "Recovered executor survivor-0" in agent.log.read_text()


def test_agent_restarted_with_recover_cleanup_kills_what_ran(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:1;mem:512;disk:0")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched, failover_timeout=60) as driver:
        sched.submit(0.1, 32, lambda o: command_task("doomed", o, "sleep 60"), driver)
        sched.wait_state("doomed", "TASK_RUNNING")
        agent.kill(signal.SIGKILL)
        agent.args = agent.args + ["--recover", "cleanup"]
        agent.start()
        lost = sched.wait_terminal("doomed", timeout=30)
    assert (lost["state"], lost["reason"]) == ("TASK_LOST", "REASON_TASK_UNKNOWN")


def test_framework_failover_within_and_past_its_timeout(cluster):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512;disk:0")
    info = {"user": "root", "name": "flaky", "failover_timeout": 3}
    s = RawScheduler(cluster.master.address, info).subscribe()
    offer = s.next_offer()
    assert s.post(launch([offer["id"]], [task("kept", offer, "sleep 60", resources="cpus:1;mem:256")]))[0] == 202
    s.acknowledge(s.wait_update("kept", "TASK_RUNNING"))
    framework_id = s.framework_id
    s.close()
    # Back within the failover timeout: the task is still there.
    again = RawScheduler(cluster.master.address, {**info, "id": {"value": framework_id}})
    again.framework_id = framework_id
    again.info = {**info, "id": {"value": framework_id}}
    resubscribe(again, framework_id)
    assert again.post({"type": "RECONCILE", "reconcile": {"tasks": []}})[0] == 202
    assert again.wait_update("kept")["state"] == "TASK_RUNNING"
    again.close()
    # Gone past it: the task is killed and its resources are offered to others.
    other = RawScheduler(cluster.master.address, {"user": "root", "name": "other"}).subscribe()
    offer = wait_for(lambda: next((o for e in other.events if e["type"] == "OFFERS" for o in e["offers"]["offers"]
                                   if any(r["name"] == "cpus" and r["scalar"]["value"] == 1 for r in o["resources"])), None),
                     timeout=30, what="the whole agent to be offered again")
    assert offer
    framework = next(f for f in cluster.state()["completed_frameworks"] if f["id"] == framework_id)
    assert [t["state"] for t in framework["completed_tasks"]] == ["TASK_KILLED"]
    other.close()


def resubscribe(scheduler, framework_id):
    import http.client
    import threading

    conn = http.client.HTTPConnection(scheduler.host, scheduler.port, timeout=60)
    body = {"type": "SUBSCRIBE", "framework_id": {"value": framework_id}, "subscribe": {"framework_info": scheduler.info}}
    conn.request("POST", "/api/v1/scheduler", json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    scheduler._conn = conn
    scheduler.stream_id = response.getheader("Mesos-Stream-Id")
    threading.Thread(target=scheduler._read, args=(response,), daemon=True).start()
    subscribed = scheduler.wait_event("SUBSCRIBED")
    assert subscribed["subscribed"]["framework_id"]["value"] == framework_id


def test_losing_zookeeper_quorum_is_safe_mode_and_service_resumes(zookeeper3, cluster):
    url = zookeeper3.url("/corral")
    [master] = start_masters(cluster, url, 1, "--zk_session_timeout", "20")
    wait_for(lambda: leader_among([master]), what="the leader")
    cluster.master = master
    add_zk_agent(cluster, url)
    wait_for(lambda: state_of(master)["activated_slaves"] == 1, what="the agent")
    sched = RecordingScheduler()
    with pymesos_framework(url, sched, failover_timeout=300) as driver:
        sched.submit(0.1, 32, lambda o: command_task("steady", o, "sleep 12"), driver)
        sched.wait_state("steady", "TASK_RUNNING")
        zookeeper3.stop_server(1)
        zookeeper3.stop_server(2)
        metrics = lambda: http_json(f"http://{master.address}/metrics/snapshot")  # noqa: E731
        wait_for(lambda: metrics()["master/safe_mode"] == 1.0, timeout=30, what="safe mode")
        offers_before = len(sched.offers)
        sched.submit(0.1, 32, lambda o: command_task("blocked", o, "true"), driver)  # its REVIVE is answered on return
        time.sleep(2)  # sleep, not wait: no offer is an absence; 2 s is ten allocation intervals (0.2 s)
        assert len(sched.offers) == offers_before, "no offers are made in safe mode"
        assert sched.states("steady") == ["TASK_RUNNING"], "running tasks are left alone"
        zookeeper3.start_server(1)
        zookeeper3.start_server(2)
        wait_for(lambda: metrics()["master/safe_mode"] == 0.0, timeout=60, what="safe mode to end")
        assert sched.wait_terminal("blocked", timeout=30)["state"] == "TASK_FINISHED"
        assert sched.wait_terminal("steady", timeout=30)["state"] == "TASK_FINISHED"


def test_the_scheduler_sdk_waits_out_a_master_without_a_leader(zookeeper, cluster):
    """Corral's SDK given one master's address: while no master leads (here: a quorum of two, one up) that
    master answers SUBSCRIBE with 503; a client without reconnect gets the error that says so, a
    reconnecting one asks again and subscribes once a leader is elected (through the 307 to it)."""
    import asyncio

    from corral.scheduler import SchedulerClient
    from corral.scheduler.client import NoLeaderYet

    url = zookeeper.url("/corral")
    (lone,) = start_masters(cluster, url, 1, "--quorum", "2")
    wait_for(lambda: urllib.request.urlopen(f"http://{lone.address}/health", timeout=1).status == 200, what="/health")
    info = {"user": "root", "name": "sdk-defaults"}

    async def subscribe(reconnect):
        async with SchedulerClient(lone.address, info, reconnect=reconnect) as client:
            async for event in client.events():
                if event["type"] == "SUBSCRIBED":
                    return client.master_info["address"]["port"]

    with pytest.raises(NoLeaderYet, match="HTTP 503: No leading master"):
        asyncio.run(subscribe(reconnect=False))

    async def subscribe_while_a_second_master_starts():
        waiting = asyncio.ensure_future(subscribe(reconnect=True))
        await asyncio.sleep(1.5)
        assert not waiting.done()
        masters = [lone] + start_masters(cluster, url, 1, "--quorum", "2", first=1)
        return await asyncio.wait_for(waiting, 60), masters

    port, masters = asyncio.run(subscribe_while_a_second_master_starts())
    assert port == wait_for(lambda: leader_among(masters), what="a leader").port
