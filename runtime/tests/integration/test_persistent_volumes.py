"""Persistent volumes (Mesos's CREATE and DESTROY, and the operator's CREATE_VOLUMES and DESTROY_VOLUMES)
with a pymesos framework on its defaults against a real master and agent (issue 13): a volume
outlives the task that wrote it and the agent's restart, and goes with DESTROY."""

from __future__ import annotations

import json
import os
import signal

import pytest

from support.cluster import http_json, wait_for
from support.opskit import operator
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework

pytestmark = pytest.mark.integration

AGENT = "cpus:2;mem:1024;disk:512"
ROLE = "db"


def disk(size, volume=None):
    """Disk reserved for ROLE in pymesos's default (pre-refinement) format, as a volume when named."""
    out = {"name": "disk", "type": "SCALAR", "scalar": {"value": size}, "role": ROLE, "reservation": {}}
    if volume:
        out["disk"] = {"persistence": {"id": volume}, "volume": {"container_path": volume, "mode": "RW"}}
    return out


def volume_in(offer, name):
    return next((r for r in offer["resources"] if (r.get("disk") or {}).get("persistence", {}).get("id") == name), None)


class Planner(RecordingScheduler):
    """Runs each queued plan (offer → operations, or None to wait for another offer) on the offers."""

    def __init__(self):
        super().__init__()
        self.plans = []

    def plan(self, build, driver):
        with self.lock:
            self.plans.append(build)
        driver.reviveOffers()

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                self.offers.append(offer)
                operations = self.plans[0](offer) if self.plans else None
                if operations is not None:
                    self.plans.pop(0)
                self.lock.notify_all()
            if operations is not None:
                driver.acceptOffers([offer["id"]], operations, {"refuse_seconds": 0})
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 0.5})


def task_on_volume(task_id, offer, command):
    task = command_task(task_id, offer, command)
    task["resources"].append(volume_in(offer, "data"))
    return {"type": "LAUNCH", "launch": {"task_infos": [task]}}


def agent_volumes(base, agent_id):
    agents = json.loads(operator(base, "GET_AGENTS").text)["get_agents"]["agents"]
    total = next(a for a in agents if a["agent_info"]["id"]["value"] == agent_id)["total_resources"]
    return [r for r in total if r.get("disk")]


def one_agent(cluster, *flags):
    """A master and one agent: the agent, the master's URL and the agent's id."""
    cluster.start_master()
    agent = cluster.add_agent(AGENT, *flags)
    return agent, f"http://{cluster.master.address}", cluster.agent_id(agent)


def volume_dir(cluster, persistence_id):
    return os.path.join(str(cluster.root), "agent-0", "volumes", "roles", ROLE, persistence_id)


def volume_call(base, agent_id, kind, field, resources):
    """An operator call (RESERVE_RESOURCES, CREATE_VOLUMES, ...) on the agent's resources."""
    return operator(base, {"type": kind, kind.lower(): {"agent_id": {"value": agent_id}, field: resources}})


def test_a_volume_outlives_its_task_and_the_agent_restart_and_goes_with_destroy(cluster):
    agent, base, agent_id = one_agent(cluster)
    directory = volume_dir(cluster, "data")
    sched = Planner()
    with pymesos_framework(cluster.master.address, sched, name="volumes", role=ROLE) as driver:
        # One ACCEPT reserves disk, makes a volume of it and launches a task that writes into it.
        def create_and_write(offer):
            task = command_task("writer", offer, "echo kept > data/greeting")
            task["resources"].append(disk(64, "data"))
            return [{"type": "RESERVE", "reserve": {"resources": [disk(64)]}},
                    {"type": "CREATE", "create": {"volumes": [disk(64, "data")]}},
                    {"type": "LAUNCH", "launch": {"task_infos": [task]}}]

        sched.plan(create_and_write, driver)
        assert sched.wait_terminal("writer")["state"] == "TASK_FINISHED"
        with open(os.path.join(directory, "greeting")) as fh:
            assert fh.read() == "kept\n"
        [volume] = agent_volumes(base, agent_id)
        assert volume["disk"] == {"persistence": {"id": "data"}, "volume": {"container_path": "data", "mode": "RW"}}
        assert volume["scalar"]["value"] == 64

        # A later task of the framework finds what the first one wrote.
        sched.plan(lambda o: [task_on_volume("reader", o, "grep -qx kept data/greeting")] if volume_in(o, "data") else None, driver)
        assert sched.wait_terminal("reader")["state"] == "TASK_FINISHED"

        # The agent checkpointed it: killed and restarted, it offers the volume again, files and all.
        agent.kill(signal.SIGKILL)
        agent.start()
        wait_for(lambda: any(a["id"] == agent_id and a["active"] for a in http_json(base + "/state")["slaves"]),
                 timeout=30, what="the agent to come back")
        assert agent_volumes(base, agent_id) == [volume]
        sched.plan(lambda o: [task_on_volume("after-restart", o, "grep -qx kept data/greeting")] if volume_in(o, "data") else None,
                   driver)
        assert sched.wait_terminal("after-restart", timeout=60)["state"] == "TASK_FINISHED"

        # A volume is used whole; UNRESERVE of a volume is refused (destroy it first): both dropped.
        def misuse(offer):
            if not volume_in(offer, "data"):
                return None
            half = dict(volume_in(offer, "data"), scalar={"value": 32})
            task = command_task("half", offer, "true")
            task["resources"].append(half)
            return [{"type": "UNRESERVE", "unreserve": {"resources": [volume_in(offer, "data")]}},
                    {"type": "LAUNCH", "launch": {"task_infos": [task]}}]

        sched.plan(misuse, driver)
        update = sched.wait_terminal("half")
        assert update["state"] == "TASK_ERROR" and "a volume is used whole" in update["message"]
        assert agent_volumes(base, agent_id) == [volume]

        # DESTROY in an ACCEPT deletes the volume's directory; the disk stays reserved for the role.
        sched.plan(lambda o: [{"type": "DESTROY", "destroy": {"volumes": [volume_in(o, "data")]}}] if volume_in(o, "data") else None,
                   driver)
        wait_for(lambda: not agent_volumes(base, agent_id), timeout=30, what="the volume to be destroyed")
        wait_for(lambda: not os.path.exists(directory), timeout=30, what="the agent to delete the volume")


