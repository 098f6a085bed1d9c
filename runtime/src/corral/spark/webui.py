"""The dispatcher's web page: queued, running, retrying and finished drivers (like
MesosClusterDispatcher's UI), and a page per driver with its tasks and logs."""

from __future__ import annotations

import html
import time
from typing import Any, Iterable, Protocol

from aiohttp import web

from corral.spark import model
from corral.spark.rest import DispatcherShell, find_task, summary

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f4f5f7} .muted{color:#777} .state{font-weight:600}
.QUEUED,.RETRYING{color:#a15c00} .LAUNCHING,.RUNNING{color:#1d6fb8} .FINISHED{color:#217a3c}
.FAILED,.KILLED{color:#b3261e} pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:40em;font-size:.85em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _table(columns: list[str], rows: Iterable[list[str]]) -> str:
    rows = list(rows)
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: str, refresh: bool = True) -> web.Response:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    text = (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    return web.Response(text=text, content_type="text/html")


def _link(url: str | None, text: str) -> str:
    return f'<a href="{_e(url)}">{_e(text)}</a>' if url else ""


def _state(state: str) -> str:
    return f'<span class="state {_e(state)}">{_e(state)}</span>'


class DispatcherPage(DispatcherShell, Protocol):
    """What the page uses of the dispatcher daemon: the endpoints' view, and where it listens
    (the page reads task logs through the dispatcher's own log API)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...


def add_routes(app: web.Application, dispatcher: DispatcherPage) -> None:
    d = dispatcher

    async def index(request: web.Request) -> web.Response:
        assert d.state is not None
        subs = [summary(d, s) for s in d.state.submissions.values()]
        by_state: dict[str, list[dict[str, Any]]] = {}
        for s in subs:
            by_state.setdefault(s["state"], []).append(s)
        now = time.time()

        def driver(s: dict[str, Any]) -> str:
            return f'<a href="/driver/{_e(s["id"])}">{_e(s["id"])}</a>'

        queued = _table(
            ["Driver", "Name", "Submitted", "Mode", "Role", "Reason"],
            ([driver(s), _e(s["name"]), _when(s["submitted_at"]), _e(s["mode"]), _e(s["role"]), _e(s["reason"])]
             for s in by_state.get(model.QUEUED, [])),
        )
        running = _table(
            ["Driver", "Name", "State", "Started", "Mode", "Resources", "Workers", "Spark", "Logs"],
            ([driver(s), _e(s["name"]), _state(s["state"]) + (f'<br><span class="muted">{_e(s["reason"])}</span>' if s["reason"] else ""),
              _when(s["started_at"]), _e(s["mode"]),
              f'cpus {s["cpus"]:g}, mem {s["mem"]:g} MB, executor cores {s["cores"]}',
              f'{s["workers"]}' + (f' (wants {s["wanted_workers"]})' if s["mode"] == "fine" else ""),
              " ".join(filter(None, [_link(s["spark_master_ui"], "master UI"), _link(s["driver_ui"], "driver UI")])),
              f'<a href="/driver/{_e(s["id"])}#logs">stdout</a>']
             for s in by_state.get(model.LAUNCHING, []) + by_state.get(model.RUNNING, [])),
        )
        retrying = _table(
            ["Driver", "Name", "Retries", "Next retry", "Last failure"],
            ([driver(s), _e(s["name"]), _e(s["retries"]),
              f'in {max(0, (s["next_retry_at"] or now) - now):.0f}s', _e(d.state.submissions[s["id"]].last_failure)]
             for s in by_state.get(model.RETRYING, [])),
        )
        finished_subs = sorted((s for st in model.FINAL for s in by_state.get(st, [])),
                               key=lambda s: s["finished_at"] or 0, reverse=True)
        finished = _table(
            ["Driver", "Name", "State", "Finished", "Duration", "Retries", "Message"],
            ([driver(s), _e(s["name"]), _state(s["state"]), _when(s["finished_at"]), _duration(s["duration"]),
              _e(s["retries"]), _e(s["reason"])] for s in finished_subs),
        )
        status = (f'framework <b>{_e(d.framework_id or "-")}</b> on master {_e(d.master_address or d.flags["master"])} '
                  f'({"subscribed" if d.subscribed else "not subscribed"}); queue in {_e(d.store.describe() if d.store else "-")}; '
                  f'default mode {_e(d.options.default_mode)}; roles {_e(", ".join(d.options.roles))}')
        body = (f"<h1>Spark drivers on Corral</h1><p class='muted'>{status}</p>"
                f"<h2>Queued drivers ({len(by_state.get(model.QUEUED, []))})</h2>{queued}"
                f"<h2>Launched drivers ({len(by_state.get(model.LAUNCHING, [])) + len(by_state.get(model.RUNNING, []))})</h2>{running}"
                f"<h2>Retrying drivers ({len(by_state.get(model.RETRYING, []))})</h2>{retrying}"
                f"<h2>Finished drivers ({len(finished_subs)})</h2>{finished}")
        return _page("Spark dispatcher", body)

    async def driver_page(request: web.Request) -> web.Response:
        assert d.state is not None
        sid = request.match_info["id"]
        sub = d.state.submissions.get(sid)
        if sub is None:
            return _page("not found", f"<h1>No driver {_e(sid)}</h1><p><a href='/'>back</a></p>", refresh=False)
        s = summary(d, sub)
        props = _table(["Property", "Value"], ([_e(k), _e(v)] for k, v in sorted(sub.request.spark_properties.items())))
        tasks = _table(
            ["Task", "Kind", "Host", "cpus", "mem", "cores", "State", "Message", "Logs"],
            ([_e(t["task_id"]), _e(t["kind"]), _e(t["host"]), f'{t["cpus"]:g}', f'{t["mem"]:g}', _e(t["cores"] or ""),
              _e(t["state"]), _e(t["message"]),
              f'<a href="/driver/{_e(sid)}/log/{_e(t["attempt"])}.{_e(t["name"])}?stream=stdout">stdout</a> '
              f'<a href="/driver/{_e(sid)}/log/{_e(t["attempt"])}.{_e(t["name"])}?stream=stderr">stderr</a>']
             for t in s["tasks"]),
        )
        info = _table(["", ""], [
            ["State", _state(s["state"])], ["Reason / message", _e(s["reason"])], ["Name", _e(s["name"])],
            ["Resource", _e(s["resource"])], ["Main class", _e(s["main_class"] or "")],
            ["Mode", _e(s["mode"])], ["Role", _e(s["role"])], ["Submitted", _when(s["submitted_at"])],
            ["Attempt / retries", f'{s["attempt"]} / {s["retries"]}'], ["Spark application", _e(s["app_id"] or "")],
            ["Spark UIs", " ".join(filter(None, [_link(s["spark_master_ui"], "master"), _link(s["driver_ui"], "driver")]))],
        ])
        log = ""
        driver = sub.task(model.DRIVER)
        if driver is not None:
            text = await _tail(d, sid, driver.task_id, "stdout")
            log = f"<h2 id='logs'>Driver stdout (tail)</h2><pre>{_e(text)}</pre>"
        body = (f"<p><a href='/'>&larr; all drivers</a></p><h1>Driver {_e(sid)}</h1>{info}"
                f"<h2>Tasks</h2>{tasks}{log}<h2>Spark properties</h2>{props}")
        return _page(f"Driver {sid}", body)

    async def log_page(request: web.Request) -> web.Response:
        assert d.state is not None
        sid, name = request.match_info["id"], request.match_info["task"]
        sub = d.state.submissions.get(sid)
        task = find_task(sub, name) if sub else None
        if task is None:
            return _page("not found", f"<h1>No task {_e(name)} in {_e(sid)}</h1>", refresh=False)
        stream = request.query.get("stream", "stdout")
        text = await _tail(d, sid, task.task_id, stream, length=256 * 1024)
        return _page(f"{task.task_id} {stream}", f"<p><a href='/driver/{_e(sid)}'>&larr; {_e(sid)}</a></p>"
                                                  f"<h1>{_e(task.task_id)}: {_e(stream)}</h1><pre>{_e(text)}</pre>", refresh=False)

    app.router.add_get("/", index)
    app.router.add_get("/driver/{id}", driver_page)
    app.router.add_get("/driver/{id}/log/{task}", log_page)


async def _tail(d: DispatcherPage, sid: str, task_id: str, stream: str, length: int = 16 * 1024) -> str:
    """The last `length` bytes of a task's stdout or stderr, through the dispatcher's own log API."""
    import aiohttp

    base = f"http://127.0.0.1:{d.port}" if d.host in ("0.0.0.0", "::") else d.url
    url = f"{base}/api/v1/submissions/{sid}/logs/{task_id}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(url, params={"stream": stream, "offset": "-1"}) as response:
                if response.status != 200:
                    return f"({await response.text()})"
                size = (await response.json()).get("offset", 0)
            async with session.get(url, params={"stream": stream, "offset": str(max(0, size - length)), "length": str(length)}) as response:
                if response.status != 200:
                    return f"({await response.text()})"
                return (await response.json()).get("data", "")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return f"(logs unavailable: {exc})"
