"""`corral run`: launch a command as a task and follow it (like mesos-execute)."""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from typing import Any

import click

from corral.cli import api
from corral.cli.waiting import allocator_summary, why_waiting
from corral.protocol.master_info import address_of
from corral.protocol.states import TERMINAL_STATES
from corral.resources import ResourceError, Resources, safe_resources
from corral.scheduler import SchedulerClient, SchedulerError

PATIENCE = 3.0  # seconds without a launch before saying why nothing fits


def _task(task_id: str, agent_id: str, name: str, command: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": resources,
        "command": command,
    }


async def agent_totals(conn: api.Connection, master: str) -> list[Resources] | None:
    """The registered agents' total resources (GET_AGENTS), or None when the master does not tell."""
    try:
        answer = await asyncio.to_thread(api.operator_call, master, "GET_AGENTS", None, conn)
    except click.ClickException:
        return None
    return [safe_resources(agent.get("total_resources")) for agent in answer.get("agents", [])]


async def allocator_reasons(conn: api.Connection, master: str, framework_id: str) -> str:
    """The allocator's why-not reasons for the framework (GET_WHY_NOT_OFFERED), or "" when it does not tell."""
    try:
        answer = await asyncio.to_thread(api.operator_call, master, "GET_WHY_NOT_OFFERED",
                                         {"get_why_not_offered": {"framework_id": {"value": framework_id}}}, conn)
    except click.ClickException:
        return ""
    return allocator_summary(answer or {})


async def run_tasks(master: str, name: str, command: dict[str, Any], resources: Resources, role: str,
                    count: int, timeout: float | None, quiet: bool) -> int:
    info = {"user": getpass.getuser(), "name": name, "roles": [role], "capabilities": [{"type": "MULTI_ROLE"}],
            "failover_timeout": 0}
    prefix = f"{name}-{int(time.time() * 1000) % 10**9}"
    pending = [f"{prefix}-{i}" if count > 1 else prefix for i in range(count)]
    final: dict[str, str] = {}
    failed = False
    offered_by: dict[str, Resources] = {}  # the latest offer of each agent
    progress = time.monotonic()  # of the last launch

    def say(text: str) -> None:
        if not quiet:
            click.echo(text)

    conn = api.current()
    async with SchedulerClient(master, info, reconnect=False, principal=conn.principal, secret=conn.secret,
                               token=conn.token, ssl_context=conn.ssl_context()) as client:
        async def why() -> str:
            leader = address_of(client.master_info) if client.master_info else master
            line = why_waiting(resources, list(offered_by.values()), await agent_totals(conn, leader))
            extra = await allocator_reasons(conn, leader, client.framework_id) if client.framework_id else ""
            return f"{line}; {extra}" if extra else line

        async def explain() -> None:
            said = None
            while True:
                await asyncio.sleep(PATIENCE)
                if client.framework_id and pending and time.monotonic() - progress >= PATIENCE:
                    reason = await why()
                    if reason != said:
                        say(reason)
                        said = reason

        async def follow() -> None:
            nonlocal failed, progress
            async for event in client.events():
                kind = event["type"]
                if kind == "SUBSCRIBED":
                    say(f"Subscribed as framework {client.framework_id}")
                elif kind == "OFFERS":
                    for offer in event["offers"]["offers"]:
                        offered = Resources.from_json(offer["resources"])
                        offered_by[offer["agent_id"]["value"]] = offered
                        tasks = []
                        while pending and offered.contains(resources):
                            tasks.append(_task(pending.pop(0), offer["agent_id"]["value"], name, command,
                                               resources.to_json(allocation_role=offer.get("allocation_info", {}).get("role"))))
                            offered = offered - resources
                        if tasks:
                            progress = time.monotonic()
                            await client.accept([offer["id"]], tasks, refuse_seconds=1)
                            for t in tasks:
                                say(f"Launching task {t['task_id']['value']} on {offer['hostname']}")
                        else:
                            await client.decline([offer["id"]], refuse_seconds=1 if pending else 3600)
                elif kind == "UPDATE":
                    status = event["update"]["status"]
                    task_id, state = status["task_id"]["value"], status["state"]
                    message = f": {status['message']}" if status.get("message") else ""
                    say(f"Task {task_id} is {state}{message}")
                    if state in TERMINAL_STATES:
                        final[task_id] = state
                        failed = failed or state != "TASK_FINISHED"
                        if len(final) == count:
                            await client.teardown()
                            return
                elif kind == "ERROR":
                    raise SchedulerError(event["error"]["message"])

        explainer = asyncio.create_task(explain())
        try:
            await asyncio.wait_for(follow(), timeout)
        except asyncio.TimeoutError:
            reason = f". {await why()}" if pending else ""
            click.echo(f"error: timed out after {timeout:g}s; {count - len(final)} task(s) not finished{reason}", err=True)
            try:
                await client.teardown()
            except SchedulerError:
                pass
            return 3
        finally:
            explainer.cancel()
    return 1 if failed else 0


def register(group: click.Group) -> None:
    @group.command("run", context_settings={"ignore_unknown_options": True})
    @click.option("--master", envvar="CORRAL_MASTER", default="127.0.0.1:5050", show_default=True)
    @api.connection_options
    @click.option("--name", default="corral-run", show_default=True, help="Framework and task name")
    @click.option("--command", "shell_command", default=None, help="Shell command to run")
    @click.option("--resources", default="cpus:0.1;mem:32", show_default=True)
    @click.option("--role", default="*", show_default=True)
    @click.option("--env", "env", multiple=True, help="KEY=VALUE for the task (repeatable)")
    @click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100000), help="Number of copies")
    @click.option("--timeout", default=None, type=float, help="Give up after this many seconds")
    @click.option("--quiet", "-q", is_flag=True)
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def run(master, name, shell_command, resources, role, env, count, timeout, quiet, argv) -> None:
        """Launch a command as task(s), print its status updates, exit 0 if it finished.

        Give a shell command with --command, or a program and its arguments after --.
        """
        if bool(shell_command) == bool(argv):
            raise click.UsageError("give exactly one of --command 'shell text' or -- PROGRAM ARGS...")
        try:
            wanted = Resources.parse(resources)
        except ResourceError as exc:
            raise click.UsageError(str(exc)) from None
        command: dict[str, Any] = {"shell": True, "value": shell_command} if shell_command else {
            "shell": False, "value": argv[0], "arguments": list(argv)}
        variables = []
        for item in env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise click.UsageError(f"--env '{item}' is not KEY=VALUE")
            variables.append({"name": key, "value": value})
        if variables:
            command["environment"] = {"variables": variables}
        try:
            code = asyncio.run(run_tasks(master, name, command, wanted, role, count, timeout, quiet))
        except SchedulerError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"cannot reach the master at {master}: {exc}") from None
        sys.exit(code)


