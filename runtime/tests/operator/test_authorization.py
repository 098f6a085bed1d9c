"""Authorization with Mesos-format ACLs, deny by default: each protected call is refused (403, with
the reason) to a principal the ACLs do not allow, and reads leave out what it may not view."""

from __future__ import annotations

import json
import os
import threading
import urllib.parse

import pytest

from corral.protocol.recordio import Decoder
from support import opskit

pytestmark = pytest.mark.integration

OPS = {"values": ["ops"]}
ANY = {"type": "ANY"}
ACLS = {
    "permissive": False,
    "register_frameworks": [
        {"principals": {"values": ["spark"]}, "roles": {"values": ["analytics", "analytics/%"]}},
        {"principals": OPS, "roles": ANY},
    ],
    "run_tasks": [
        {"principals": {"values": ["spark"]}, "users": {"values": ["nobody"]}},
        {"principals": OPS, "users": ANY},
    ],
    "register_agents": [{"principals": {"values": ["agent"]}, "agents": ANY}],
    "teardown_frameworks": [{"principals": OPS, "framework_principals": ANY}],
    "update_weights": [{"principals": OPS, "roles": ANY}],
    "reserve_resources": [{"principals": OPS, "roles": ANY}],
    "unreserve_resources": [{"principals": OPS, "reserver_principals": ANY}],
    "create_volumes": [{"principals": OPS, "roles": ANY}],
    "destroy_volumes": [{"principals": OPS, "creator_principals": ANY}],
    "mark_agents_gone": [{"principals": OPS, "agents": ANY}],
    "view_flags": [{"principals": OPS, "flags": ANY}],
    "get_endpoints": [{"principals": OPS, "paths": ANY}],
    "set_log_level": [{"principals": OPS, "levels": ANY}],
    "view_roles": [{"principals": ANY, "roles": ANY}],
    "view_frameworks": [{"principals": OPS, "users": ANY}, {"principals": {"values": ["viewer"]}, "users": {"values": ["nobody"]}}],
    "view_tasks": [{"principals": OPS, "users": ANY}, {"principals": {"values": ["viewer"]}, "users": {"values": ["nobody"]}}],
    "view_executors": [{"principals": OPS, "users": ANY}, {"principals": {"values": ["viewer"]}, "users": {"values": ["nobody"]}}],
    "access_sandboxes": [{"principals": OPS, "users": ANY}],
}
# On the agent, the master's own principal ('agent', its --credential) reads sandboxes for the web UI:
# the master has already checked the caller's access_sandboxes.
TRUSTED = {"values": ["ops", "agent"]}
AGENT_ACLS = {"permissive": False, "access_sandboxes": [{"principals": TRUSTED, "users": ANY}],
              "view_frameworks": [{"principals": TRUSTED, "users": ANY}], "view_executors": [{"principals": TRUSTED, "users": ANY}],
              "view_tasks": [{"principals": TRUSTED, "users": ANY}], "view_flags": [{"principals": OPS, "flags": ANY}]}
AS_ROOT = os.geteuid() == 0


@pytest.fixture
def guarded(cluster, creds, tmp_path):
    acls = opskit.write_acls(tmp_path, ACLS)
    agent_acls = opskit.write_acls(tmp_path, AGENT_ACLS, "agent-acls.json")
    cluster.secure(auth=opskit.basic("ops"))
    cluster.start_master(
        "--authenticate_frameworks", "true", "--authenticate_agents", "true", "--authenticate_http_readwrite", "true",
        "--authenticate_http_readonly", "true", "--credentials", str(creds["credentials"]), "--acls", str(acls),
        "--credential", str(creds["credential"]),
    )
    cluster.add_agent("cpus:2;mem:1024;disk:1024", "--credential", str(creds["credential"]), "--credentials", str(creds["credentials"]),
                      "--authenticate_http_readonly", "true", "--acls", str(agent_acls))
    return cluster


