"""The corral command line against a running cluster."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration


def corral(*args, timeout=60, env=None):
    return subprocess.run([sys.executable, "-m", "corral.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_run_state_tasks_and_logs(cluster):
    cluster.start_master()
    cluster.add_agent()
    master = cluster.master.address
    ok = corral("run", "--master", master, "--name", "hello", "--command", "echo out-$MESOS_TASK_ID; echo err >&2")
    assert ok.returncode == 0, ok.stderr
    task_id = next(line.split()[2] for line in ok.stdout.splitlines() if line.startswith("Launching task"))
    assert f"Task {task_id} is TASK_FINISHED" in ok.stdout
    failed = corral("run", "--master", master, "--command", "exit 4", "--quiet")
    assert failed.returncode == 1
    argv = corral("run", "--master", master, "--", "/bin/echo", "argv", "form")
    assert argv.returncode == 0
    logs = corral("logs", "--master", master, task_id)
    assert logs.stdout == f"out-{task_id}\n"
    assert corral("logs", "--master", master, "--stderr", task_id).stdout == "err\n"
    tasks = corral("tasks", "--master", master, "--all")
    assert "TASK_FINISHED" in tasks.stdout and "TASK_FAILED" in tasks.stdout
    state = corral("state", "--master", master)
    assert "1 active" in state.stdout
    agents = corral("agents", "--master", master, "--json")
    assert '"hostname": "127.0.0.1"' in agents.stdout


def test_cli_errors_are_clear(cluster):
    cluster.start_master()
    master = cluster.master.address
    assert "give exactly one of" in corral("run", "--master", master).stderr
    assert "cannot parse 'cpus'" in corral("run", "--master", master, "--resources", "cpus", "--command", "x").stderr
    assert "no task 'nope' is known" in corral("logs", "--master", master, "nope").stderr
    assert "cannot reach" in corral("state", "--master", "127.0.0.1:1").stderr


def test_run_says_why_nothing_fits_and_times_out(cluster):
    cluster.start_master()
    cluster.add_agent()
    cluster.add_agent()
    waited = corral("run", "--master", cluster.master.address, "--resources", "cpus:99;mem:32", "--timeout", "5",
                    "--command", "true")
    reason = ("Waiting for an offer of cpus:99;mem:32: no agent has that much: "
              "the agents' totals are at most cpus:2;mem:1024 (2 agents)")
    assert waited.returncode == 3, waited.stdout + waited.stderr
    assert waited.stdout.count(reason) == 1  # said once: the picture did not change
    assert "timed out after 5s; 1 task(s) not finished. " + reason in waited.stderr


ALLOCATOR = textwrap.dedent(
    '''
    from corral.allocator.hierarchical import HierarchicalAllocator

    class NewestFirst(HierarchicalAllocator):
        """A user's own allocator: the DRF allocator, but it never offers to role 'banned'."""

        def add_framework(self, framework_id, roles, *args, **kwargs):
            super().add_framework(framework_id, [r for r in roles if r != "banned"] or ["*"], *args, **kwargs)
    '''
)


def test_a_users_own_allocator_class_is_loaded(cluster, tmp_path, monkeypatch):
    (tmp_path / "my_allocators.py").write_text(ALLOCATOR)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    cluster.start_master("--allocator", "my_allocators:NewestFirst")
    cluster.add_agent()
    flags = cluster.state()["flags"]
    assert flags["allocator"] == "my_allocators:NewestFirst"
    ok = corral("run", "--master", cluster.master.address, "--command", "true")
    assert ok.returncode == 0
    bad = corral("master", "--allocator", "my_allocators:Missing", "--port", "0")
    assert bad.returncode == 2 and "has no attribute 'Missing'" in bad.stderr
