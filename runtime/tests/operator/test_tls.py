"""TLS on every HTTP endpoint (scheduler, operator, master <-> agent, executor <-> agent), mutual TLS,
and per-executor tokens, with a throwaway CA made in the test."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse

import pytest

from support import opskit

pytestmark = pytest.mark.integration


def run_task(sched: opskit.AuthScheduler, task_id: str, command: str) -> dict:
    offer = sched.next_offer()
    assert sched.post(opskit.launch([offer["id"]], [opskit.task(task_id, offer, command)]))[0] == 202
    return sched.wait_update(task_id, "TASK_FINISHED", timeout=30)


def test_tls_round_trip(cluster, certs):
    ctx = opskit.client_ssl(certs)
    cluster.secure(scheme="https", ctx=ctx)
    cluster.start_master(*opskit.tls_flags(certs))
    cluster.add_agent("cpus:2;mem:1024;disk:1024", *opskit.tls_flags(certs), "--authenticate_http_executors", "true")
    # The agent registered over HTTPS; a framework talks HTTPS; the command executor talks HTTPS to its agent.
    sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "tls"}, ctx=ctx).subscribe()
    try:
        done = run_task(sched, "over-tls", "echo hello over tls")
        assert done["source"] == "SOURCE_EXECUTOR"
        read = cluster.get(f"/webui/sandbox/{sched.framework_id}/over-tls/read?path=stdout&offset=0")
        assert read.status == 200 and read.json()["data"] == "hello over tls\n", read.text
    finally:
        sched.close()
    assert cluster.call("GET_STATE").status == 200
    # Plain HTTP on a TLS port gets nowhere.
    try:
        reply = opskit.request("GET", f"http://{cluster.master.address}/health", timeout=5)
    except (urllib.error.URLError, ConnectionError, OSError):
        pass
    else:
        assert reply.status != 200, "a TLS port answered plain HTTP"
    # A client that trusts another CA refuses the master's certificate.
    with pytest.raises(urllib.error.URLError) as refused:
        opskit.request("GET", cluster.url + "/health", ctx=ssl.create_default_context(cafile=str(certs.other_ca)), timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)


def test_mutual_tls_requires_client_certificates(cluster, certs):
    with_cert = opskit.client_ssl(certs, with_cert=True)
    cluster.secure(scheme="https", ctx=with_cert)
    cluster.start_master(*opskit.tls_flags(certs, require_client_cert=True))
    # Agents present their node certificate to the master, executors the agent's to the agent.
    cluster.add_agent("cpus:2;mem:1024;disk:1024", *opskit.tls_flags(certs, require_client_cert=True))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        opskit.request("GET", cluster.url + "/health", ctx=opskit.client_ssl(certs, with_cert=False), timeout=5)
    sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "mtls"}, ctx=with_cert).subscribe()
    try:
        run_task(sched, "mtls-task", "echo mutual")
    finally:
        sched.close()


def test_executors_authenticate_with_their_own_token(cluster):
    cluster.start_master()
    agent = cluster.add_agent("cpus:2;mem:1024;disk:1024", "--authenticate_http_executors", "true")
    sched = opskit.AuthScheduler(cluster.master.address, {"user": "root", "name": "tokens"}).subscribe()
    try:
        # The built-in executor authenticates; its task never sees the token.
        run_task(sched, "env-dump", "env")
        read = cluster.get(f"/webui/sandbox/{sched.framework_id}/env-dump/read?path=stdout&offset=0").json()["data"]
        assert "MESOS_EXECUTOR_ID=env-dump" in read
        assert "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" not in read
    finally:
        sched.close()
    url = f"http://{agent.address}/api/v1/executor"
    call = {"type": "SUBSCRIBE", "framework_id": {"value": sched.framework_id}, "executor_id": {"value": "env-dump"},
            "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}}
    missing = opskit.request("POST", url, call)
    assert missing.status == 401 and "MESOS_EXECUTOR_AUTHENTICATION_TOKEN" in missing.text
    forged = opskit.request("POST", url, call, {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"})
    assert forged.status == 401 and forged.text == "Invalid executor token"
    # A genuine token of one executor does not open another's stream.
    from corral.security import jwt

    key = (cluster.root / "agent-0" / "meta" / "jwt_secret_key").read_bytes().strip()
    other = jwt.encode({"fid": sched.framework_id, "eid": "someone-else", "cid": "x"}, key)
    reply = opskit.request("POST", url, call, {"Authorization": f"Bearer {other}"})
    assert reply.status == 403 and "does not belong to executor 'env-dump'" in reply.text
