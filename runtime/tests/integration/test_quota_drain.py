"""Quota, and the draining and deactivation of agents, with pymesos frameworks on their defaults
against real masters and agents (issue 13)."""

from __future__ import annotations

import json
import signal

import pytest
from kazoo.client import KazooClient

from support.cluster import http_json, wait_for
from support.opskit import operator
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework, scalar
from support.sparkkit import corral
from test_ha import add_zk_agent, leader_among, start_masters

pytestmark = pytest.mark.integration

AGENT = "cpus:2;mem:1024;disk:0"


def update_quota(base, *configs, force=False):
    return operator(base, {"type": "UPDATE_QUOTA", "update_quota": {"force": force, "quota_configs": list(configs)}})


def limits(role, **values):
    return {"role": role, "limits": {k: {"value": v} for k, v in values.items()}}


def running(sched, prefix):
    with sched.lock:
        return {u["task_id"]["value"] for u in sched.updates if u["state"] == "TASK_RUNNING" and u["task_id"]["value"].startswith(prefix)}


def offers_after(sched, count):
    return sched.wait(lambda: len(sched.offers) >= count, 30, f"{count} offers")


def test_a_role_is_capped_by_its_limit_until_the_operator_raises_it(cluster):
    cluster.start_master()
    cluster.add_agent(AGENT)
    cluster.add_agent(AGENT)
    base = f"http://{cluster.master.address}"
    reply = update_quota(base, limits("dev", cpus=1))
    assert reply.status == 200, reply.text
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched, role="dev") as driver:
        for i in range(4):
            sched.submit(0.5, 32, lambda o, i=i: command_task(f"q{i}", o, "sleep 120", cpus=0.5), driver)
        sched.wait(lambda: len(running(sched, "q")) == 2, 30, "two tasks within the limit")
        # Allocation goes on (offers keep coming, shrunk to the limit's room) but no third task fits.
        offers_after(sched, len(sched.offers) + 3)
        assert len(running(sched, "q")) == 2
        assert all(scalar(o, "cpus") <= 1 + 1e-9 for o in sched.offers)
        roles = {r["name"]: r for r in http_json(base + "/roles")["roles"]}
        assert roles["dev"]["quota"]["limit"] == {"cpus": 1} and roles["dev"]["quota"]["consumed"]["cpus"] == 1

        # The operator asks why the framework waits.
        why = corral("why", sched.framework_id, "--master", cluster.master.address)
        assert why.returncode == 0 and "Role dev:" in why.stdout and "QUOTA_LIMIT" in why.stdout, why.stdout + why.stderr
        assert "consumes cpus:1" in why.stdout and "of its limit cpus:1" in why.stdout
        # corral run in the same role says what the allocator says, and gives up at its --timeout.
        waited = corral("run", "--master", cluster.master.address, "--role", "dev", "--resources", "cpus:0.5;mem:32",
                        "--timeout", "6", "--command", "true")
        assert waited.returncode == 3 and "the allocator says QUOTA_LIMIT" in waited.stdout, waited.stdout + waited.stderr
        unknown = operator(base, {"type": "GET_WHY_NOT_OFFERED", "get_why_not_offered": {"framework_id": {"value": "nope"}}})
        assert unknown.status == 400 and "Framework nope cannot be found" in unknown.text

        # A limit below what the role consumes needs force; the message says why.
        refused = update_quota(base, limits("dev", cpus=0.5))
        assert refused.status == 400 and "is already consuming 'cpus:1" in refused.text and "force" in refused.text

        # The operator raises it from the CLI; the waiting tasks start.
        out = corral("quota", "dev", "--limits", "cpus:2", "--master", cluster.master.address)
        assert out.returncode == 0, out.stderr
        sched.wait(lambda: len(running(sched, "q")) == 4, 30, "all four tasks after the limit was raised")
        listed = corral("quota", "--master", cluster.master.address)
        assert listed.returncode == 0 and "dev" in listed.stdout and "cpus:2" in listed.stdout, listed.stdout
    status = http_json(base + "/quota")
    assert status["configs"] == [{"role": "dev", "limits": {"cpus": {"value": 2.0}}}]