def scheduler(cluster, principal, **info):
    framework = {"user": "root", "name": f"{principal}-fw", **info}
    return opskit.AuthScheduler(cluster.master.address, framework, auth=opskit.basic(principal))


def test_register_frameworks_by_role(guarded):
    ok = scheduler(guarded, "spark", roles=["analytics"], capabilities=[{"type": "MULTI_ROLE"}])
    assert ok.try_subscribe() == (200, "")
    nested = scheduler(guarded, "spark", roles=["analytics/etl"], capabilities=[{"type": "MULTI_ROLE"}])
    assert nested.try_subscribe() == (200, "")
    wrong_role = scheduler(guarded, "spark", roles=["ads"], capabilities=[{"type": "MULTI_ROLE"}])
    status, text = wrong_role.try_subscribe()
    assert status == 403 and text == "Principal 'spark' is not authorized to register frameworks with role 'ads'", (status, text)
    # No rule for 'viewer' at all: deny by default ("permissive": false).
    status, text = scheduler(guarded, "viewer").try_subscribe()
    assert status == 403 and "'viewer' is not authorized to register frameworks with role '*'" in text
    for s in (ok, nested):
        s.close()


def test_run_tasks_as_authorized_users_only(guarded):
    sched = scheduler(guarded, "spark", role="analytics").subscribe()
    try:
        offer = sched.next_offer()
        as_root = opskit.task("as-root", offer, "echo no")                      # framework user root: not allowed
        as_nobody = opskit.task("as-nobody", offer, "echo yes")
        as_nobody["command"]["user"] = "nobody"
        assert sched.post(opskit.launch([offer["id"]], [as_root, as_nobody]))[0] == 202
        refused = sched.wait_update("as-root", "TASK_ERROR")
        assert refused["reason"] == "REASON_TASK_UNAUTHORIZED"
        assert refused["message"] == "Task is not authorized to launch as user 'root' (principal 'spark')"
        if AS_ROOT:
            assert sched.wait_update("as-nobody", "TASK_FINISHED")["state"] == "TASK_FINISHED"
        else:
            assert sched.wait_update("as-nobody")["reason"] != "REASON_TASK_UNAUTHORIZED"
    finally:
        sched.close()


