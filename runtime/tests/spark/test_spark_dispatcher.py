"""The Spark dispatcher end to end: a real master, two agents, real Spark JVMs.

The tests share one cluster and one dispatcher (module scope) and run in file
order; each leaves no application running behind it.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from corral.sparkperf.report import parse_results
from support.cluster import FAST_AGENT, Cluster, Daemon, free_port, wait_for
from support.sparkkit import AGENT_ATTRIBUTES, AGENT_RESOURCES, TEST_CONF, Dispatcher, build_jar, corral, held_by, http, python_request
from support.zookeeper import ZooKeeperEnsemble

# Spark JVMs start slowly on a loaded 2-core machine: more than the suite-wide 300 s per test.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

KMEANS_ARGS = ["--num-examples", "300", "--num-features", "40", "--num-centers", "4", "--num-iterations", "4",
               "--num-partitions", "2", "--num-trials", "2", "--inter-trial-wait", "0"]


def conf_flags() -> list[str]:
    return [item for key, value in TEST_CONF.items() for item in ("--conf", f"{key}={value}")]


def test_bad_input_gets_a_clear_error(dispatcher):
    code, body = dispatcher.create(b"{not json")
    assert code == 400 and body["action"] == "ErrorResponse" and "not valid JSON" in body["message"]
    request = python_request("/nonexistent/app.py")
    del request["appResource"]
    code, body = dispatcher.create(request)
    assert code == 400 and "'appResource' is required" in body["message"]
    code, body = dispatcher.create(python_request("/x/app.py", spark__executor__memory="12x"))
    assert code == 400 and not body["success"] and "spark.executor.memory: '12x' is not a memory size" in body["message"]
    code, body = dispatcher.create(python_request("/x/app.py", spark__mesos__constraints="rack:r1,,r2"))
    assert code == 400 and "spark.mesos.constraints" in body["message"] and "empty value" in body["message"]
    code, body = http("GET", f"{dispatcher.url}/v1/submissions/status/driver-nope")
    assert code == 404 and body["driverState"] == "NOT_FOUND" and "no submission 'driver-nope'" in body["message"]
    code, body = http("POST", f"{dispatcher.url}/v1/submissions/kill/driver-nope")
    assert code == 404 and not body["success"]
    code, body = http("GET", f"{dispatcher.url}/v2/submissions/status/x")
    assert code == 468 and body["highestProtocolVersion"] == "v1"
    result = corral("spark", "status", "--dispatcher", dispatcher.address, "driver-nope")
    assert result.returncode != 0 and "no submission 'driver-nope'" in result.stderr
    result = corral("spark", "submit", "--dispatcher", dispatcher.address, "/nonexistent/app.py")
    assert result.returncode != 0 and "does not exist" in result.stderr
    result = corral("spark", "submit", "--dispatcher", dispatcher.address, "--conf", "spark.cores.max=zero", __file__)
    assert result.returncode != 0 and "spark.cores.max: 'zero' is not a whole number" in result.stderr
    code, body = http("GET", f"{dispatcher.url}/v1/submissions/readyz")
    assert code == 200 and body["success"]


def test_unmatched_constraints_stay_queued_with_the_reason(dispatcher, apps):
    sid = dispatcher.submit(python_request(apps / "sum.py", spark__mesos__constraints="rack:r9;os:debian"))
    status = wait_for(lambda: (s := dispatcher.get(sid))["state"] == "QUEUED" and "no agent matches" in s["reason"] and s,
                      timeout=30, what="a reason naming the constraints")
    assert "spark.mesos.constraints 'os:debian;rack:r9'" in status["reason"] and "rack=r1" in status["reason"]
    time.sleep(3)  # sleep, not wait: no launch is an absence; the declined offers come back every second meanwhile
    assert dispatcher.get(sid)["state"] == "QUEUED" and dispatcher.get(sid)["tasks"] == []
    listing = corral("spark", "list", "--dispatcher", dispatcher.address, "--json")
    assert any(s["id"] == sid and s["state"] == "QUEUED" for s in json.loads(listing.stdout))
    assert html.escape(dispatcher.get(sid)["reason"]) in http("GET", dispatcher.url + "/")[1]  # the web page shows it
    code, body = http("POST", f"{dispatcher.url}/v1/submissions/kill/{sid}")
    assert code == 200 and body["success"] and dispatcher.get(sid)["state"] == "KILLED"


def test_submit_wait_shows_the_reason_and_times_out_with_it(dispatcher, apps):
    app = str(apps / "sum.py")
    unused = corral("spark", "submit", "--dispatcher", dispatcher.address, "--timeout", "5", app)
    assert unused.returncode == 2 and "--timeout goes with --wait" in unused.stderr
    waited = corral("spark", "submit", "--dispatcher", dispatcher.address, "--constraints", "rack:r9", "--wait",
                    "--timeout", "4", app)
    sid = waited.stdout.split()[0]
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert f"{sid}: QUEUED (no agent matches spark.mesos.constraints 'rack:r9'" in waited.stdout
    assert f"timed out after 4s; {sid}: QUEUED (no agent matches spark.mesos.constraints 'rack:r9'" in waited.stderr
    assert corral("spark", "kill", "--dispatcher", dispatcher.address, sid).returncode == 0


def test_python_and_jvm_apps_through_rest_cli_and_spark_submit(dispatcher, apps, spark_cluster):
    # 1. Spark's REST protocol, as a raw CreateSubmissionRequest.
    rest_id = dispatcher.submit(python_request(apps / "sum.py", "via", "rest", spark__cores__max="1"))
    # 2. The CLI, following the application to its end.
    cli = subprocess.Popen(
        [sys.executable, "-m", "corral.cli.main", "spark", "submit", "--dispatcher", dispatcher.address, "--wait",
         "--timeout", "400", "--total-executor-cores", "1", *conf_flags(), str(apps / "sum.py"), "via", "cli"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # 3. spark-submit --deploy-mode cluster of a JVM application (REST, like against a Mesos dispatcher).
    jar = build_jar(spark_cluster.root)
    submit_out = None
    if jar is not None:
        import pyspark

        env = {k: v for k, v in os.environ.items() if k not in ("SPARK_HOME", "PYSPARK_PYTHON")}
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        submit_out = subprocess.run(
            [os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit"), "--master", f"spark://{dispatcher.address}",
             "--deploy-mode", "cluster", "--conf", "spark.master.rest.enabled=true", "--total-executor-cores", "1",
             *conf_flags(), "--class", "CorralCount", str(jar), "x", "y"],
            capture_output=True, text=True, timeout=180, env=env,
        )
    status = dispatcher.wait_state(rest_id, "FINISHED", timeout=400)
    assert "SUM 499500 ARGS via rest" in dispatcher.logs(rest_id)
    assert status["app_id"] and status["app_id"].startswith("app-")
    out, err = cli.communicate(timeout=420)
    assert cli.returncode == 0, out + err
    cli_id = out.splitlines()[0].strip()
    assert "FINISHED" in out and "SUM 499500 ARGS via cli" in dispatcher.logs(cli_id)
    if submit_out is not None:
        match = re.search(r"Submission successfully created as (driver-\S+?)\.", submit_out.stderr + submit_out.stdout)
        assert submit_out.returncode == 0 and match, submit_out.stderr[-3000:]
        dispatcher.wait_state(match.group(1), "FINISHED", timeout=400)
        assert "JVM COUNT 1000 ARGS x,y" in dispatcher.logs(match.group(1))
    page = http("GET", dispatcher.url + "/")[1]
    assert rest_id in page and cli_id in page and "Finished drivers" in page
    detail = http("GET", f"{dispatcher.url}/driver/{rest_id}")[1]
    assert "SUM 499500" in detail  # the driver page tails its stdout


def test_kmeans_in_coarse_and_fine_mode(dispatcher):
    from corral.sparkperf import kmeans

    ids = {}
    for mode in ("coarse", "fine"):
        request = python_request(kmeans.__file__, *KMEANS_ARGS, spark__corral__mode=mode, spark__cores__max="2")
        request["sparkProperties"]["spark.app.name"] = f"kmeans-{mode}"
        ids[mode] = dispatcher.submit(request)
    for mode, sid in ids.items():
        status = dispatcher.wait_state(sid, "FINISHED", timeout=500)
        report = parse_results(dispatcher.logs(sid))
        assert report["testName"] == "kmeans" and len(report["results"]) == 2
        assert all(r["trainingTime"] > 0 and r["testTime"] > 0 for r in report["results"])
        assert report["options"]["num-features"] == 40
        workers = [t for t in status["tasks"] if t["kind"] == "worker"]
        assert workers, status
        if mode == "fine":
            assert all(t["cores"] == 1 and t["cpus"] == 1 for t in workers)
            assert report["sparkConf"]["spark.dynamicAllocation.enabled"] == "true"
        else:
            assert sum(t["cores"] for t in workers) <= 2


def test_supervised_driver_is_retried(dispatcher, apps, spark_cluster):
    marker = spark_cluster.root / "flaky.marker"
    sid = dispatcher.submit(python_request(apps / "flaky.py", str(marker), spark__driver__supervise="true"))
    status = dispatcher.wait_state(sid, "FINISHED", timeout=400)
    assert status["retries"] == 1 and status["attempt"] == 2
    detail = dispatcher.get(sid)
    assert "status 3" in detail["last_failure"]
    assert "second attempt: OK" in dispatcher.logs(sid)
    assert "failing on purpose" in dispatcher.logs(sid, task="1.driver")


def test_fine_grained_idle_app_gives_its_cores_to_another_framework_until_killed(dispatcher, apps, spark_cluster):
    framework = dispatcher.state()["framework_id"]
    wait_for(lambda: held_by(spark_cluster, framework) == 0, timeout=60, what="earlier applications to release everything")
    sid = dispatcher.submit(python_request(apps / "busy_then_idle.py", "300", spark__corral__mode="fine",
                                           spark__cores__max="2"))
    busy = wait_for(lambda: (s := dispatcher.get(sid))["workers"] >= 1 and s, timeout=300, what="one-core workers")
    assert busy["state"] == "RUNNING"
    # spark-submit's JVM keeps its temporary directory in the driver's sandbox, not in /tmp, where a
    # kill would leave it.
    wait_for(lambda: list(spark_cluster.root.glob(f"agent*/**/executors/{sid}.*.driver/runs/*/tmp/spark-*")), timeout=120,
             what="the driver's temporary directory in its sandbox")
    wait_for(lambda: "idle" in dispatcher.logs(sid), timeout=300, what="the job to end")
    idle = wait_for(lambda: (s := dispatcher.get(sid))["workers"] == 0 and s, timeout=120, what="idle workers to go")
    assert idle["state"] == "RUNNING" and idle["cpus"] <= 1.1 + 1e-6
    wait_for(lambda: held_by(spark_cluster, framework) <= 1.1 + 1e-6, timeout=30, what="the master to see the release")
    # Another framework now gets a whole agent's cores: only possible because the idle app let them go.
    run = corral("run", "--master", spark_cluster.master.address, "--name", "other-framework",
                 "--resources", "cpus:3.5;mem:64", "--timeout", "60", "--command", "true", timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    assert dispatcher.get(sid)["state"] == "RUNNING"
    # Kill it (the CLI; REST underneath): every task ends and nothing stays held.
    result = corral("spark", "kill", "--dispatcher", dispatcher.address, sid)
    assert result.returncode == 0 and "Killing running driver" in result.stdout
    dispatcher.wait_state(sid, "KILLED", timeout=60)
    wait_for(lambda: all(t["state"] == "TASK_KILLED" for t in dispatcher.get(sid)["tasks"] if t["kind"] != "worker"),
             timeout=60, what="every task of the application to be killed")
    wait_for(lambda: held_by(spark_cluster, framework) == 0, timeout=60, what="the master to see everything released")
    again = corral("spark", "kill", "--dispatcher", dispatcher.address, sid)
    assert again.returncode == 1 and "already terminated" in again.stdout


def test_dispatcher_and_master_restarts_keep_the_queue_and_running_apps(dispatcher, apps, spark_cluster):
    framework = dispatcher.state()["framework_id"]
    queued = dispatcher.submit(python_request(apps / "sum.py", spark__mesos__constraints="rack:r9"))
    running = dispatcher.submit(python_request(apps / "restartable.py"))
    dispatcher.wait_state(running, "RUNNING", timeout=300)
    # 1. The dispatcher restarts: the master keeps its tasks; it re-subscribes as the same framework.
    dispatcher.stop()
    wait_for(lambda: not next(fw for fw in spark_cluster.state()["frameworks"] if fw["id"] == framework)["connected"],
             timeout=30, what="the master to see the dispatcher's framework disconnect")
    tasks = [t for fw in spark_cluster.state()["frameworks"] if fw["id"] == framework for t in fw["tasks"]]
    assert tasks and all(t["state"] == "TASK_RUNNING" for t in tasks)
    dispatcher.start()
    assert dispatcher.state()["framework_id"] == framework
    assert dispatcher.get(queued)["state"] == "QUEUED" and dispatcher.get(running)["state"] == "RUNNING"
    wait_for(lambda: "no agent matches" in dispatcher.get(queued)["reason"], timeout=30, what="the queued app's reason")
    # 2. The master restarts (its registry in its work dir): the dispatcher re-subscribes and reconciles.
    master = spark_cluster.master
    master.kill(signal.SIGTERM)
    master.start()
    wait_for(lambda: http("GET", f"http://{master.address}/health", timeout=2)[0] == 200, timeout=30,
             what="the master to come back")
    wait_for(lambda: dispatcher.state().get("subscribed") and dispatcher.state()["framework_id"] == framework,
             timeout=60, what="the dispatcher to re-subscribe as the same framework")
    status = dispatcher.wait_state(running, "FINISHED", timeout=300)
    assert "COUNT 100" in dispatcher.logs(running) and status["retries"] == 0
    assert dispatcher.tail_log().count("Re-subscribed") >= 2 and "Reconciling" in dispatcher.tail_log()
    http("POST", f"{dispatcher.url}/v1/submissions/kill/{queued}")


def test_queue_in_zookeeper_survives_a_restart(spark_cluster, apps, tmp_path):
    zk = ZooKeeperEnsemble(tmp_path, size=1).start()
    try:
        url = zk.url("/corral/spark-dispatcher")
        first = Dispatcher(tmp_path / "one", spark_cluster.master.address, ["--zk", url])
        (tmp_path / "one").mkdir()
        first.start()
        sid = first.submit(python_request(apps / "sum.py", spark__mesos__constraints="rack:r9"))
        framework = first.state()["framework_id"]
        assert first.state()["store"].startswith("ZooKeeper")
        first.stop()
        second = Dispatcher(tmp_path / "two", spark_cluster.master.address, ["--zk", url])  # a fresh work_dir
        (tmp_path / "two").mkdir()
        second.port = first.port
        second.start()
        try:
            assert second.state()["framework_id"] == framework
            assert second.get(sid)["state"] == "QUEUED"
            from kazoo.client import KazooClient

            client = KazooClient(hosts=zk.hosts)
            client.start(timeout=10)
            assert sid in client.get_children("/corral/spark-dispatcher/submissions")
            client.stop()
            client.close()
            http("POST", f"{second.url}/v1/submissions/kill/{sid}")
            assert second.get(sid)["state"] == "KILLED"
        finally:
            second.stop()
    finally:
        zk.stop()


def test_dispatcher_authenticates_to_a_secured_master(tmp_path):
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"credentials": [{"principal": "spark", "secret": "s3cret-spark"}]}))
    own = tmp_path / "spark-credential.json"
    own.write_text(json.dumps({"credentials": [{"principal": "spark", "secret": "s3cret-spark"}]}))
    cluster = Cluster(tmp_path / "secured")
    (tmp_path / "secured").mkdir()
    try:
        cluster.start_master("--authenticate_frameworks", "true", "--credentials", str(creds))
        anonymous = Dispatcher(tmp_path / "secured", cluster.master.address).start(wait=False)
        wait_for(lambda: "401" in anonymous.tail_log() or "Unauthorized" in anonymous.tail_log(), timeout=30,
                 what="the master to refuse the anonymous dispatcher")
        assert not anonymous.state().get("subscribed")
        assert "401" in anonymous.tail_log() or "Unauthorized" in anonymous.tail_log()
        anonymous.stop()
        (tmp_path / "secured2").mkdir()
        trusted = Dispatcher(tmp_path / "secured2", cluster.master.address, ["--credential", str(own)]).start()
        assert trusted.state()["subscribed"]
        trusted.stop()
    finally:
        cluster.stop()


def test_dispatcher_follows_the_leading_master_through_zookeeper(tmp_path, apps):
    """A SIGKILLed leader: the dispatcher re-subscribes through zk:// as the same framework and its
    running application survives (the new leader keeps the framework it recovers from the agent)."""
    zk = ZooKeeperEnsemble(tmp_path, size=1).start()
    cluster = Cluster(tmp_path / "ha")
    (tmp_path / "ha").mkdir()
    url = zk.url("/corral")
    try:
        masters = []
        for i in range(2):
            port = free_port()
            args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(cluster.root / f"master-{i}"),
                    "--zk", url, "--zk_session_timeout", "2", "--allocation_interval", "0.2", "--heartbeat_interval", "1"]
            master = Daemon("master", args, cluster.root / f"master-{i}.log", port).start()
            cluster.daemons.append(master)
            masters.append(master)

        def leader():
            for m in masters:
                try:
                    if m.alive() and http("GET", f"http://{m.address}/state", timeout=2)[1].get("elected"):
                        return m
                except (OSError, AttributeError):
                    continue
            return None

        first = wait_for(leader, timeout=60, what="a leading master")
        port = free_port()
        agent = Daemon("agent", ["--master", url, "--ip", "127.0.0.1", "--port", str(port), "--work_dir",
                                 str(cluster.root / "agent"), "--resources", AGENT_RESOURCES, "--attributes",
                                 AGENT_ATTRIBUTES[0], *FAST_AGENT], cluster.root / "agent.log", port)
        cluster.daemons.append(agent.start())
        wait_for(lambda: http("GET", f"http://{first.address}/state", timeout=2)[1]["activated_slaves"] == 1, timeout=60,
                 what="the agent to register")
        d = Dispatcher(cluster.root, url).start()
        framework = d.state()["framework_id"]
        assert d.state()["master"] == first.address
        sid = d.submit(python_request(apps / "sum.py", spark__mesos__constraints="rack:r9"))
        running = d.submit(python_request(apps / "restartable.py"))
        d.wait_state(running, "RUNNING", timeout=300)

        def tasks_at(master):
            return sorted((t["id"], t["state"]) for f in http("GET", f"http://{master.address}/state")[1]["frameworks"]
                          if f["id"] == framework for t in f["tasks"])

        before = tasks_at(first)
        assert before and all(state == "TASK_RUNNING" for _, state in before)
        first.kill(signal.SIGKILL)
        second = wait_for(lambda: (m := leader()) is not None and m is not first and m, timeout=60, what="a new leader")
        wait_for(lambda: d.state().get("subscribed") and d.state()["master"] == second.address, timeout=60,
                 what="the dispatcher to re-subscribe to the new leader")
        assert d.state()["framework_id"] == framework and d.get(sid)["state"] == "QUEUED"
        assert any(f["id"] == framework and f["active"] for f in http("GET", f"http://{second.address}/state")[1]["frameworks"])
        # The application's tasks (Spark master, worker, driver) ran on through the failover.
        wait_for(lambda: tasks_at(second) == before, timeout=60, what="the new leader to know the running tasks")
        status = d.wait_state(running, "FINISHED", timeout=300)
        assert "COUNT 100" in d.logs(running) and status["retries"] == 0
        d.stop()
    finally:
        cluster.stop()
        zk.stop()