def test_a_guarantee_is_honoured_while_another_role_is_greedy(cluster):
    cluster.start_master()
    cluster.add_agent(AGENT)
    cluster.add_agent(AGENT)
    base = f"http://{cluster.master.address}"
    too_much = update_quota(base, {"role": "prod", "guarantees": {"cpus": {"value": 5}}})
    assert too_much.status == 400 and "exceed cluster capacity" in too_much.text
    assert update_quota(base, {"role": "prod", "guarantees": {"cpus": {"value": 2}}}).status == 200
    greedy = RecordingScheduler()
    with pymesos_framework(cluster.master.address, greedy, name="greedy", role="greedy") as gdriver:
        for i in range(8):
            greedy.submit(0.5, 32, lambda o, i=i: command_task(f"g{i}", o, "sleep 120", cpus=0.5), gdriver)
        greedy.wait(lambda: len(running(greedy, "g")) == 4, 30, "the greedy role to fill what is not held back")
        offers_after(greedy, len(greedy.offers) + 3)
        assert len(running(greedy, "g")) == 4  # 2 of the 4 CPUs are held for prod
        prod = RecordingScheduler()
        with pymesos_framework(cluster.master.address, prod, name="prod", role="prod") as pdriver:
            for i in range(4):
                prod.submit(0.5, 32, lambda o, i=i: command_task(f"p{i}", o, "sleep 120", cpus=0.5), pdriver)
            prod.wait(lambda: len(running(prod, "p")) == 4, 30, "prod's guaranteed tasks")
        assert len(running(greedy, "g")) == 4


def test_invalid_quota_configs_are_refused_with_the_reason(cluster):
    cluster.start_master()
    base = f"http://{cluster.master.address}"
    for config, text in [
        ({"role": "dev/batch", "limits": {"cpus": {"value": 1}}}, "nested role"),
        ({"role": "dev", "guarantees": {"cpus": {"value": 2}}, "limits": {"cpus": {"value": 1}}}, "is not contained within"),
        ({"role": "dev", "limits": {"cpus": 1}}, "update_quota.quota_configs[0].limits.cpus"),
        ({"limits": {}}, "quota_configs[0].role"),
    ]:
        reply = update_quota(base, config)
        assert reply.status == 400 and text in reply.text, (config, reply.text)
    assert json.loads(operator(base, "GET_QUOTA").text) == {"type": "GET_QUOTA", "get_quota": {"status": {"infos": [], "configs": []}}}


