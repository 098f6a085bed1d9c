"""Command tasks the agent runs without an executor process: which qualify, the states their
exits map to, and the real zygote that spawns them and outlives its agent to record their end."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from corral.agent.inline_executor import EXIT_FILE, read_exit_file, task_command
from corral.agent.model import Executor
from corral.executor.command import exit_outcome
from corral.resources import Resources


def executor_with(*tasks: dict) -> Executor:
    from corral.agent.model import AgentTask

    executor = Executor("F", "e", {}, "command", "c", "/nonexistent", Resources(), 0.0)
    for task in tasks:
        executor.tasks[task["task_id"]["value"]] = AgentTask(task, "F", "e")
    return executor


def task(command: dict, **extra) -> dict:
    return {"task_id": {"value": "t"}, "command": command, **extra}


def test_plain_commands_run_inline_and_images_and_unknown_users_need_the_executor():
    assert task_command(executor_with(task({"value": "echo hi"})), "").argv == ["/bin/sh", "-c", "echo hi"]
    direct = task_command(executor_with(task({"shell": False, "value": "/bin/echo", "arguments": ["echo", "a"]})), "")
    assert direct.argv == ["/bin/echo", "a"]
    image = task({"value": "true"}, container={"type": "DOCKER", "docker": {"image": "busybox"}})
    assert task_command(executor_with(image), "") is None
    assert task_command(executor_with(task({"shell": False})), "") is None  # the executor names what is missing
    if os.geteuid() == 0:
        assert task_command(executor_with(task({"value": "true", "user": "no-such-user-here"})), "") is None
        nobody = task_command(executor_with(task({"value": "true"})), "nobody")
        assert nobody.user is not None and nobody.user[0] != 0


def test_exit_outcomes_are_the_command_executors():
    assert exit_outcome(0, False) == ("TASK_FINISHED", "Command exited with status 0", None)
    assert exit_outcome(3, False) == ("TASK_FAILED", "Command exited with status 3", "REASON_COMMAND_EXECUTOR_FAILED")
    assert exit_outcome(-9, False) == ("TASK_FAILED", "Command terminated with signal SIGKILL", "REASON_COMMAND_EXECUTOR_FAILED")
    assert exit_outcome(-15, True) == ("TASK_KILLED", "Command terminated by a kill request", None)


async def _zygote_runs(tmp_path) -> None:
    """Launch through the real zygote, then close its stdin as a dying agent would."""
    from corral.agent.launcher import Launcher

    exits: list[tuple[int, int]] = []
    launcher = Launcher(on_exit=lambda pid, status: exits.append((pid, status)))
    await launcher.start()
    sandboxes = {}
    for name, command in (("quick", "echo out; echo err >&2; exit 3"), ("slow", "sleep 1; pwd")):
        sandbox = tmp_path / name
        sandbox.mkdir()
        sandboxes[name] = sandbox
        pid = await launcher.launch({
            "argv": ["/bin/sh", "-c", command], "env": {"PATH": os.defpath}, "cwd": str(sandbox), "cgroups": [],
            "stdout": str(sandbox / "stdout"), "stderr": str(sandbox / "stderr"), "exit_file": str(sandbox / EXIT_FILE),
        })
        if name == "slow":  # (the quick one may be gone already)
            assert os.getsid(pid) == pid  # its own session, so that a kill of its group reaches all it started
    deadline = time.monotonic() + 10
    while not exits and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [os.waitstatus_to_exitcode(status) for _, status in exits] == [3]
    assert read_exit_file(str(sandboxes["quick"])) is not None
    assert (sandboxes["quick"] / "stdout").read_text() == "out\n" and (sandboxes["quick"] / "stderr").read_text() == "err\n"
    zygote = launcher._process
    assert zygote is not None and zygote.stdin is not None
    launcher._reader.cancel()
    zygote.stdin.close()  # the agent is gone; "slow" still runs
    await asyncio.sleep(0.3)
    assert zygote.returncode is None, "the zygote must stay until its last inline task has ended"
    assert await asyncio.wait_for(zygote.wait(), 10) == 0
    assert os.waitstatus_to_exitcode(read_exit_file(str(sandboxes["slow"]))) == 0
    assert (sandboxes["slow"] / "stdout").read_text() == f"{sandboxes['slow']}\n"


def test_the_zygote_spawns_inline_tasks_records_their_exit_and_outlives_its_agent_for_them(tmp_path):
    asyncio.run(_zygote_runs(tmp_path))


def test_an_unwritten_exit_file_reads_as_unknown(tmp_path):
    assert read_exit_file(str(tmp_path)) is None
    (tmp_path / EXIT_FILE).write_text(f"{signal.SIGKILL}\n")
    assert read_exit_file(str(tmp_path)) == signal.SIGKILL