def test_each_protected_operator_call_is_refused_to_an_unauthorized_principal(guarded):
    fw = scheduler(guarded, "spark", role="analytics").subscribe()
    try:
        agent_id = guarded.state()["slaves"][0]["id"]
        calls = {
            "UPDATE_WEIGHTS": ({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "analytics", "weight": 2}]}},
                               "is not authorized to update the weight of role 'analytics'"),
            "TEARDOWN": ({"type": "TEARDOWN", "teardown": {"framework_id": {"value": fw.framework_id}}},
                         "is not authorized to tear down frameworks of principal 'spark'"),
            "MARK_AGENT_GONE": ({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": agent_id}}},
                                "is not authorized to mark agents gone"),
            "SET_LOGGING_LEVEL": ({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1, "duration": {"nanoseconds": 10**9}}},
                                  "is not authorized to set the logging level"),
            "GET_FLAGS": ({"type": "GET_FLAGS"}, "is not authorized to view the flags"),
            "GET_METRICS": ({"type": "GET_METRICS"}, "is not authorized to GET '/metrics/snapshot'"),
        }
        reserved = {"name": "disk", "type": "SCALAR", "scalar": {"value": 64},
                    "reservations": [{"type": "DYNAMIC", "role": "analytics", "principal": "ops"}]}
        volume = dict(reserved, disk={"persistence": {"id": "data", "principal": "ops"},
                                      "volume": {"container_path": "data", "mode": "RW"}})
        for kind, field, resources, reason in (
                ("RESERVE_RESOURCES", "resources", reserved, "reserve resources for role 'analytics'"),
                ("CREATE_VOLUMES", "volumes", volume, "create volumes for role 'analytics'"),
                ("DESTROY_VOLUMES", "volumes", volume, "destroy volumes created by principal 'ops'"),
                ("UNRESERVE_RESOURCES", "resources", reserved, "unreserve resources reserved by principal 'ops'")):
            calls[kind] = ({"type": kind, kind.lower(): {"agent_id": {"value": agent_id}, field: [resources]}},
                           f"is not authorized to {reason}")
        for name, (call, reason) in calls.items():
            reply = guarded.call(call, auth=opskit.basic("viewer"))
            assert reply.status == 403, (name, reply.status, reply.text)
            assert reply.text == f"Principal 'viewer' {reason}", (name, reply.text)
        for path, reason in [("/flags", "view the flags"), ("/metrics/snapshot", "GET '/metrics/snapshot'"),
                             ("/metrics", "GET '/metrics'")]:
            reply = guarded.get(path, auth=opskit.basic("viewer"))
            assert reply.status == 403 and reply.text == f"Principal 'viewer' is not authorized to {reason}", (path, reply.text)
        legacy = opskit.request("POST", guarded.url + "/teardown", f"frameworkId={fw.framework_id}".encode(),
                                {"Authorization": opskit.basic("viewer"), "Content-Type": "application/x-www-form-urlencoded"})
        assert legacy.status == 403, legacy.text
        # The same calls from 'ops' go through.
        for name in ("UPDATE_WEIGHTS", "SET_LOGGING_LEVEL", "GET_FLAGS", "GET_METRICS",
                     "RESERVE_RESOURCES", "CREATE_VOLUMES", "DESTROY_VOLUMES", "UNRESERVE_RESOURCES"):
            reply = guarded.call(calls[name][0])
            assert reply.status == 200, (name, reply.text)
        assert guarded.get("/flags").status == 200
        assert guarded.call(calls["TEARDOWN"][0]).status == 200
        opskit.wait_for(lambda: not guarded.state()["frameworks"], what="the framework to be torn down")
        assert guarded.call(calls["MARK_AGENT_GONE"][0]).status == 200
    finally:
        fw.close()


def _subscribe_events(cluster, principal, events, stop):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", cluster.master.port, timeout=30)
    conn.request("POST", "/api/v1", json.dumps({"type": "SUBSCRIBE"}),
                 {"Content-Type": "application/json", "Authorization": opskit.basic(principal)})
    response = conn.getresponse()
    assert response.status == 200
    decoder = Decoder()
    while not stop.is_set():
        data = response.read1(65536)
        if not data:
            break
        for record in decoder.feed(data):
            events.append(json.loads(record))
    conn.close()