def test_a_drained_agent_loses_its_tasks_and_is_offered_to_nobody_until_reactivated(cluster):
    cluster.start_master()
    first = cluster.add_agent(AGENT)
    second = cluster.add_agent(AGENT)
    base = f"http://{cluster.master.address}"
    drained_id = cluster.agent_id(first)
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 32, lambda o: command_task("d0", o, "sleep 120", cpus=0.5) if o["agent_id"]["value"] == drained_id else None, driver)
        sched.wait_state("d0", "TASK_RUNNING")
        unknown = operator(base, {"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}})
        assert unknown.status == 400 and "Unknown agent" in unknown.text
        not_deactivated = operator(base, {"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": {"value": drained_id}}})
        assert not_deactivated.status == 400 and "Agent is not deactivated" in not_deactivated.text

        out = corral("agent", "drain", drained_id, "--max-grace-period", "1", "--master", cluster.master.address)
        assert out.returncode == 0, out.stderr
        killed = sched.wait_state("d0", "TASK_KILLED")
        assert killed["reason"] == "REASON_AGENT_DRAINING"

        def drain_state():
            agents = json.loads(operator(base, "GET_AGENTS").text)["get_agents"]["agents"]
            entry = next(a for a in agents if a["agent_info"]["id"]["value"] == drained_id)
            return entry["deactivated"] and entry.get("drain_info", {}).get("state")

        wait_for(lambda: drain_state() == "DRAINED", what="the agent to be DRAINED")
        assert drain_state() == "DRAINED"
        assert drained_id in {a["id"] for a in http_json(base + "/state")["slaves"] if a["deactivated"]}
        seen = len(sched.offers)
        other_id = cluster.agent_id(second)
        sched.wait(lambda: sum(o["agent_id"]["value"] == other_id for o in sched.offers[seen:]) >= 2, 30,
                   "offers of the other agent")
        assert all(o["agent_id"]["value"] != drained_id for o in sched.offers[seen:])

        out = corral("agent", "reactivate", drained_id, "--master", cluster.master.address)
        assert out.returncode == 0, out.stderr
        seen = len(sched.offers)
        sched.wait(lambda: any(o["agent_id"]["value"] == drained_id for o in sched.offers[seen:]), 30,
                   "an offer of the reactivated agent")


def test_quota_deactivation_and_reservations_survive_a_leader_sigkill_with_zookeeper(zookeeper, cluster):
    zk_url = zookeeper.url("/corral")
    masters = start_masters(cluster, zk_url, 2)
    first = wait_for(lambda: leader_among(masters), what="a leader")
    agent = add_zk_agent(cluster, zk_url)
    base = f"http://{first.address}"
    agent_id = wait_for(lambda: next((a["id"] for a in http_json(base + "/state")["slaves"]
                                      if a["port"] == agent.port), None), what="the agent to register")
    assert update_quota(base, limits("dev", cpus=1.5, mem=512)).status == 200
    assert operator(base, {"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": agent_id}}}).status == 200
    wanted = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "reservations": [{"type": "DYNAMIC", "role": "ops"}]}]
    reply = operator(base, {"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": agent_id}, "resources": wanted}})
    assert reply.status == 200, reply.text
    # The agent checkpoints the reservation (what it re-registers with at the next leader).
    checkpointed = cluster.root / "agent-0" / "meta" / "resources.json"
    wait_for(lambda: checkpointed.exists() and json.loads(checkpointed.read_text()), what="the agent to checkpoint the reservation")
    # An operator call is answered once ZooKeeper holds its change (as Mesos's registrar answers).
    zk = KazooClient(hosts=zookeeper.hosts)
    zk.start()
    try:
        assert "dev" in json.loads(zk.get("/corral-registry/quotas")[0])
        assert agent_id in json.loads(zk.get("/corral-registry/deactivations")[0])
    finally:
        zk.stop()
    first.kill(signal.SIGKILL)
    second = wait_for(lambda: leader_among(masters), timeout=30, what="a new leader")
    base = f"http://{second.address}"
    configs = json.loads(operator(base, "GET_QUOTA").text)["get_quota"]["status"]["configs"]
    assert configs == [{"role": "dev", "limits": {"cpus": {"value": 1.5}, "mem": {"value": 512.0}}}]
    wait_for(lambda: any(a["id"] == agent_id and a["deactivated"] for a in http_json(base + "/state")["slaves"]),
             timeout=30, what="the re-registered agent to stay deactivated")
    [kept] = [r for r in agent_total(base, agent_id) if r.get("reservations")]
    assert (kept["name"], kept["scalar"], kept["reservations"]) == ("cpus", {"value": 0.5}, wanted[0]["reservations"])


# -- dynamic reservations -----------------------------------------------------------------------


class Reserver(RecordingScheduler):
    """Reserves `want` for its role out of the first offer that holds it, then records offers."""

    def __init__(self, role, want):
        super().__init__()
        self.role, self.want, self.reserved = role, want, False

    def resourceOffers(self, driver, offers):
        if self.reserved:
            return super().resourceOffers(driver, offers)
        for offer in offers:
            with self.lock:
                self.offers.append(offer)
            if not self.reserved and scalar(offer, "cpus") >= 1:
                self.reserved = True
                resources = [{"name": n, "type": "SCALAR", "scalar": {"value": v},
                              "reservations": [{"type": "DYNAMIC", "role": self.role}]} for n, v in self.want.items()]
                driver.acceptOffers([offer["id"]], [{"type": "RESERVE", "reserve": {"resources": resources}}], {"refuse_seconds": 0})
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})


