"""The v1 operator API in Mesos's shapes, its SUBSCRIBE event stream, pymesos's operator driver,
`/metrics/snapshot` with Mesos's metric names and Prometheus `/metrics`."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from corral.protocol.recordio import Decoder
from support import opskit

pytestmark = pytest.mark.integration


def start(cluster, agents=2):
    cluster.start_master()
    for i in range(agents):
        cluster.add_agent("cpus:2;mem:1024;disk:1024", "--attributes", f"rack:r{i};os:debian")


def running_framework(cluster, name="ops-test", command="sleep 30", task_id="t1", **info):
    sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": name, **info}).subscribe()
    offer = sched.next_offer()
    assert sched.post(opskit.launch([offer["id"]], [opskit.task(task_id, offer, command)]))[0] == 202
    sched.wait_update(task_id, "TASK_RUNNING")
    return sched


def test_operator_calls_answer_in_mesos_shapes(cluster):
    start(cluster)
    sched = running_framework(cluster)
    try:
        def get(call):
            reply = cluster.call(call)
            assert reply.status == 200, (call, reply.status, reply.text)
            body = reply.json()
            kind = call if isinstance(call, str) else call["type"]
            assert body["type"] == kind
            return body[kind.lower()]

        assert get("GET_HEALTH") == {"healthy": True}
        assert get("GET_VERSION")["version_info"]["version"] == "1.11.0"
        flags = {f["name"]: f["value"] for f in get("GET_FLAGS")["flags"]}
        assert flags["allocation_interval"] and "credentials" in flags and "ssl_cert_file" in flags
        metrics = {m["name"]: m["value"] for m in get({"type": "GET_METRICS", "get_metrics": {"timeout": {"nanoseconds": 10**9}}})["metrics"]}
        assert metrics["master/elected"] == 1 and metrics["master/tasks_running"] == 1
        agents = get("GET_AGENTS")["agents"]
        assert len(agents) == 2
        for agent in agents:
            assert {"agent_info", "active", "deactivated", "version", "pid", "registered_time", "total_resources",
                    "allocated_resources", "offered_resources", "capabilities", "resource_providers"} <= set(agent)
            assert {a["name"] for a in agent["agent_info"]["attributes"]} == {"rack", "os"}
        allocated = [a for a in agents if a["allocated_resources"]]
        assert len(allocated) == 1 and {r["name"] for r in allocated[0]["allocated_resources"]} >= {"cpus", "mem"}
        frameworks = get("GET_FRAMEWORKS")
        (fw,) = frameworks["frameworks"]
        assert fw["framework_info"]["id"] == {"value": sched.framework_id} and fw["active"] and fw["connected"]
        assert {"offers", "allocated_resources", "offered_resources", "registered_time", "inverse_offers"} <= set(fw)
        assert {r["name"] for r in fw["allocated_resources"]} >= {"cpus", "mem"}
        tasks = get("GET_TASKS")
        assert [t["task_id"]["value"] for t in tasks["tasks"]] == ["t1"] and tasks["tasks"][0]["state"] == "TASK_RUNNING"
        assert get("GET_EXECUTORS") == {"executors": []}  # command tasks have no ExecutorInfo
        state = get("GET_STATE")
        assert set(state) == {"get_tasks", "get_executors", "get_frameworks", "get_agents"}
        roles = get("GET_ROLES")["roles"]
        assert [r["name"] for r in roles] == ["*"] and roles[0]["frameworks"] == [{"value": sched.framework_id}]
        update = {"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "ads", "weight": 2.5}]}}
        assert cluster.call(update).status == 200
        assert {"role": "ads", "weight": 2.5} in get("GET_WEIGHTS")["weight_infos"]
        master = get("GET_MASTER")
        assert master["master_info"]["address"]["port"] == cluster.master.port and master["start_time"] > 0
        assert get("GET_OPERATIONS") == {"operations": []}
        assert get("GET_LOGGING_LEVEL")["level"] == 0
        assert cluster.call({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1, "duration": {"nanoseconds": 10**9}}}).status == 200
        assert get("GET_LOGGING_LEVEL")["level"] == 1
        # Refusals name the problem.
        for body, status, text in [
            ({"type": "LIST_FILES"}, 400, "LIST_FILES is not supported by this master yet (the v1 file API"),
            ({"type": "START_MAINTENANCE"}, 400, "Expecting 'start_maintenance' to be present"),
            ({"type": "NO_SUCH_CALL"}, 400, "Unknown operator call type 'NO_SUCH_CALL'"),
            ({"type": "UPDATE_WEIGHTS"}, 400, "Expecting 'update_weights' to be present"),
            ({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "x", "weight": -1}]}}, 400, "weight of 'x' must be > 0"),
            ({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "nope"}}}, 404, "Agent nope is unknown"),
            ({"type": "TEARDOWN", "teardown": {"framework_id": {"value": "nope"}}}, 404, "Framework 'nope' is not registered"),
            ({"type": 7}, 400, "type: expected `str`"),
        ]:
            reply = cluster.call(body)
            assert reply.status == status and text in reply.text, (body, reply.status, reply.text)
        assert opskit.request("POST", cluster.url + "/api/v1", b"{not json").status == 400
        # TEARDOWN ends the framework and its tasks.
        assert cluster.call({"type": "TEARDOWN", "teardown": {"framework_id": {"value": sched.framework_id}}}).status == 200
        done = get("GET_FRAMEWORKS")
        assert done["frameworks"] == [] and [f["framework_info"]["name"] for f in done["completed_frameworks"]] == ["ops-test"]
    finally:
        sched.close()


class EventStream:
    def __init__(self, port: int, path: str = "/api/v1") -> None:
        self.events: list[dict] = []
        self.cond = threading.Condition()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("POST", path, json.dumps({"type": "SUBSCRIBE"}), {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
        threading.Thread(target=self._read, args=(response,), daemon=True).start()

    def _read(self, response) -> None:
        decoder = Decoder()
        try:
            while data := response.read1(65536):
                for record in decoder.feed(data):
                    with self.cond:
                        self.events.append(json.loads(record))
                        self.cond.notify_all()
        except (OSError, ValueError, AttributeError):  # closed under us
            pass

    def wait(self, kind: str, predicate=lambda e: True, timeout: float = 20.0) -> dict:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(e["type"] == kind and predicate(e) for e in self.events), timeout)
            assert ok, f"no {kind}; got {[e['type'] for e in self.events]}"
            return next(e for e in self.events if e["type"] == kind and predicate(e))

    def close(self) -> None:
        self.conn.close()


def test_subscribe_streams_every_event_kind(cluster):
    start(cluster, agents=1)
    stream = EventStream(cluster.master.port, "/api/v1/operator")  # pymesos's path works too
    try:
        subscribed = stream.wait("SUBSCRIBED")["subscribed"]
        assert subscribed["heartbeat_interval_seconds"] == 15 and len(subscribed["get_state"]["get_agents"]["agents"]) == 1
        stream.wait("HEARTBEAT")
        second = cluster.add_agent("cpus:1;mem:512;disk:0")
        added = stream.wait("AGENT_ADDED")["agent_added"]["agent"]
        assert added["agent_info"]["port"] == second.port
        sched = running_framework(cluster, name="evented", command="echo done", failover_timeout=60)
        stream.wait("FRAMEWORK_ADDED", lambda e: e["framework_added"]["framework"]["framework_info"]["name"] == "evented")
        task = stream.wait("TASK_ADDED")["task_added"]["task"]
        assert task["task_id"] == {"value": "t1"} and task["state"] == "TASK_STAGING"
        stream.wait("TASK_UPDATED", lambda e: e["task_updated"]["state"] == "TASK_RUNNING")
        finished = stream.wait("TASK_UPDATED", lambda e: e["task_updated"]["state"] == "TASK_FINISHED")["task_updated"]
        assert finished["framework_id"] == {"value": sched.framework_id} and finished["status"]["task_id"] == {"value": "t1"}
        # The framework fails over to a new connection, then is torn down.
        sched.close()
        again = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "evented", "failover_timeout": 60,
                                                             "id": {"value": sched.framework_id}})
        again.framework_id = sched.framework_id
        again._conn = again._connection(60)
        again._conn.request("POST", "/api/v1/scheduler", json.dumps({"type": "SUBSCRIBE", "framework_id": {"value": sched.framework_id},
                            "subscribe": {"framework_info": again.info}}), {"Content-Type": "application/json"})
        response = again._conn.getresponse()
        assert response.status == 200
        again.stream_id = response.getheader("Mesos-Stream-Id")
        stream.wait("FRAMEWORK_UPDATED")
        assert again.post({"type": "TEARDOWN"})[0] == 202
        removed = stream.wait("FRAMEWORK_REMOVED")["framework_removed"]["framework_info"]
        assert removed["id"] == {"value": sched.framework_id}
        again.close()
        agent_id = added["agent_info"]["id"]
        assert cluster.call({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent_id}}).status == 200
        assert stream.wait("AGENT_REMOVED")["agent_removed"]["agent_id"] == agent_id
    finally:
        stream.close()


def test_pymesos_operator_driver(cluster):
    from pymesos import MesosOperatorMasterDriver, OperatorMaster

    start(cluster, agents=1)

    class Recorder(OperatorMaster):
        def __init__(self):
            self.events = []
            self.cond = threading.Condition()

        def _add(self, kind, what):
            with self.cond:
                self.events.append((kind, what))
                self.cond.notify_all()

        def taskAdded(self, task_info):
            self._add("taskAdded", task_info)

        def taskUpdated(self, task_info):
            self._add("taskUpdated", task_info)

        def frameworkAdded(self, framework_info):
            self._add("frameworkAdded", framework_info)

        def frameworkUpdated(self, framework_info):
            self._add("frameworkUpdated", framework_info)

        def frameworkRemoved(self, framework_info):
            self._add("frameworkRemoved", framework_info)

        def agentAdded(self, agent_info):
            self._add("agentAdded", agent_info)

        def agentRemoved(self, agent_id):
            self._add("agentRemoved", agent_id)

    recorder = Recorder()
    driver = MesosOperatorMasterDriver(cluster.master.address, recorder)
    driver.start()
    try:
        assert driver.getHealth()["get_health"]["healthy"] is True
        assert len(driver.getAgents()["get_agents"]["agents"]) == 1
        driver.updateWeights([{"role": "spark", "weight": 3.0}])
        assert {"role": "spark", "weight": 3.0} in driver.getWeights()["get_weights"]["weight_infos"]
        assert driver.getMaster()["get_master"]["master_info"]["port"] == cluster.master.port
        # (the driver subscribes on its own thread; a framework added before that is in its snapshot, not an event)
        opskit.wait_for(lambda: cluster.get("/metrics/snapshot").json()["master/operator_event_stream_subscribers"] == 1,
                        what="the operator driver's subscription")
        sched = running_framework(cluster, name="watched", command="echo hi")
        with recorder.cond:
            assert recorder.cond.wait_for(lambda: {"taskAdded", "frameworkAdded"} <= {k for k, _ in recorder.events}
                                          and any(k == "taskUpdated" and w["state"] == "TASK_FINISHED" for k, w in recorder.events), 20), recorder.events
        sched.close()
        assert driver.getState()["get_state"]["get_tasks"]["completed_tasks"][0]["task_id"]["value"] == "t1"
    finally:
        driver.stop()
        driver.join()


MESOS_METRICS = [
    "master/elected", "master/uptime_secs", "master/tasks_staging", "master/tasks_starting", "master/tasks_running",
    "master/tasks_killing", "master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost",
    "master/tasks_error", "master/slaves_active", "master/slaves_connected", "master/slaves_disconnected",
    "master/slaves_inactive", "master/slaves_unreachable", "master/frameworks_active", "master/frameworks_inactive",
    "master/frameworks_connected", "master/frameworks_disconnected", "master/outstanding_offers", "master/offers_sent",
    "master/cpus_total", "master/cpus_used", "master/cpus_percent", "master/mem_total", "master/mem_used", "master/mem_percent",
    "master/disk_total", "master/disk_used", "master/gpus_total", "master/slave_registrations", "master/valid_status_updates",
    "master/messages_scheduler_calls", "master/operator_event_stream_subscribers",
    "allocator/mesos/allocation_runs", "allocator/mesos/allocation_run_ms", "allocator/mesos/allocation_run_ms/count",
    "allocator/mesos/allocation_run_ms/min", "allocator/mesos/allocation_run_ms/max", "allocator/mesos/allocation_run_ms/p50",
    "allocator/mesos/allocation_run_ms/p90", "allocator/mesos/allocation_run_ms/p99", "allocator/mesos/allocation_run_ms/p999",
    "allocator/mesos/resources/cpus/total", "allocator/mesos/resources/cpus/offered_or_allocated",
    "allocator/mesos/roles/*/shares/dominant", "system/cpus_total", "system/load_1min", "system/mem_total_bytes",
]


def test_metrics_snapshot_and_prometheus(cluster):
    start(cluster, agents=1)
    sched = running_framework(cluster, name="metered", command="echo counted")
    try:
        sched.wait_update("t1", "TASK_FINISHED")
        snapshot = opskit.wait_for(lambda: (s := cluster.get("/metrics/snapshot").json())["master/tasks_finished"] == 1 and s,
                                   what="the finished task to be counted")
        missing = [name for name in MESOS_METRICS if name not in snapshot]
        assert not missing, missing
        assert snapshot["master/elected"] == 1 and snapshot["master/slaves_active"] == 1
        assert snapshot["master/cpus_total"] == 2 and snapshot["allocator/mesos/allocation_run_ms/count"] >= 1
        assert all(isinstance(v, (int, float)) for v in snapshot.values())
        reply = cluster.get("/metrics")
        assert reply.status == 200 and reply.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(reply.text)}
        assert families["corral_master_elected"].samples[0].value == 1
        assert families["corral_master_tasks_finished"].type == "counter"
        assert families["corral_master_tasks_finished"].samples[0].value == 1
        shares = families["corral_allocator_role_dominant_share"].samples
        assert {s.labels["role"] for s in shares} == {"*"}
        assert "process_cpu_seconds" in families
    finally:
        sched.close()
