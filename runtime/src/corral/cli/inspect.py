"""`corral state|agents|frameworks|tasks|logs`: look at a running cluster."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from corral.attributes import state_text
from corral.cli import api
from corral.protocol import sandbox

def _leader(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--master may be a zk:// URL: ask ZooKeeper who leads."""
    from corral.leader.detector import resolve_master

    try:
        return resolve_master(value)
    except (ValueError, LookupError) as exc:  # a malformed --master, or no leader
        raise click.BadParameter(str(exc)) from None
    except Exception as exc:  # kazoo's connection errors
        raise click.BadParameter(f"cannot reach ZooKeeper for {value}: {exc or type(exc).__name__}") from None


_master_flag = click.option(
    "--master", envvar="CORRAL_MASTER", default="127.0.0.1:5050", show_default=True, callback=_leader,
    help="host:port of a master, or zk://host:port,.../path",
)


def master_option(func: Any) -> Any:
    """--master plus the connection options (credentials, token, TLS) of `cli.api`."""
    return api.connection_options(_master_flag(func))
json_option = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON")


def fetch(url: str, data: dict[str, Any] | None = None) -> Any:
    """GET (or POST JSON) with the command's credentials and TLS (see `cli.api`)."""
    return api.request(url, data)


def operator_call(master: str, kind: str) -> dict[str, Any]:
    return fetch(f"http://{master}/api/v1", {"type": kind})[kind.lower()]


def _res(r: dict[str, Any]) -> str:
    return f"{r.get('cpus', 0):g} cpus, {r.get('mem', 0):g} MB"


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    console = Console()
    if not console.is_terminal:  # piped: keep whole ids on one line
        console = Console(width=250)
    console.print(table)


def register(group: click.Group) -> None:
    @group.command("state")
    @master_option
    @json_option
    def state(master: str, as_json: bool) -> None:
        """Summary of the cluster: leader, resources, agents, frameworks, tasks."""
        data = fetch(f"http://{master}/state")
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        tasks = [t for f in data["frameworks"] for t in f["tasks"]]
        total = {"cpus": 0.0, "mem": 0.0}
        used = {"cpus": 0.0, "mem": 0.0}
        for agent in data["slaves"]:
            for k in total:
                total[k] += agent["resources"].get(k, 0)
                used[k] += agent["used_resources"].get(k, 0)
        click.echo(f"Leader:     {data['leader']}  (cluster {data.get('cluster') or '-'}, Mesos API {data['version']})")
        click.echo(f"Agents:     {data['activated_slaves']} active, {data['deactivated_slaves']} inactive, {data.get('unreachable_slaves', 0)} unreachable")
        click.echo(f"Resources:  {used['cpus']:g}/{total['cpus']:g} cpus, {used['mem']:g}/{total['mem']:g} MB used")
        click.echo(f"Frameworks: {len(data['frameworks'])} active, {len(data['completed_frameworks'])} completed")
        click.echo(f"Tasks:      {len(tasks)} running or staging")

    @group.command("agents")
    @master_option
    @json_option
    def agents(master: str, as_json: bool) -> None:
        """Agents with their resources and attributes."""
        data = fetch(f"http://{master}/state")
        if as_json:
            click.echo(json.dumps(data["slaves"], indent=2))
            return
        _table("Agents", ["ID", "Host", "Active", "Resources", "Used", "Attributes"], [
            [a["id"], f"{a['hostname']}:{a['port']}", a["active"], _res(a["resources"]), _res(a["used_resources"]),
             state_text(a["attributes"])]
            for a in data["slaves"]
        ])

    @group.command("frameworks")
    @master_option
    @json_option
    def frameworks(master: str, as_json: bool) -> None:
        """Frameworks with their roles and usage."""
        data = fetch(f"http://{master}/state")
        if as_json:
            click.echo(json.dumps(data["frameworks"], indent=2))
            return
        _table("Frameworks", ["ID", "Name", "Roles", "Connected", "Tasks", "Used", "Offered"], [
            [f["id"], f["name"], ",".join(f["roles"]), f["connected"], len(f["tasks"]), _res(f["used_resources"]),
             _res(f["offered_resources"])]
            for f in data["frameworks"]
        ])

    @group.command("tasks")
    @master_option
    @json_option
    @click.option("--all", "show_all", is_flag=True, help="Include completed tasks")
    def tasks(master: str, as_json: bool, show_all: bool) -> None:
        """Tasks with their state, agent and resources."""
        data = fetch(f"http://{master}/state")
        rows = []
        for f in data["frameworks"] + (data["completed_frameworks"] if show_all else []):
            for t in f["tasks"] + (f["completed_tasks"] if show_all else []):
                rows.append(t)
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        _table("Tasks", ["ID", "Name", "Framework", "Agent", "State", "Resources"], [
            [t["id"], t["name"], t["framework_id"], t["slave_id"], t["state"], _res(t["resources"])] for t in rows
        ])

    @group.command("logs")
    @master_option
    @click.argument("task_id")
    @click.option("--follow", "-f", is_flag=True, help="Keep printing new output")
    @click.option("--stderr", "stream", flag_value="stderr", help="Show stderr instead of stdout")
    @click.option("--stdout", "stream", flag_value="stdout", default=True, hidden=True)
    def logs(master: str, task_id: str, follow: bool, stream: str) -> None:
        """Print a task's stdout (or --stderr) from its sandbox."""
        agent_address, directory = locate_sandbox(master, task_id)
        path = f"{directory}/{stream}"
        offset = 0
        while True:
            query = urllib.parse.urlencode({"path": path, "offset": offset, "length": 1 << 20})
            chunk = fetch(f"http://{agent_address}/files/read?{query}")
            if chunk["data"]:
                sys.stdout.write(chunk["data"])
                sys.stdout.flush()
                offset += chunk.get("length", len(chunk["data"].encode()))
                continue
            if not follow or task_finished(master, task_id):
                if not follow:
                    return
                return
            time.sleep(0.5)


def locate_sandbox(master: str, task_id: str) -> tuple[str, str]:
    """(agent host:port, sandbox directory) of a task, current or completed."""
    try:
        place = sandbox.place_of(fetch(f"http://{master}/state"), task_id)
        return place.agent_address, sandbox.sandbox_in(fetch(f"http://{place.agent_address}/state"), place, task_id)
    except LookupError as exc:
        raise click.ClickException(f"{exc} (master {master})") from None


def task_finished(master: str, task_id: str) -> bool:
    state = fetch(f"http://{master}/state")
    for fw in state["frameworks"] + state["completed_frameworks"]:
        for task in fw["tasks"]:
            if task["id"] == task_id:
                return task["state"] in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE")
        for task in fw["completed_tasks"]:
            if task["id"] == task_id:
                return True
    return True