def reserved_for(offer, role):
    """The CPUs of an offer reserved for `role`, in either format (pymesos's default is pre-refinement)."""
    return sum(r["scalar"]["value"] for r in offer["resources"]
               if r["name"] == "cpus" and ((r.get("reservations") or [{}])[-1].get("role") == role or r.get("role") == role))


def agent_total(base, agent_id):
    agents = json.loads(operator(base, "GET_AGENTS").text)["get_agents"]["agents"]
    entry = next(a for a in agents if a["agent_info"]["id"]["value"] == agent_id)
    return entry["total_resources"]


def test_a_reservation_is_offered_only_to_its_role_survives_an_agent_restart_and_goes_with_unreserve(cluster):
    cluster.start_master()
    agent = cluster.add_agent(AGENT)
    base = f"http://{cluster.master.address}"
    agent_id = cluster.agent_id(agent)
    ads = Reserver("ads", {"cpus": 1, "mem": 128})
    with pymesos_framework(cluster.master.address, ads, name="ads", role="ads"):
        ads.wait(lambda: any(reserved_for(o, "ads") == 1 for o in ads.offers), 30, "an offer holding the reservation")
    total = agent_total(base, agent_id)
    reserved = [r for r in total if r.get("reservations")]
    assert {r["name"]: r["scalar"]["value"] for r in reserved} == {"cpus": 1, "mem": 128}
    assert reserved[0]["reservations"] == [{"type": "DYNAMIC", "role": "ads"}]

    # Another role never sees them.
    other = RecordingScheduler()
    with pymesos_framework(cluster.master.address, other, name="other", role="other"):
        other.wait(lambda: len(other.offers) >= 2, 30, "offers to the other role")
        assert all(reserved_for(o, "ads") == 0 and scalar(o, "cpus") <= 1 + 1e-9 for o in other.offers)

    # The agent checkpointed them: killed and restarted, it advertises them again.
    agent.kill(signal.SIGKILL)
    agent.start()
    wait_for(lambda: any(a["id"] == agent_id and a["active"] for a in http_json(base + "/state")["slaves"]), timeout=30,
             what="the agent to come back")
    assert [r for r in agent_total(base, agent_id) if r.get("reservations")] == reserved

    # The operator unreserves them: the other role's offers hold the whole agent again.
    request = [{"name": r["name"], "type": "SCALAR", "scalar": r["scalar"], "reservations": r["reservations"]} for r in reserved]
    reply = operator(base, {"type": "UNRESERVE_RESOURCES", "unreserve_resources": {"agent_id": {"value": agent_id}, "resources": request}})
    assert reply.status == 200, reply.text
    assert not [r for r in agent_total(base, agent_id) if r.get("reservations")]
    again = operator(base, {"type": "UNRESERVE_RESOURCES", "unreserve_resources": {"agent_id": {"value": agent_id}, "resources": request}})
    assert again.status in (400, 409) and "UNRESERVE" in again.text
    other = RecordingScheduler()
    with pymesos_framework(cluster.master.address, other, name="other", role="other"):
        other.wait(lambda: any(scalar(o, "cpus") == 2 for o in other.offers), 30, "an offer of the whole agent")

    # The operator reserves for a role; a bad request names what is wrong.
    wanted = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "reservations": [{"type": "DYNAMIC", "role": "ops"}]}]
    reply = operator(base, {"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": agent_id}, "resources": wanted}})
    assert reply.status == 200, reply.text
    static = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "reservations": [{"type": "STATIC", "role": "ops"}]}]
    reply = operator(base, {"type": "RESERVE_RESOURCES", "reserve_resources": {"agent_id": {"value": agent_id}, "resources": static}})
    assert reply.status == 400 and "does not carry a DYNAMIC reservation" in reply.text


