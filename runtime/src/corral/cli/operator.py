"""`corral roles|weights|metrics|flags|teardown|agent-gone|events|token`: the operator API from a shell.

All take `--master` and the connection options of `cli.api` (credentials, token, TLS).

    corral roles                        roles with weights, dominant shares and allocations
    corral weights [ROLE=WEIGHT ...]    show weights, or set them (UPDATE_WEIGHTS)
    corral metrics [PREFIX] [--prometheus]
    corral flags                        the master's flags (secrets masked)
    corral teardown FRAMEWORK_ID        end a framework and its tasks
    corral agent-gone AGENT_ID          mark an agent gone for good (MARK_AGENT_GONE)
    corral events [--count N] [--json]  follow the operator event stream (SUBSCRIBE)
    corral token --principal P --jwt-secret-key FILE [--ttl 1h]   mint an operator bearer token
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse
from typing import Any

import click

from corral.cli import api
from corral.cli.inspect import _table, json_option, master_option


def _scalars(resources: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in resources or []:
        if "scalar" in r:
            out[r["name"]] = out.get(r["name"], 0.0) + r["scalar"]["value"]
    return out


def register(group: click.Group) -> None:
    @group.command("roles")
    @master_option
    @json_option
    def roles(master: str, as_json: bool) -> None:
        """Roles with their weight, dominant share, frameworks and allocated resources."""
        listed = api.operator_call(master, "GET_ROLES")["roles"]
        shares = {r["name"]: r.get("share", 0.0) for r in api.request(api.current().url(master, "/roles")).get("roles", [])}
        if as_json:
            click.echo(json.dumps([{**r, "share": shares.get(r["name"], 0.0)} for r in listed], indent=2))
            return
        _table("Roles", ["Role", "Weight", "Dominant share", "Frameworks", "CPUs", "Mem (MB)"], [
            [r["name"], f"{r['weight']:g}", f"{100 * shares.get(r['name'], 0.0):.1f}%", len(r.get("frameworks", [])),
             f"{_scalars(r.get('resources', [])).get('cpus', 0):g}", f"{_scalars(r.get('resources', [])).get('mem', 0):g}"]
            for r in listed
        ])

    @group.command("weights")
    @master_option
    @click.argument("assignments", nargs=-1, metavar="[ROLE=WEIGHT]...")
    def weights(master: str, assignments: tuple[str, ...]) -> None:
        """Show role weights, or set them: `corral weights ads=2 dev=0.5`."""
        if assignments:
            infos = []
            for item in assignments:
                role, sep, value = item.partition("=")
                try:
                    weight = float(value)
                except ValueError:
                    weight = -1.0
                if not sep or not role or weight <= 0:
                    raise click.BadParameter(f"'{item}' is not ROLE=WEIGHT with a weight > 0")
                infos.append({"role": role, "weight": weight})
            api.operator_call(master, "UPDATE_WEIGHTS", {"update_weights": {"weight_infos": infos}})
        shown = api.operator_call(master, "GET_WEIGHTS").get("weight_infos", [])
        _table("Weights", ["Role", "Weight"], [[w["role"], f"{w['weight']:g}"] for w in shown])

    @group.command("metrics")
    @master_option
    @click.argument("prefix", required=False, default="")
    @click.option("--prometheus", is_flag=True, help="Print the Prometheus text format of /metrics")
    @json_option
    def metrics(master: str, prefix: str, prometheus: bool, as_json: bool) -> None:
        """The master's metrics (Mesos names), optionally only those starting with PREFIX."""
        if prometheus:
            sys.stdout.write(api.request(api.current().url(master, "/metrics"), raw=True).decode())
            return
        values = {m["name"]: m["value"] for m in api.operator_call(master, "GET_METRICS")["metrics"] if m["name"].startswith(prefix)}
        if as_json:
            click.echo(json.dumps(values, indent=2, sort_keys=True))
            return
        width = max((len(k) for k in values), default=0)
        for name in sorted(values):
            click.echo(f"{name:<{width}}  {values[name]:g}")

    @group.command("flags")
    @master_option
    def flags(master: str) -> None:
        """The master's flags (secret values are masked; file flags show paths, not contents)."""
        for flag in api.operator_call(master, "GET_FLAGS")["flags"]:
            click.echo(f"{flag['name']}={flag['value']}")

    @group.command("teardown")
    @master_option
    @click.argument("framework_id")
    def teardown(master: str, framework_id: str) -> None:
        """Tear down a framework: its tasks are killed and it may not come back."""
        api.operator_call(master, "TEARDOWN", {"teardown": {"framework_id": {"value": framework_id}}})
        click.echo(f"Framework {framework_id} torn down")

    @group.command("agent-gone")
    @master_option
    @click.argument("agent_id")
    @click.confirmation_option(prompt="Its tasks are reported gone and it may never re-register. Continue?")
    def agent_gone(master: str, agent_id: str) -> None:
        """Mark an agent gone for good (decommissioned): MARK_AGENT_GONE."""
        api.operator_call(master, "MARK_AGENT_GONE", {"mark_agent_gone": {"agent_id": {"value": agent_id}}})
        click.echo(f"Agent {agent_id} marked gone")

    @group.command("events")
    @master_option
    @click.option("--count", type=int, default=0, help="Stop after this many events (0: follow until interrupted)")
    @click.option("--timeout", type=float, default=0.0, help="Stop after this many seconds (0: no limit)")
    @click.option("--heartbeats", is_flag=True, help="Also print HEARTBEAT events")
    @json_option
    def events(master: str, count: int, timeout: float, heartbeats: bool, as_json: bool) -> None:
        """Follow the operator event stream (SUBSCRIBE): tasks, agents and frameworks as they change."""
        seen = 0
        for event in subscribe(master, timeout):
            kind = event.get("type")
            if kind == "HEARTBEAT" and not heartbeats:
                continue
            click.echo(json.dumps(event) if as_json else describe(event))
            seen += 1
            if count and seen >= count:
                return

    register_token(group)


