"""Authentication: every protected endpoint refuses callers without valid credentials (401 with the
reason); HTTP Basic, bearer tokens and JWTs work; agents authenticate; pymesos with a principal and
secret still runs tasks."""

from __future__ import annotations

import getpass
import time

import pytest

from corral.security import jwt
from support import opskit

pytestmark = pytest.mark.integration


def auth_master_flags(creds) -> list[str]:
    return [
        "--authenticate_frameworks", "true", "--authenticate_agents", "true",
        "--authenticate_http_readwrite", "true", "--authenticate_http_readonly", "true",
        "--credentials", str(creds["credentials"]), "--jwt_secret_key", str(creds["jwt_key"]),
    ]


@pytest.fixture
def secured(cluster, creds):
    cluster.secure(auth=opskit.basic("ops"))
    cluster.start_master(*auth_master_flags(creds))
    cluster.add_agent("cpus:2;mem:1024;disk:1024", "--credential", str(creds["credential"]))
    return cluster


PROTECTED_GETS = ["/state", "/state.json", "/master/state", "/roles", "/flags", "/metrics/snapshot", "/metrics",
                  "/", "/static/app.js", "/webui/sandbox/f/t/read?path=stdout"]
OPERATOR_CALLS = ["GET_STATE", "GET_AGENTS", "GET_FRAMEWORKS", "GET_TASKS", "GET_EXECUTORS", "GET_ROLES", "GET_WEIGHTS",
                  "GET_FLAGS", "GET_METRICS", "GET_HEALTH", "GET_VERSION", "GET_MASTER", "SUBSCRIBE", "TEARDOWN",
                  "UPDATE_WEIGHTS", "MARK_AGENT_GONE", "SET_LOGGING_LEVEL", "GET_LOGGING_LEVEL"]


def test_every_protected_endpoint_refuses_missing_or_wrong_credentials(secured):
    base = secured.url
    refusals = []
    for path in PROTECTED_GETS:
        refusals.append((f"GET {path}", opskit.request("GET", base + path)))
        refusals.append((f"GET {path} (wrong secret)", opskit.request("GET", base + path, headers={"Authorization": opskit.basic("ops", "nope")})))
    for call in OPERATOR_CALLS:
        refusals.append((call, opskit.operator(base, call)))
        refusals.append((f"{call} (wrong secret)", opskit.operator(base, call, opskit.basic("viewer", "guess"))))
        refusals.append((f"{call} (bad token)", opskit.operator(base, call, "Bearer not-a-token")))
    refusals.append(("POST /teardown", opskit.request("POST", base + "/teardown?frameworkId=x")))
    refusals.append(("SUBSCRIBE (scheduler)", opskit.request("POST", base + "/api/v1/scheduler",
                                                             {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}})))
    refusals.append(("REGISTER (agent)", opskit.request("POST", base + "/api/v1/agent", {"type": "REGISTER", "register": {}})))
    for what, reply in refusals:
        assert reply.status == 401, (what, reply.status, reply.text)
        assert reply.headers.get("www-authenticate", "").startswith("Basic"), what
        assert reply.text, f"{what}: a 401 must say why"
    assert "Authentication required" in refusals[0][1].text
    assert "Invalid credentials for principal 'ops'" in refusals[1][1].text
    # What is open stays open: health checks, the version, and where the leader is.
    for path in ("/health", "/version", "/webui/leader"):
        assert opskit.request("GET", base + path).status == 200, path
    assert opskit.request("GET", base + "/redirect").status in (307, 503)


def test_basic_credentials_bearer_tokens_and_jwts(secured, creds):
    base = secured.url
    assert opskit.operator(base, "GET_STATE", opskit.basic("ops")).status == 200
    assert opskit.operator(base, "GET_STATE", opskit.basic("viewer")).status == 200
    token = next(iter(opskit.TOKENS))
    assert opskit.operator(base, "GET_AGENTS", f"Bearer {token}").status == 200
    key = opskit.JWT_KEY.encode()
    good = jwt.encode({"sub": "ops", "exp": time.time() + 60}, key)
    assert opskit.request("GET", base + "/state", headers={"Authorization": f"Bearer {good}"}).status == 200
    expired = jwt.encode({"sub": "ops", "exp": time.time() - 1}, key)
    forged = jwt.encode({"sub": "ops", "exp": time.time() + 60}, b"another-key-0123456789")
    for bad in (expired, forged, good[:-3] + "abc"):
        reply = opskit.request("GET", base + "/state", headers={"Authorization": f"Bearer {bad}"})
        assert reply.status == 401 and "bearer token" in reply.text, reply.text