# -- maintenance ----------------------------------------------------------------------------------


class InverseRecorder(RecordingScheduler):
    """Also records inverse offers and accepts each one."""

    def __init__(self):
        super().__init__()
        self.inverse = []

    def inverseOffers(self, driver, offers):
        with self.lock:
            self.inverse.extend(offers)
            self.lock.notify_all()
        driver.acceptInverseOffers([o["id"] for o in offers])


def test_a_maintenance_window_sends_inverse_offers_and_a_machine_down_loses_its_agent(cluster):
    cluster.start_master()
    node = cluster.add_agent(AGENT, "--hostname", "node-a")
    cluster.add_agent(AGENT, "--hostname", "node-b")
    base = f"http://{cluster.master.address}"
    node_id = cluster.agent_id(node)
    sched = InverseRecorder()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.5, 32, lambda o: command_task("m0", o, "sleep 120", cpus=0.5) if o["hostname"] == "node-a" else None, driver)
        sched.wait_state("m0", "TASK_RUNNING")
        window = {"machine_ids": [{"hostname": "node-a"}], "unavailability": {"start": {"nanoseconds": 1_900_000_000_000_000_000},
                                                                            "duration": {"nanoseconds": 3600 * 10**9}}}
        bad = operator(base, {"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": {"windows": [
            window, window]}}})
        assert bad.status == 400 and "appears more than once in the schedule" in bad.text
        early = operator(base, {"type": "START_MAINTENANCE", "start_maintenance": {"machines": [{"hostname": "node-a"}]}})
        assert early.status == 400 and "is not part of a maintenance schedule" in early.text
        reply = operator(base, {"type": "UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedule": {"schedule": {"windows": [window]}}})
        assert reply.status == 200, reply.text
        # The framework running there gets an inverse offer and accepts it; its offers of node-a say when it goes.
        [inverse] = sched.wait(lambda: sched.inverse, 30, "an inverse offer")
        assert inverse["agent_id"]["value"] == node_id and inverse["unavailability"] == window["unavailability"]
        seen = len(sched.offers)
        offer = sched.wait(lambda: next((o for o in sched.offers[seen:] if o["hostname"] == "node-a"), None), 30, "an offer of node-a")
        assert offer["unavailability"] == window["unavailability"]

        def statuses():
            draining = json.loads(operator(base, "GET_MAINTENANCE_STATUS").text)["get_maintenance_status"]["status"]["draining_machines"]
            return draining and draining[0]["statuses"]

        assert wait_for(lambda: [s["status"] for s in statuses() or []] == ["ACCEPT"], what="the accepted inverse offer")
        assert http_json(base + "/maintenance/schedule") == {"windows": [window]}

        # The machine goes down: its agent is removed (its task gone) and may not come back until it is up.
        reply = opskit_post(base + "/master/machine/down", [{"hostname": "node-a"}])
        assert reply.status == 200, reply.text
        lost = sched.wait(lambda: next((u for u in sched.updates if u["task_id"]["value"] == "m0" and u["state"] in
                                        ("TASK_LOST", "TASK_GONE_BY_OPERATOR")), None), 30, "the task on the downed machine")
        assert lost["reason"] == "REASON_AGENT_REMOVED_BY_OPERATOR"
        assert http_json(base + "/maintenance/status")["down_machines"] == [{"hostname": "node-a"}]
        assert node_id not in {a["id"] for a in http_json(base + "/state")["slaves"]}
        up = operator(base, {"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [{"hostname": "node-a"}]}})
        assert up.status == 200, up.text
        assert http_json(base + "/maintenance/schedule") == {"windows": []}


def opskit_post(url, body):
    from support.opskit import request

    return request("POST", url, body)
