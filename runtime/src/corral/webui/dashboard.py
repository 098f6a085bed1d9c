"""The dashboard, served by the master at `/`.

Static assets ship inside the package (`static/`; no CDN: clusters are often
offline).  The page talks to the master it was loaded from:

- the operator API's SUBSCRIBE stream (`POST /api/v1`) for tasks, agents and
  frameworks as they change, plus GET_AGENTS / GET_FRAMEWORKS, `/roles` and
  `/metrics/snapshot` every few seconds for usage, offers and shares;
- `/webui/leader` (open, CORS) to learn whether this master leads and who
  does: after a failover the page moves to the new leader;
- `/webui/sandbox/<framework>/<task>/{browse,read,download}`: a task's
  sandbox, proxied by the master to the task's agent (one origin for the
  browser, the agent's TLS and credentials handled here, `access_sandboxes`
  checked against the task's user); `.../statistics` the same way: its
  executor's entry of the agent's `/monitor/statistics`.
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from corral.http_stream import error_response, json_response
from corral.master.render import task_user
from corral.master.shell import MasterShell

logger = logging.getLogger(__name__)

STATIC = os.path.join(os.path.dirname(__file__), "static")
SANDBOX_CACHE_SECONDS = 30.0
AGENT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


class DashboardMaster(MasterShell, Protocol):
    """What the dashboard uses of the master daemon: its endpoints' view, plus where it is
    reached and the cluster's name for `/webui/leader`."""

    @property
    def advertised_ip(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def scheme(self) -> str: ...

    @property
    def flags(self) -> dict[str, Any]: ...


def add_routes(app: web.Application, master: DashboardMaster) -> None:
    ui = WebUI(master)
    app.router.add_get("/", ui.index)
    app.router.add_get("/webui/leader", ui.leader)
    app.router.add_get("/webui/sandbox/{framework_id}/{task_id}/{verb:browse|read|download|statistics}", ui.sandbox)
    app.router.add_static("/static/", STATIC, show_index=False, append_version=False)
    app.on_cleanup.append(ui.close)


class WebUI:
    def __init__(self, master: DashboardMaster) -> None:
        self.master = master
        self._session: aiohttp.ClientSession | None = None
        # (agent_id, framework_id, executor_id) -> (directory, when found)
        self._directories: dict[tuple[str, str, str], tuple[str, float]] = {}

    async def close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(os.path.join(STATIC, "index.html"), headers={"Cache-Control": "no-cache"})

    async def leader(self, request: web.Request) -> web.Response:
        """Who leads, as this master knows it; readable from any origin (no secrets)."""
        master = self.master
        leader = master.leader_info()
        masters = [f"{master.advertised_ip}:{master.port}"]
        if leader and leader.get("address"):
            address = leader["address"]
            masters.append(f"{address.get('ip') or address.get('hostname')}:{address['port']}")
        body = {
            "id": master.id or (master.state.id if master.state is not None else ""),
            "leading": bool(master.leading and master.state is not None),
            "leader": leader,
            "cluster": master.flags.get("cluster", ""),
            "scheme": master.scheme,
            "masters": sorted(set(masters)),
        }
        return json_response(body, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})

    # ------------------------------------------------------------------ sandboxes

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl_ctx = self.master.security.client_ssl()
            connector = aiohttp.TCPConnector(ssl=ssl_ctx) if ssl_ctx is not None else None
            self._session = aiohttp.ClientSession(timeout=AGENT_TIMEOUT, connector=connector)
        return self._session

    async def sandbox(self, request: web.Request) -> web.StreamResponse:
        state = self.master.state
        if state is None:
            redirect = self.master.redirect_if_not_leading(request)
            return redirect or error_response(503, "This master is not leading")
        framework_id = request.match_info["framework_id"]
        task_id = request.match_info["task_id"]
        verb = request.match_info["verb"]
        framework, task = _find_task(state, framework_id, task_id)
        if task is None:
            return error_response(404, f"Task {task_id} of framework {framework_id} is not known to the master")
        user = task_user(task.info, framework.info if framework is not None else {})
        denied = self.master.security.check(request, "access_sandboxes", user, "access sandboxes of user '{obj}'")
        if denied is not None:
            return denied
        agent = state.agents.get(task.agent_id)
        if agent is None:
            return error_response(404, f"Agent {task.agent_id} of task {task_id} is not connected; its sandbox is unavailable")
        relative = request.query.get("path", "")
        normalized = posixpath.normpath("/" + relative).lstrip("/")
        if relative and (".." in relative.split("/") or relative.startswith("/")):
            return error_response(400, "'path' must be relative to the sandbox, without '..'")
        base = f"{self.master.security.scheme}://{agent.info.get('ip') or agent.hostname}:{agent.port}"
        headers = self.master.security.outgoing_headers(request)
        executor_id = task.executor_id or task.task_id
        try:
            if verb == "statistics":
                return await self._statistics(base, headers, task.framework_id, executor_id, task_id)
            directory = await self._directory(base, headers, agent.id, task.framework_id, executor_id)
            if directory is None:
                return error_response(404, f"Agent {agent.id} has no sandbox for task {task_id}")
            path = posixpath.join(directory, normalized) if normalized and normalized != "." else directory
            query: dict[str, str] = {"path": path}
            if verb == "read":
                for key in ("offset", "length"):
                    if key in request.query:
                        query[key] = request.query[key]
            async with self._client().get(f"{base}/files/{verb}", params=query, headers=headers) as response:
                body = await response.read()
                if verb == "browse" and response.status == 200:
                    import json

                    entries = json.loads(body)
                    for entry in entries:
                        entry["relative_path"] = posixpath.relpath(entry["path"], directory)
                    return json_response(entries)
                passthrough = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "content-disposition")}
                return web.Response(body=body, status=response.status, headers=passthrough)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return error_response(502, f"Could not reach agent {agent.id} at {base}: {exc or type(exc).__name__}")

    async def _statistics(self, base: str, headers: dict[str, str], framework_id: str, executor_id: str,
                          task_id: str) -> web.Response:
        async with self._client().get(f"{base}/monitor/statistics", headers=headers) as response:
            if response.status != 200:
                raise aiohttp.ClientError(f"agent /monitor/statistics answered HTTP {response.status}")
            entries = await response.json()
        for entry in entries:
            if entry.get("framework_id") == framework_id and entry.get("executor_id") == executor_id:
                return json_response(entry.get("statistics", {}))
        return error_response(404, f"The executor of task {task_id} is not running")

    async def _directory(self, base: str, headers: dict[str, str], agent_id: str, framework_id: str, executor_id: str) -> str | None:
        key = (agent_id, framework_id, executor_id)
        cached = self._directories.get(key)
        if cached is not None and time.monotonic() - cached[1] < SANDBOX_CACHE_SECONDS:
            return cached[0]
        async with self._client().get(f"{base}/state", headers=headers) as response:
            if response.status != 200:
                raise aiohttp.ClientError(f"agent /state answered HTTP {response.status}")
            agent_state = await response.json()
        found = None
        for fw in agent_state.get("frameworks", []) + agent_state.get("completed_frameworks", []):
            if fw.get("id") != framework_id:
                continue
            for executor in fw.get("executors", []) + fw.get("completed_executors", []):
                if executor.get("id") == executor_id:
                    found = executor.get("directory")  # the latest run wins (executors first)
                    break
            if found:
                break
        if found:
            if len(self._directories) > 10000:
                self._directories.clear()
            self._directories[key] = (found, time.monotonic())
        return found


def _find_task(state: Any, framework_id: str, task_id: str) -> tuple[Any, Any]:
    framework = state.frameworks.get(framework_id)
    candidates = [framework] if framework is not None else []
    candidates += [f for f in state.completed_frameworks if f.id == framework_id]
    for fw in candidates:
        task = fw.tasks.get(task_id)
        if task is not None:
            return fw, task
        for done in reversed(fw.completed_tasks):
            if done.task_id == task_id:
                return fw, done
    return framework, None
