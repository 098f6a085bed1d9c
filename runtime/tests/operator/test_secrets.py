"""Secrets never leak: not into the daemons' logs (even at DEBUG), not into /state, /flags, GET_FLAGS,
GET_STATE or /metrics of the master and the agent, not into sandboxes or the environment of tasks."""

from __future__ import annotations

import time

import pytest

from corral.security import jwt
from support import opskit

pytestmark = pytest.mark.integration

WRONG_SECRET = "wrong-secret-b71c4e9a"


def test_no_secret_appears_in_logs_state_flags_or_sandboxes(cluster, creds, tmp_path):
    acls = opskit.write_acls(tmp_path, {"run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]})
    cluster.secure(auth=opskit.basic("ops"))
    cluster.start_master(
        "--authenticate_frameworks", "true", "--authenticate_agents", "true", "--authenticate_http_readwrite", "true",
        "--authenticate_http_readonly", "true", "--credentials", str(creds["credentials"]), "--acls", str(acls),
        "--jwt_secret_key", str(creds["jwt_key"]), "--credential", str(creds["credential"]), "--log_level", "DEBUG",
    )
    agent = cluster.add_agent("cpus:2;mem:1024;disk:1024", "--credential", str(creds["credential"]),
                              "--credentials", str(creds["credentials"]), "--authenticate_http_readonly", "true",
                              "--authenticate_http_executors", "true", "--log_level", "DEBUG")
    texts: dict[str, str] = {}
    sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "leaky?"}, auth=opskit.basic("spark")).subscribe()
    try:
        offer = sched.next_offer()
        dump = opskit.task("dump", offer, "env; ls -la $MESOS_SANDBOX >&2")
        assert sched.post(opskit.launch([offer["id"]], [dump]))[0] == 202
        sched.wait_update("dump", "TASK_FINISHED", timeout=30)
        texts["task stdout (environment)"] = cluster.get(f"/webui/sandbox/{sched.framework_id}/dump/read?path=stdout&offset=0").text
        texts["task stderr (its sandbox)"] = cluster.get(f"/webui/sandbox/{sched.framework_id}/dump/read?path=stderr&offset=0").text
        # Failed and successful logins of every kind.
        for auth in (opskit.basic("ops", WRONG_SECRET), opskit.basic("nobody-at-all", WRONG_SECRET), f"Bearer {WRONG_SECRET}",
                     f"Bearer {next(iter(opskit.TOKENS))}", "Bearer " + jwt.encode({"sub": "ops", "exp": time.time() + 60}, opskit.JWT_KEY.encode())):
            cluster.call("GET_STATE", auth=auth)
            cluster.get("/state", auth=auth)
        for what, path in [("/state", "/state"), ("/flags", "/flags"), ("/metrics", "/metrics"), ("/metrics/snapshot", "/metrics/snapshot")]:
            texts[f"master {what}"] = cluster.get(path).text
        for call in ("GET_FLAGS", "GET_STATE", "GET_FRAMEWORKS", "GET_AGENTS", "GET_EXECUTORS", "GET_TASKS"):
            texts[call] = cluster.call(call).text
        for path in ("/state", "/flags"):
            texts[f"agent {path}"] = cluster.get(path, base=f"http://{agent.address}").text
        assert "credentials.json" in texts["master /flags"]  # where the secrets are, not what they are
    finally:
        sched.close()
    cluster.stop()
    texts["master and agent logs"] = opskit.logs_text(cluster)
    assert "Invalid credentials for principal 'ops'" in texts["master and agent logs"]  # refusals are logged, without secrets
    secrets = opskit.secrets() + [WRONG_SECRET, opskit.basic("ops").split()[1], opskit.basic("spark").split()[1]]
    leaks = [(where, secret) for where, text in texts.items() for secret in secrets if secret in text]
    assert not leaks, leaks
    # The executor's token stays with the executor.
    assert "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" not in texts["task stdout (environment)"]
    assert "MESOS_EXECUTOR_ID=dump" in texts["task stdout (environment)"]
