"""`task exec`: a command run inside a running task's container through the agent's v1 API, with the
calls and the order of the Mesos CLI (support/task_exec.py), for a pymesos task on its defaults.
The agent runs with --isolation cgroups: the command must land in the task's own cgroups."""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
import pytest

from support import task_exec
from support.cluster import http_error, http_json, sandbox_of, wait_for
from support.pymesos_harness import RecordingScheduler, command_task, pymesos_framework

pytestmark = pytest.mark.integration


@pytest.fixture
def running_task(cluster):
    """A master, an agent with cgroups and a pymesos task that sleeps: (agent, container id, sandbox, scheduler)."""
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512", "--isolation", "cgroups")
    sched = RecordingScheduler()
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 64, lambda o: command_task("sleeper", o, "sleep 120", mem=64), driver)
        sched.wait_state("sleeper", "TASK_RUNNING", timeout=60)
        agent, container_id = task_exec.task_container(cluster.master.address, "sleeper")
        yield agent, container_id, sandbox_of(cluster, "sleeper")[1], sched, driver


def executor_cgroups(agent: str, container_id: dict) -> set[str]:
    [container] = [c for c in http_json(f"http://{agent}/api/v1", {"type": "GET_CONTAINERS"})["get_containers"]["containers"]
                   if c["container_id"] == container_id]
    with open(f"/proc/{container['container_status']['executor_pid']}/cgroup") as fh:
        return {line.strip() for line in fh if ":memory:" in line or ":cpu," in line or line.startswith("0::")}


def test_exec_runs_in_the_task_s_cgroups_and_sandbox_and_reports_its_exit(running_task):
    agent, container_id, sandbox, *_ = running_task
    script = "cat /proc/self/cgroup; pwd; echo \"sandbox=$MESOS_SANDBOX\"; echo oops >&2; exit 3"
    session = asyncio.run(task_exec.run(agent, container_id, ["/bin/sh", "-c", script]))
    out = session.stdout.decode()
    assert executor_cgroups(agent, container_id) <= set(out.splitlines()), out
    assert os.path.realpath(sandbox) in out.splitlines() and f"sandbox={sandbox}" in out, out
    assert session.stderr == b"oops\n" and os.WEXITSTATUS(session.exit_status) == 3


def test_exec_with_stdin_and_with_a_terminal(running_task):
    agent, container_id, *_ = running_task
    piped = asyncio.run(task_exec.run(agent, container_id, ["cat"], stdin=b"hello\n"))
    assert (piped.stdout, piped.exit_status) == (b"hello\n", 0)
    window = {"window_size": {"rows": 24, "columns": 91}}
    on_tty = asyncio.run(task_exec.run(agent, container_id, ["/bin/sh", "-c", "tty; stty size"], tty=window))
    assert b"/dev/pts/" in on_tty.stdout and b"24 91" in on_tty.stdout and on_tty.exit_status == 0, on_tty
    typed = asyncio.run(task_exec.run(agent, container_id, ["cat"], stdin=b"typed\n", tty={}))
    assert typed.stdout.count(b"typed") == 2 and typed.exit_status == 0, typed  # (the terminal's echo, then cat's)


