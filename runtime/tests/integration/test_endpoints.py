"""The master's unversioned endpoints that Mesos tooling reads (the Mesos CLIs' `agent list`,
`framework list|inspect`, `task list|inspect`): /master/slaves, /master/frameworks and
/master/tasks in Mesos's shapes and parameters, and calls for a framework that is gone."""

from __future__ import annotations

import urllib.parse

import pytest

from support.cluster import http_error, http_json
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework
from support.raw_scheduler import RawScheduler

pytestmark = pytest.mark.integration


def get(cluster, path, **query):
    return http_json(f"http://{cluster.master.address}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else ""))


def test_slaves_frameworks_and_tasks_as_the_mesos_clis_read_them(cluster):
    cluster.start_master()
    agent_id = cluster.agent_id(cluster.add_agent())
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched, name="lister") as driver:
        for i in range(3):
            sched.submit(0.1, 32, lambda o, i=i: command_task(f"t{i}", o, "sleep 30" if i == 2 else "true"), driver)
            sched.wait_state(f"t{i}", "TASK_RUNNING")
        for i in range(2):
            sched.wait_terminal(f"t{i}")
        fid = sched.framework_id

        for path in ("/master/slaves", "/slaves"):
            doc = get(cluster, path)
            [agent] = doc["slaves"]
            assert agent["id"] == agent_id and agent["active"] and "resources" in agent and doc["recovered_slaves"] == []
        for path in ("/master/frameworks", "/frameworks"):
            [fw] = get(cluster, path)["frameworks"]
            assert (fw["id"], fw["name"], fw["active"]) == (fid, "lister", True)
        assert get(cluster, "/master/frameworks", framework_id="nope")["frameworks"] == []

        latest_first = [t["id"] for t in get(cluster, "/master/tasks")["tasks"]]
        assert latest_first == ["t2", "t1", "t0"]  # Mesos's default order: newest first
        assert [t["id"] for t in get(cluster, "/tasks", order="asc", limit=2)["tasks"]] == ["t0", "t1"]
        assert [t["id"] for t in get(cluster, "/master/tasks", order="asc", offset=2)["tasks"]] == ["t2"]
        [one] = get(cluster, "/master/tasks", task_id="t2", framework_id=fid)["tasks"]
        assert (one["state"], one["slave_id"], one["framework_id"], one["user"]) == ("TASK_RUNNING", agent_id, fid, "root")
        assert get(cluster, "/master/tasks", framework_id="nope")["tasks"] == []
        for query, message in [({"limit": "x"}, "Failed to parse limit: 'x' is not a number"),
                               ({"offset": "-1"}, "Failed to parse offset: -1 is negative"),
                               ({"order": "up"}, "Failed to parse order: 'up' is not 'asc' or 'des'")]:
            status, text = http_error(f"http://{cluster.master.address}/master/tasks?{urllib.parse.urlencode(query)}", None)
            assert (status, text) == (400, message)
        driver.killTask({"value": "t2"})
        sched.wait_terminal("t2")


def test_calls_for_a_framework_that_is_gone_are_bad_requests(cluster):
    cluster.start_master()
    cluster.add_agent()
    s = RawScheduler(cluster.master.address).subscribe()
    gone = s.framework_id
    assert s.post({"type": "TEARDOWN"})[0] == 202
    s.close()
    code, text = s.post({"type": "REVIVE", "framework_id": {"value": gone}})
    assert (code, text) == (400, f"Framework {gone} cannot be found")
    [fw] = get(cluster, "/master/frameworks", framework_id=gone)["completed_frameworks"]
    assert fw["id"] == gone and not fw["active"]