def subscribe(master: str, timeout: float = 0.0):
    """Events of the operator SUBSCRIBE stream, following a standby's 307 once."""
    from corral.protocol.recordio import Decoder

    conn_opts = api.current()
    address = master.removeprefix("http://").removeprefix("https://").rstrip("/")
    deadline = time.monotonic() + timeout if timeout else None
    for _ in range(3):
        host, _, port = address.rpartition(":")
        if conn_opts.scheme == "https":
            conn = http.client.HTTPSConnection(host, int(port), timeout=60, context=conn_opts.ssl_context())
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Content-Type": "application/json", "Accept": "application/json", **conn_opts.headers()}
        try:
            conn.request("POST", "/api/v1", json.dumps({"type": "SUBSCRIBE"}), headers)
            response = conn.getresponse()
        except OSError as exc:
            raise click.ClickException(f"cannot reach {address}: {exc}") from None
        if response.status == 307:
            location = response.getheader("Location", "")
            address = urllib.parse.urlsplit(location if "//" in location else "//" + location).netloc or address
            conn.close()
            continue
        if response.status != 200:
            raise click.ClickException(f"SUBSCRIBE: HTTP {response.status}: {response.read().decode(errors='replace')[:300]}")
        decoder = Decoder()
        try:
            while deadline is None or time.monotonic() < deadline:
                if deadline is not None and conn.sock is not None:
                    conn.sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    data = response.read1(65536)
                except TimeoutError:
                    return
                if not data:
                    return
                for record in decoder.feed(data):
                    yield json.loads(record)
        finally:
            conn.close()
        return
    raise click.ClickException("too many redirects while looking for the leading master")


def describe(event: dict[str, Any]) -> str:
    kind = event.get("type", "?")
    body = event.get(kind.lower(), {})
    if kind == "SUBSCRIBED":
        state = body.get("get_state", {})
        return (f"SUBSCRIBED  {len(state.get('get_agents', {}).get('agents', []))} agents, "
                f"{len(state.get('get_frameworks', {}).get('frameworks', []))} frameworks, "
                f"{len(state.get('get_tasks', {}).get('tasks', []))} running tasks")
    if kind == "TASK_ADDED":
        task = body["task"]
        return f"TASK_ADDED  {task['task_id']['value']} ({task.get('name', '')}) on {task.get('agent_id', {}).get('value', '?')}"
    if kind == "TASK_UPDATED":
        status = body.get("status", {})
        return f"TASK_UPDATED  {status.get('task_id', {}).get('value', '?')} {body.get('state')}" + (
            f": {status['message']}" if status.get("message") else "")
    if kind in ("FRAMEWORK_ADDED", "FRAMEWORK_UPDATED"):
        info = body["framework"]["framework_info"]
        return f"{kind}  {info.get('id', {}).get('value', '?')} ({info.get('name', '')})"
    if kind == "FRAMEWORK_REMOVED":
        info = body["framework_info"]
        return f"FRAMEWORK_REMOVED  {info.get('id', {}).get('value', '?')} ({info.get('name', '')})"
    if kind == "AGENT_ADDED":
        info = body["agent"]["agent_info"]
        return f"AGENT_ADDED  {info.get('id', {}).get('value', '?')} at {info.get('hostname')}:{info.get('port')}"
    if kind == "AGENT_REMOVED":
        return f"AGENT_REMOVED  {body['agent_id']['value']}"
    return kind


def register_token(group: click.Group) -> None:
    @group.command("token")
    @click.option("--principal", required=True, help="Whom the token authenticates")
    @click.option("--jwt-secret-key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="The master's --jwt_secret_key file")
    @click.option("--ttl", default="1h", show_default=True, help="Lifetime, e.g. 30m, 12h, 7days")
    def token(principal: str, key_file: str, ttl: str) -> None:
        """Mint an operator bearer token (an HS256 JWT the master accepts with --jwt_secret_key)."""
        from corral.config import as_duration
        from corral.security import jwt

        try:
            seconds = as_duration(ttl)
            key = jwt.read_key(key_file)
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc)) from None
        now = int(time.time())
        click.echo(jwt.encode({"sub": principal, "iat": now, "exp": now + int(seconds)}, key))