def test_one_input_at_a_time_kill_and_a_vanished_client_end_the_session(running_task):
    agent, container_id, *_ = running_task

    async def scenario():
        async with aiohttp.ClientSession() as http:
            first = task_exec.nested_in(agent, container_id)
            response = await task_exec.launch(http, first, ["cat"])
            release = asyncio.Event()

            async def held():
                await release.wait()
                yield task_exec.stdin_record(b"")

            holding = asyncio.ensure_future(task_exec.attach_input(http, first, held()))
            await asyncio.sleep(0.5)
            second = await task_exec.attach_input(http, first, [])
            release.set()
            assert await holding == (200, "")
            await task_exec.read_output(first, response)
            assert await task_exec.wait(http, first) == 0

            killed = task_exec.nested_in(agent, container_id)
            response = await task_exec.launch(http, killed, ["sleep", "100"])
            kill = {"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {"container_id": killed.container_id}}
            async with http.post(killed.url, data=json.dumps(kill), headers={"Content-Type": "application/json"}) as answer:
                assert answer.status == 200
            await task_exec.read_output(killed, response)
            assert await task_exec.wait(http, killed) == 9  # (SIGKILL, as a wait status)

            abandoned = task_exec.nested_in(agent, container_id)
            response = await task_exec.launch(http, abandoned, ["sleep", "100"])
            response.close()  # the client goes away: the session's process goes with it
            assert await asyncio.wait_for(task_exec.wait(http, abandoned), 10) == 9
            return second

    status, text = asyncio.run(scenario())
    assert status == 409 and "already has its input attached" in text


def test_bad_calls_get_errors_that_name_the_problem(running_task):
    agent, container_id, *_ = running_task
    url = f"http://{agent}/api/v1"

    def launch(container, command=None):
        body = {"container_id": container, "command": command or {"value": "true"}}
        return http_error(url, {"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": body},
                          task_exec.STREAM)

    assert launch({"value": "x", "parent": {"value": "nope"}}) == (
        404, "LAUNCH_NESTED_CONTAINER_SESSION: Container 'nope' is not a running container of this agent")
    assert launch({"value": "x"})[1].endswith("'container_id' must name its parent: a session runs nested in a running container")
    assert "'command.value' (the program) is required" in launch({"value": "x", "parent": container_id}, {"shell": False})[1]
    assert launch({"value": container_id["value"], "parent": container_id})[0] == 409
    code, text = http_error(url, {"type": "WAIT_CONTAINER", "wait_container": {"container_id": container_id}})
    assert code == 404 and "an executor's container" in text
    code, text = http_error(url, {"type": "LAUNCH_NESTED_CONTAINER"})
    assert code == 400 and "'LAUNCH_NESTED_CONTAINER' is not supported" in text and "ATTACH_CONTAINER_INPUT" in text


def test_a_task_that_ends_ends_its_sessions(running_task):
    agent, container_id, _, sched, driver = running_task

    async def scenario():
        async with aiohttp.ClientSession() as http:
            session = task_exec.nested_in(agent, container_id)
            response = await task_exec.launch(http, session, ["sleep", "100"])
            reading = asyncio.ensure_future(task_exec.read_output(session, response))
            for _ in range(6):  # (a kill is best effort in Mesos: frameworks send it again)
                driver.killTask({"value": "sleeper"})
                done, _ = await asyncio.wait([reading], timeout=5)
                if done:
                    break
            await asyncio.wait_for(reading, 1)
            return await task_exec.wait(http, session)

    assert asyncio.run(scenario()) == 9
    assert sched.wait_terminal("sleeper")["state"] == "TASK_KILLED"


def test_exec_into_a_task_in_an_image_sees_the_image(cluster, node_image):
    cluster.start_master()
    cluster.add_agent("cpus:1;mem:512", "--containerizers", "mesos,docker")
    sched = RecordingScheduler()
    image = {"type": "DOCKER", "docker": {"image": node_image, "network": "HOST"}}
    with pymesos_framework(cluster.master.address, sched) as driver:
        sched.submit(0.1, 64, lambda o: command_task("imaged", o, "sleep 120", mem=64, container=image), driver)
        sched.wait_state("imaged", "TASK_RUNNING", timeout=120)
        agent, container_id = task_exec.task_container(cluster.master.address, "imaged")
        look = "test -x /usr/local/sbin/corral-configdrive && echo image-file-seen; ls $MESOS_SANDBOX"
        session = wait_for(lambda: _seen(asyncio.run(task_exec.run(agent, container_id, ["/bin/sh", "-c", look]))),
                           timeout=60, what="the image's container to run the command")
        assert b"stdout" in session.stdout.split() and session.exit_status == 0, session


def _seen(session):
    return session if b"image-file-seen" in session.stdout else None
