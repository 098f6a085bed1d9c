"""The `corral` CLI over the operator API, with credentials, tokens and TLS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support import opskit

pytestmark = pytest.mark.integration


def corral(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "corral.cli.main", *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def secured(cluster, creds):
    cluster.secure(auth=opskit.basic("ops"))
    cluster.start_master("--authenticate_http_readwrite", "true", "--authenticate_http_readonly", "true",
                         "--credentials", str(creds["credentials"]), "--jwt_secret_key", str(creds["jwt_key"]))
    cluster.add_agent("cpus:2;mem:1024;disk:1024")
    return cluster


def test_commands_with_principal_secret_credential_and_tokens(secured, creds, tmp_path):
    m = ["--master", secured.master.address]
    ops = ["--principal", "ops", "--secret", opskit.PRINCIPALS["ops"]]
    refused = corral("state", *m, check=False)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr and "--principal/--secret" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "Agents:     1 active" in corral("state", *m, *ops).stdout
    # The secret may come from the environment or a credential file instead of the command line.
    assert "127.0.0.1" in corral("agents", *m, "--principal", "ops", env={"CORRAL_SECRET": opskit.PRINCIPALS["ops"]}).stdout
    ops_file = tmp_path / "ops.json"
    ops_file.write_text('{"credentials": [{"principal": "ops", "secret": "%s"}]}' % opskit.PRINCIPALS["ops"])
    shown = corral("weights", "ads=2", "dev=0.5", *m, "--credential", str(ops_file)).stdout
    assert "ads" in shown and "2" in shown and "dev" in shown and "0.5" in shown
    assert "master/elected  1" in corral("metrics", "master/elected", *m, *ops).stdout
    assert "corral_master_elected 1.0" in corral("metrics", "--prometheus", *m, *ops).stdout
    flags = corral("flags", *m, *ops).stdout
    assert f"credentials={creds['credentials']}" in flags
    assert all(secret not in flags for secret in opskit.secrets())
    roles = corral("roles", *m, *ops).stdout
    assert "Dominant share" in roles
    # Bearer tokens: a static one from the credentials file, and a JWT minted by `corral token`.
    static = next(iter(opskit.TOKENS))
    assert corral("frameworks", *m, "--token", static).returncode == 0
    jwt = corral("token", "--principal", "ops", "--jwt-secret-key", str(creds["jwt_key"]), "--ttl", "5m").stdout.strip()
    assert corral("tasks", *m, "--token", jwt).returncode == 0
    assert "HTTP 401" in corral("tasks", *m, "--token", jwt + "x", check=False).stderr


def test_events_teardown_and_agent_gone(secured):
    m = ["--master", secured.master.address, "--principal", "ops", "--secret", opskit.PRINCIPALS["ops"]]
    sched = opskit.AuthScheduler(secured.master.address, {"user": "root", "name": "cli-target", "failover_timeout": 60}).subscribe()
    try:
        events = corral("events", "--count", "1", *m).stdout
        assert events.startswith("SUBSCRIBED  1 agents, 1 frameworks")
        assert "torn down" in corral("teardown", sched.framework_id, *m).stdout
        assert secured.state()["frameworks"] == []
        agent_id = secured.state()["slaves"][0]["id"]
        assert "marked gone" in corral("agent-gone", agent_id, "--yes", *m).stdout
        opskit.wait_for(lambda: not secured.state()["slaves"], what="the agent to be gone")
        missing = corral("teardown", "no-such-framework", *m, check=False)
        assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    finally:
        sched.close()


def test_commands_over_tls(cluster, certs):
    cluster.secure(scheme="https", ctx=opskit.client_ssl(certs))
    cluster.start_master(*opskit.tls_flags(certs))
    cluster.add_agent("cpus:2;mem:1024;disk:1024", *opskit.tls_flags(certs))
    m = ["--master", cluster.master.address]
    assert "Agents:     1 active" in corral("state", *m, "--ca-file", str(certs.ca)).stdout
    untrusted = corral("state", *m, "--ca-file", str(certs.other_ca), check=False)
    assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert corral("events", "--count", "1", *m, "--ca-file", str(certs.ca)).stdout.startswith("SUBSCRIBED")


def test_corral_run_authenticates_as_a_framework(cluster, creds):
    cluster.secure(auth=opskit.basic("ops"))
    cluster.start_master("--authenticate_frameworks", "true", "--credentials", str(creds["credentials"]))
    cluster.add_agent("cpus:2;mem:1024;disk:1024")
    m = ["--master", cluster.master.address]
    refused = corral("run", *m, "--command", "echo no", check=False)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    done = corral("run", *m, "--principal", "spark", "--secret", opskit.PRINCIPALS["spark"], "--command", "echo yes")
    assert "TASK_FINISHED" in done.stdout


def test_corral_run_over_tls(cluster, certs):
    cluster.secure(scheme="https", ctx=opskit.client_ssl(certs))
    cluster.start_master(*opskit.tls_flags(certs))
    cluster.add_agent("cpus:2;mem:1024;disk:1024", *opskit.tls_flags(certs))
    done = corral("run", "--master", cluster.master.address, "--ca-file", str(certs.ca), "--command", "echo over-tls")
    assert "TASK_FINISHED" in done.stdout
    waited = corral("run", "--master", cluster.master.address, "--ca-file", str(certs.ca), "--resources", "cpus:9",
                    "--timeout", "4", "--command", "true", check=False)  # why it waits: GET_AGENTS over TLS too
    assert waited.returncode == 3 and "no agent has that much: the agents' totals are at most cpus:2" in waited.stderr