def test_agents_without_credentials_are_refused(secured, tmp_path):
    assert len(secured.state()["slaves"]) == 1
    # An agent with no credential keeps being refused (HTTP 401) and never joins.
    stray = secured.add_agent("cpus:1;mem:256;disk:0", name="stray", wait=False)
    opskit.wait_for(lambda: "401" in stray.log.read_text(errors="replace"), what="the stray agent to be refused")
    assert len(secured.state()["slaves"]) == 1
    # A wrong secret too.
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"credentials": [{"principal": "agent", "secret": "not-it"}]}')
    liar = secured.add_agent("cpus:1;mem:256;disk:0", "--credential", str(wrong), name="liar", wait=False)
    opskit.wait_for(lambda: "401" in liar.log.read_text(errors="replace"), what="the lying agent to be refused")
    assert len(secured.state()["slaves"]) == 1


def test_pymesos_framework_with_principal_and_secret_runs_tasks(secured):
    from pymesos import MesosSchedulerDriver

    from support import pymesos_harness as harness

    sched = harness.RecordingScheduler()
    framework = {"user": getpass.getuser(), "name": "authenticated-pymesos"}
    driver = MesosSchedulerDriver(sched, framework, secured.master.address, use_addict=False,
                                  principal="spark", secret=opskit.PRINCIPALS["spark"])
    driver.start()
    try:
        sched.wait(lambda: sched.framework_id, 20, "pymesos to subscribe")
        sched.submit(0.1, 32, lambda o: harness.command_task("hello", o, "echo hello"), driver)
        assert sched.wait_terminal("hello")["state"] == "TASK_FINISHED"
        frameworks = secured.state()["frameworks"]
        assert [f["principal"] for f in frameworks] == ["spark"]  # filled in from the credentials
    finally:
        driver.stop()
        driver.join()


def test_scheduler_calls_need_the_framework_principal(secured):
    master = secured.master.address
    spark = opskit.AuthScheduler(master, {"user": "root", "name": "s"}, auth=opskit.basic("spark")).subscribe()
    try:
        # Another authenticated principal cannot act for spark's framework, even with its stream id.
        spark.auth = opskit.basic("viewer")
        status, text = spark.post({"type": "REVIVE"})
        assert status == 403 and "does not match principal 'spark'" in text, (status, text)
        spark.auth = None
        status, text = spark.post({"type": "REVIVE"})
        assert status == 401, (status, text)
        spark.auth = opskit.basic("spark")
        assert spark.post({"type": "REVIVE"})[0] == 202
        # A FrameworkInfo that claims someone else's principal is refused at SUBSCRIBE.
        claim = opskit.AuthScheduler(master, {"user": "root", "name": "c", "principal": "ops"}, auth=opskit.basic("spark"))
        status, text = claim.try_subscribe()
        assert status == 403 and "Authenticated principal 'spark' does not match principal 'ops'" in text, (status, text)
    finally:
        spark.close()


def test_corral_local_starts_when_state_needs_credentials(creds, tmp_path):
    """`corral local` waits for its agents; with the master's /state behind authentication it
    asks the agents whether they are registered instead."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.cli.main", "local", "--agents", "2", "--port", "0", "--work_dir", str(tmp_path / "local"),
         "--master-arg=--authenticate_http_readonly=true", "--master-arg=--authenticate_agents=true",
         f"--master-arg=--credentials={creds['credentials']}", f"--agent-arg=--credential={creds['credential']}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        first = proc.stdout.readline()
        if not first.startswith("Corral is up: master http://127.0.0.1:"):
            proc.wait(30)
            pytest.fail(first + proc.stdout.read())
        master = first.split("http://")[1].split()[0]
        assert opskit.request("GET", f"http://{master}/state").status == 401
        state = opskit.request("GET", f"http://{master}/state", headers={"Authorization": opskit.basic("ops")}).json()
        assert state["activated_slaves"] == 2
    finally:
        proc.terminate()
        proc.wait(30)