def test_views_leave_out_what_a_principal_may_not_see(guarded):
    viewer_events: list[dict] = []
    stop = threading.Event()
    reader = threading.Thread(target=_subscribe_events, args=(guarded, "viewer", viewer_events, stop), daemon=True)
    reader.start()
    opskit.wait_for(lambda: viewer_events, what="the viewer's SUBSCRIBED")
    visible = scheduler(guarded, "spark", user="nobody", name="visible", role="analytics")
    hidden = scheduler(guarded, "ops", name="hidden")
    try:
        for sched, task_id, user in ((visible, "seen", "nobody"), (hidden, "unseen", "root")):
            sched.subscribe()  # one after the other: each gets the agent's offer in turn
            offer = sched.next_offer()
            t = opskit.task(task_id, offer, "sleep 30")
            t["command"]["user"] = user
            assert sched.post(opskit.launch([offer["id"]], [t]))[0] == 202
            sched.wait_update(task_id, "TASK_RUNNING")
        everything = guarded.state()
        assert sorted(f["name"] for f in everything["frameworks"]) == ["hidden", "visible"]
        seen = guarded.get("/state", auth=opskit.basic("viewer")).json()
        assert [f["name"] for f in seen["frameworks"]] == ["visible"]
        assert [t["id"] for f in seen["frameworks"] for t in f["tasks"]] == ["seen"]
        state = guarded.call("GET_STATE", auth=opskit.basic("viewer")).json()["get_state"]
        assert [f["framework_info"]["name"] for f in state["get_frameworks"]["frameworks"]] == ["visible"]
        assert [t["task_id"]["value"] for t in state["get_tasks"]["tasks"]] == ["seen"]
        tasks = guarded.call("GET_TASKS", auth=opskit.basic("viewer")).json()["get_tasks"]
        assert [t["task_id"]["value"] for t in tasks["tasks"]] == ["seen"]
        full = guarded.call("GET_TASKS").json()["get_tasks"]
        assert sorted(t["task_id"]["value"] for t in full["tasks"]) == ["seen", "unseen"]
        # The viewer's event stream carried only the visible framework and task.
        opskit.wait_for(lambda: any(e["type"] == "TASK_UPDATED" for e in viewer_events), what="the viewer's TASK_UPDATED")
        added = [e["task_added"]["task"]["task_id"]["value"] for e in viewer_events if e["type"] == "TASK_ADDED"]
        frameworks = [e["framework_added"]["framework"]["framework_info"]["name"] for e in viewer_events if e["type"] == "FRAMEWORK_ADDED"]
        assert added == ["seen"] and frameworks == ["visible"], viewer_events
    finally:
        stop.set()
        visible.close()
        hidden.close()


def test_sandboxes_need_access_sandboxes(guarded):
    sched = scheduler(guarded, "ops", name="logger").subscribe()
    try:
        offer = sched.next_offer()
        assert sched.post(opskit.launch([offer["id"]], [opskit.task("talker", offer, "echo secret-output; sleep 30")]))[0] == 202
        sched.wait_update("talker", "TASK_RUNNING")
        path = f"/webui/sandbox/{sched.framework_id}/talker/read?path=stdout&offset=0"
        opskit.wait_for(lambda: "secret-output" in guarded.get(path).json()["data"], what="the task's stdout through the master")
        denied = guarded.get(path, auth=opskit.basic("viewer"))
        assert denied.status == 403 and denied.text == "Principal 'viewer' is not authorized to access sandboxes of user 'root'"
        assert guarded.get(path, auth=None).status == 401
        # The agent itself guards /files the same way.
        agent = guarded.state()["slaves"][0]
        address = agent["pid"].split("@")[1]
        directory = next(e["directory"] for f in opskit.request("GET", f"http://{address}/state", headers={"Authorization": opskit.basic("ops")}).json()["frameworks"]
                         for e in f["executors"])
        query = urllib.parse.urlencode({"path": directory + "/stdout", "offset": 0})
        assert opskit.request("GET", f"http://{address}/files/read?{query}").status == 401
        reply = opskit.request("GET", f"http://{address}/files/read?{query}", headers={"Authorization": opskit.basic("viewer")})
        assert reply.status == 403 and "access sandboxes of user 'root'" in reply.text
        assert "secret-output" in opskit.request("GET", f"http://{address}/files/read?{query}", headers={"Authorization": opskit.basic("ops")}).json()["data"]
        viewer_state = opskit.request("GET", f"http://{address}/state", headers={"Authorization": opskit.basic("viewer")}).json()
        assert viewer_state["frameworks"] == []
    finally:
        sched.close()


def test_deny_by_default_without_authentication(cluster, tmp_path):
    acls = opskit.write_acls(tmp_path, {"permissive": False})
    cluster.start_master("--acls", str(acls))
    status, text = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "anon"}).try_subscribe()
    assert status == 403 and text == "A framework without a principal is not authorized to register frameworks with role '*'"
    reply = cluster.call({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [{"role": "a", "weight": 2}]}})
    assert reply.status == 403 and reply.text == "An unauthenticated caller is not authorized to update the weight of role 'a'"