def test_operator_volume_calls_create_destroy_and_name_what_is_wrong(cluster):
    _, base, agent_id = one_agent(cluster)
    directory = volume_dir(cluster, "logs")

    def call(kind, field, resources):
        return volume_call(base, agent_id, kind, field, resources)

    assert call("RESERVE_RESOURCES", "resources", [disk(100)]).status == 200
    unreserved = [dict(disk(50, "logs"), role="*")]
    del unreserved[0]["reservation"]
    reply = call("CREATE_VOLUMES", "volumes", unreserved)
    assert reply.status == 400 and "cannot be created from unreserved resources" in reply.text
    reply = call("CREATE_VOLUMES", "volumes", [dict(disk(50, "logs"), disk={"persistence": {"id": "logs"}})])
    assert reply.status == 400 and "Expecting 'volume' to be set" in reply.text
    reply = call("CREATE_VOLUMES", "volumes", [disk(500, "logs")])
    assert reply.status == 400 and "is not available" in reply.text

    assert call("CREATE_VOLUMES", "volumes", [disk(50, "logs")]).status == 200, "create"
    wait_for(lambda: os.path.isdir(directory), timeout=30, what="the agent to make the volume's directory")
    reply = call("CREATE_VOLUMES", "volumes", [disk(50, "logs")])
    assert reply.status == 400 and "Persistence ID 'logs' is not unique" in reply.text
    reply = call("UNRESERVE_RESOURCES", "resources", [disk(50, "logs")])
    assert reply.status == 400 and "destroy the persistent volume first" in reply.text
    reply = call("DESTROY_VOLUMES", "volumes", [disk(50, "other")])
    assert reply.status == 400 and "Persistent volumes not found" in reply.text

    assert call("DESTROY_VOLUMES", "volumes", [disk(50, "logs")]).status == 200
    wait_for(lambda: not os.path.exists(directory), timeout=30, what="the agent to delete the volume")
    assert call("UNRESERVE_RESOURCES", "resources", [disk(100)]).status == 200
    assert not agent_volumes(base, agent_id)


def test_a_task_in_a_container_image_writes_into_its_volume(cluster, node_image):
    _, base, agent_id = one_agent(cluster, "--containerizers", "mesos,docker")
    for kind, field, resources in (("RESERVE_RESOURCES", "resources", [disk(64)]), ("CREATE_VOLUMES", "volumes", [disk(64, "data")])):
        reply = volume_call(base, agent_id, kind, field, resources)
        assert reply.status == 200, reply.text
    image = {"type": "DOCKER", "docker": {"image": node_image, "network": "NONE"}}
    sched = Planner()
    with pymesos_framework(cluster.master.address, sched, name="imaged-volume", role=ROLE) as driver:
        def write(offer):
            if not volume_in(offer, "data"):
                return None
            launch = task_on_volume("imaged", offer, "test -x /usr/local/sbin/corral-configdrive && echo in-image > data/file")
            launch["launch"]["task_infos"][0]["container"] = image
            return [launch]

        sched.plan(write, driver)
        assert sched.wait_terminal("imaged", timeout=120)["state"] == "TASK_FINISHED"
    with open(os.path.join(volume_dir(cluster, "data"), "file")) as fh:
        assert fh.read() == "in-image\n"
