"""`corral spark-dispatcher` and `corral spark submit|status|kill|list|logs`."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
from rich.console import Console
from rich.table import Table

FINAL = ("FINISHED", "FAILED", "KILLED")
dispatcher_option = click.option("--dispatcher", envvar="CORRAL_SPARK_DISPATCHER", default="127.0.0.1:7077",
                                 show_default=True, help="host:port of the Spark dispatcher")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the raw JSON")


def _base(dispatcher: str) -> str:
    dispatcher = dispatcher.strip().rstrip("/")
    for prefix in ("spark://", "http://"):
        dispatcher = dispatcher.removeprefix(prefix)
    return f"http://{dispatcher}"


def call(dispatcher: str, method: str, path: str, data: Any = None, raw: bool = False) -> Any:
    """One request to the dispatcher; errors become a ClickException with the server's message."""
    url = _base(dispatcher) + path
    request = urllib.request.Request(url, method=method, headers={"Content-Type": "application/json"})
    if data is not None:
        request.data = json.dumps(data).encode()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            message = json.loads(body).get("message") or json.loads(body).get("error")
        except (ValueError, AttributeError):
            message = None
        raise click.ClickException(message or f"{method} {url}: HTTP {exc.code}: {body.decode(errors='replace')[:500]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"cannot reach the Spark dispatcher at {_base(dispatcher)}: {getattr(exc, 'reason', exc)}") from None
    if raw:
        return body
    return json.loads(body) if body else None


def _kv(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"{what} '{item}' is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _resource(path: str) -> str:
    """Local files become absolute paths (the agents see the same file system here); URLs pass."""
    if "://" in path and not path.startswith("file://"):
        return path
    local = path.removeprefix("file://")
    if not os.path.exists(local):
        raise click.UsageError(f"application file '{path}' does not exist")
    return os.path.abspath(local)


def build_request(app: str, args: tuple[str, ...], name: str | None, main_class: str | None, confs: dict[str, str],
                  env: dict[str, str], py_files: tuple[str, ...]) -> dict[str, Any]:
    from corral.spark.protocol import PYTHON_RUNNER, server_spark_version

    resource = _resource(app)
    properties = dict(confs)
    properties.setdefault("spark.app.name", name or os.path.basename(app))
    files = [_resource(f) for f in py_files]
    if resource.lower().endswith(".py") and not main_class:
        # The form Spark's standalone REST server takes for Python applications.
        main_class = PYTHON_RUNNER
        app_args = [resource, ",".join(files), *args]
        if files:
            properties["spark.submit.pyFiles"] = ",".join(files)
    else:
        if not main_class:
            raise click.UsageError("--class is required for a JVM application (a jar)")
        app_args = list(args)
    return {
        "action": "CreateSubmissionRequest",
        "appResource": resource,
        "mainClass": main_class,
        "appArgs": app_args,
        "sparkProperties": properties,
        "environmentVariables": env,
        "clientSparkVersion": server_spark_version(),
    }


def wait_for(dispatcher: str, submission_id: str, timeout: float | None, quiet: bool = False) -> dict[str, Any]:
    """Poll an application until it ends, printing its state and why it waits whenever they change."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        status = call(dispatcher, "GET", f"/api/v1/submissions/{submission_id}")
        line = f"{submission_id}: {status['state']}" + (f" ({status['reason']})" if status.get("reason") else "")
        if line != last and not quiet:
            click.echo(line)
            last = line
        if status["state"] in FINAL:
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise click.ClickException(f"timed out after {timeout:g}s; {line}")
        time.sleep(1.0)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if c is None else str(c) for c in row])
    Console().print(table)


def register(group: click.Group) -> None:
    from corral.spark.flags import DISPATCHER_FLAGS

    from corral import config

    @group.command("spark-dispatcher")
    @config.click_options(DISPATCHER_FLAGS)
    def spark_dispatcher(config: str | None, **cli: Any) -> None:
        """Run the Spark dispatcher framework (REST submissions and web page on --port, default 7077)."""
        from corral.cli.daemons import resolve_flags, run_server, setup_logging
        from corral.spark.dispatcher import SparkDispatcher

        flags = resolve_flags(DISPATCHER_FLAGS, cli, config)
        setup_logging(flags["log_level"])
        run_server(SparkDispatcher(flags))

    @group.group("spark")
    def spark() -> None:
        """Submit and follow Spark applications through the Spark dispatcher."""

    @spark.command("submit", context_settings={"ignore_unknown_options": True})
    @dispatcher_option
    @click.option("--name", default=None, help="Application name (spark.app.name)")
    @click.option("--class", "main_class", default=None, help="Main class of a JVM application")
    @click.option("--conf", "confs", multiple=True, help="Spark property KEY=VALUE (repeatable)")
    @click.option("--py-files", "py_files", multiple=True, help="Extra .py/.zip files for a Python application")
    @click.option("--driver-memory", default=None, help="e.g. 1g")
    @click.option("--driver-cores", default=None)
    @click.option("--executor-memory", default=None, help="e.g. 2g")
    @click.option("--executor-cores", default=None)
    @click.option("--total-executor-cores", default=None, help="spark.cores.max")
    @click.option("--mode", type=click.Choice(["coarse", "fine"]), default=None, help="Scheduling mode (default: the dispatcher's)")
    @click.option("--role", default=None, help="Corral role for the application's resources")
    @click.option("--constraints", default=None, help="Agent attribute constraints, e.g. 'os:debian;rack:r1,r2'")
    @click.option("--supervise", is_flag=True, help="Retry the driver with backoff when it fails")
    @click.option("--env", "env", multiple=True, help="Environment variable KEY=VALUE of the driver (repeatable)")
    @click.option("--wait", is_flag=True, help="Follow the application until it ends; exit 0 if it FINISHED")
    @click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds")
    @click.option("--json", "as_json", is_flag=True, help="Print the dispatcher's JSON response")
    @click.argument("app")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def submit(dispatcher, name, main_class, confs, py_files, driver_memory, driver_cores, executor_memory,
               executor_cores, total_executor_cores, mode, role, constraints, supervise, env, wait, timeout, as_json, app,
               args) -> None:
        """Submit APP (a .py file or a jar with --class) with its ARGS."""
        if timeout is not None and not wait:
            raise click.UsageError("--timeout goes with --wait")
        properties = _kv(confs, "--conf")
        for key, value in (("spark.driver.memory", driver_memory), ("spark.driver.cores", driver_cores),
                           ("spark.executor.memory", executor_memory), ("spark.executor.cores", executor_cores),
                           ("spark.cores.max", total_executor_cores), ("spark.corral.mode", mode),
                           ("spark.corral.role", role), ("spark.mesos.constraints", constraints)):
            if value is not None:
                properties[key] = str(value)
        if supervise:
            properties["spark.driver.supervise"] = "true"
        request = build_request(app, args, name, main_class, properties, _kv(env, "--env"), py_files)
        response = call(dispatcher, "POST", "/v1/submissions/create", request)
        if as_json:
            click.echo(json.dumps(response, indent=2))
        if not response.get("success"):
            raise click.ClickException(response.get("message") or "the submission was refused")
        submission_id = response["submissionId"]
        if not as_json:
            click.echo(submission_id)
        if wait:
            status = wait_for(dispatcher, submission_id, timeout, quiet=as_json)
            sys.exit(0 if status["state"] == "FINISHED" else 1)

    @spark.command("status")
    @dispatcher_option
    @json_option
    @click.argument("submission_id")
    def status(dispatcher: str, as_json: bool, submission_id: str) -> None:
        """Show an application's state, why it waits, and its tasks."""
        data = call(dispatcher, "GET", f"/api/v1/submissions/{urllib.parse.quote(submission_id)}")
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        click.echo(f"{data['id']} ({data['name']}): {data['state']}")
        if data.get("reason"):
            click.echo(f"  {data['reason']}")
        click.echo(f"  mode {data['mode']}, role {data['role']}, attempt {data['attempt']}, retries {data['retries']}")
        if data.get("spark_master_ui"):
            click.echo(f"  Spark master UI {data['spark_master_ui']}, driver UI {data.get('driver_ui') or '-'}")
        if data["tasks"]:
            _table("tasks", ["task", "kind", "host", "cpus", "mem", "cores", "state", "message"],
                   [[t["task_id"], t["kind"], t["host"], f"{t['cpus']:g}", f"{t['mem']:g}", t["cores"] or "",
                     t["state"], t["message"]] for t in data["tasks"]])

    @spark.command("kill")
    @dispatcher_option
    @click.argument("submission_id")
    def kill(dispatcher: str, submission_id: str) -> None:
        """Kill an application (queued or running)."""
        response = call(dispatcher, "POST", f"/v1/submissions/kill/{urllib.parse.quote(submission_id)}")
        click.echo(response.get("message", ""))
        if not response.get("success"):
            sys.exit(1)

    @spark.command("list")
    @dispatcher_option
    @json_option
    @click.option("--all", "show_all", is_flag=True, help="Include finished applications")
    def list_(dispatcher: str, as_json: bool, show_all: bool) -> None:
        """List the dispatcher's applications."""
        data = call(dispatcher, "GET", "/api/v1/submissions")
        if not show_all:
            data = [s for s in data if s["state"] not in FINAL]
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        _table("Spark applications", ["id", "name", "state", "mode", "cpus", "mem", "workers", "reason"],
               [[s["id"], s["name"], s["state"], s["mode"], f"{s['cpus']:g}", f"{s['mem']:g}", s["workers"], s["reason"]]
                for s in data])

    @spark.command("logs")
    @dispatcher_option
    @click.option("--task", default="driver", show_default=True, help="driver, master, worker-N (or a full task id)")
    @click.option("--stderr", "stream", flag_value="stderr", help="Show stderr instead of stdout")
    @click.option("--stdout", "stream", flag_value="stdout", default=True, hidden=True)
    @click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the application ends")
    @click.argument("submission_id")
    def logs(dispatcher: str, task: str, stream: str, follow: bool, submission_id: str) -> None:
        """Print the stdout (or --stderr) of one of an application's tasks."""
        offset = 0
        sid = urllib.parse.quote(submission_id)
        while True:
            query = urllib.parse.urlencode({"stream": stream, "offset": offset, "length": 1 << 20})
            chunk = call(dispatcher, "GET", f"/api/v1/submissions/{sid}/logs/{urllib.parse.quote(task)}?{query}")
            if chunk.get("data"):
                sys.stdout.write(chunk["data"])
                sys.stdout.flush()
                offset += chunk.get("length", len(chunk["data"].encode()))
                continue
            if not follow or call(dispatcher, "GET", f"/api/v1/submissions/{sid}")["state"] in FINAL:
                return
            time.sleep(1.0)

    @spark.command("perf", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                   add_help_option=False)
    @click.pass_context
    def perf(ctx: click.Context) -> None:
        """Run the spark-perf K-means stage through the dispatcher and write its report (see --help)."""
        from corral.sparkperf.stage import main as perf_main

        sys.exit(perf_main(list(ctx.args)))
