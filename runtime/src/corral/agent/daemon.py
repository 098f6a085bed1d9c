"""`corral agent`: runs executors for the master and reports their tasks.

The daemon is the shell around `AgentState` (`state.py`), which decides
everything: it dials out to the master (`MasterLink`) and feeds the master's
events to the state, starts executors in per-executor sandboxes
(`Containerizer`: the zygote `Launcher` and an isolator), serves them the v1
executor API (`executor_api.py`), writes checkpoints (`Checkpointer`) and
runs the state's timers.  Sandbox files are served under `/files`, the
agent's state under `/state` (`views.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from typing import Any

from aiohttp import web

from corral import MESOS_API_VERSION, __version__, config
from corral.agent import executor_api, files, isolators, operator_api, views, volumes
from corral.agent import resources as agent_resources
from corral.agent.checkpoint import Checkpointer
from corral.agent.isolators.devices import gpu_allocator
from corral.agent.containerizer import Containerizer
from corral.agent.flags import AGENT_FLAGS
from corral.agent.master_link import MasterLink
from corral.agent.model import Executor
from corral.agent.state import AgentOptions, AgentState
from corral.http_stream import json_response
from corral.resources import ResourceError, Resources, with_checkpointed
from corral.security.agent import AgentSecurity
from corral.server import Server, StartupError

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.05


class Agent(Server):
    name = "corral agent"

    def __init__(self, flags: dict[str, Any]) -> None:
        """`flags`: the parsed values of AGENT_FLAGS (`config.resolve`)."""
        super().__init__(flags["ip"], flags["port"])
        self.flags = flags
        self.work_dir = os.path.abspath(flags["work_dir"])
        self.checkpoint = Checkpointer(os.path.join(self.work_dir, "meta"))
        self.containers = Containerizer(self)
        self.master = MasterLink(self)
        options = AgentOptions(
            hostname=flags["hostname"] or flags["ip"],
            ip=flags["ip"],
            port=self.port,
            work_dir=self.work_dir,
            attributes=flags["attributes"].to_json(),
            executor_registration_timeout=flags["executor_registration_timeout"],
            executor_reregistration_timeout=flags["executor_reregistration_timeout"],
            executor_shutdown_grace_period=flags["executor_shutdown_grace_period"],
            status_update_retry_interval=flags["status_update_retry_interval"],
            containerizers=flags["containerizers"],
        )
        self.state = AgentState(options, master=self.master, containers=self.containers, checkpoint=self.checkpoint)
        self.start_time = time.time()
        executor_api.add_routes(self.app, self.state)
        files.add_routes(self.app, self.work_dir)
        self.security = AgentSecurity(self)
        self.app.router.add_get("/state", self._state)
        self.app.router.add_get("/slave(1)/state", self._state)
        self.app.router.add_get("/state.json", self._state)
        self.app.router.add_get("/monitor/statistics", self._statistics)
        self.app.router.add_get("/monitor/statistics.json", self._statistics)
        self.app.router.add_get("/health", lambda r: web.Response(status=200))
        self.app.router.add_get("/version", lambda r: json_response({"version": MESOS_API_VERSION, "corral_version": __version__}))
        self.app.router.add_get("/flags", lambda r: json_response({"flags": self.public_flags()}))
        operator_api.add_routes(self.app, self, self.containers.sessions)

    # ------------------------------------------------------------------ lifecycle

    async def start_unsafe(self) -> None:
        try:
            total = agent_resources.total_resources(self.flags["resources"], self.work_dir)
        except OSError as exc:  # detecting the disk of work_dir
            raise StartupError(f"--work_dir: {exc}") from None
        try:
            checkpointed = Resources.from_json(self.checkpoint.load_resources(), "checkpointed resources")
        except (RuntimeError, ResourceError) as exc:
            raise StartupError(str(exc)) from None
        self.state.options.total = with_checkpointed(total, checkpointed)
        # (a volume whose directory went missing is made again, empty, as Mesos's agent does)
        self.checkpoint.volumes(volumes.changes(self.work_dir, Resources(), checkpointed)[0], [])
        try:
            isolation = self.flags["isolation"]
            self.containers.isolator = isolators.detect(
                isolation.kind, self.flags["cgroups_enable_cfs"],
                name="agent-" + hashlib.sha1(self.work_dir.encode()).hexdigest()[:10],
                cpus=self.state.options.total.scalar("cpus"), pids_max=self.flags["cgroups_pids_max"],
                devices=isolation.devices,
                gpus=gpu_allocator(self.state.options.total.scalar("gpus"), self.flags["nvidia_gpu_devices"]) if isolation.gpu else None,
            )
            if self.flags["nvidia_gpu_devices"] is not None and not isolation.gpu:
                raise RuntimeError("--nvidia_gpu_devices: the GPUs are isolated by gpu/nvidia, which --isolation does not name")
        except (RuntimeError, ValueError) as exc:
            raise StartupError(str(exc)) from None
        os.makedirs(self.work_dir, exist_ok=True)
        await self.listen()
        self.state.options.port = self.port
        await self.containers.start()
        agent_id = self.checkpoint.load_agent_id()
        if agent_id:
            self.state.recover(agent_id, self.checkpoint.load(), self.flags["recover"])
        self.spawn(self.master.run(), "master link")
        self.spawn(self._timers(), "timers")
        if self.flags["isolation"].disk_du:
            self.spawn(self.containers.watch_disks(self.flags["container_disk_watch_interval"],
                                                   self.flags["enforce_container_disk_quota"]), "disk/du")
        logger.info(
            "Agent on %s with %s, attributes %s, %s isolation",
            self.address, self.state.options.total.to_text(), self.flags["attributes"] or "no attributes",
            self.containers.isolator.name,
        )

    async def close_unsafe(self) -> None:
        await self.master.close()
        await self.containers.stop()

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.state.tick()
            except Exception:
                logger.exception("agent timer failed")

    # ------------------------------------------------------------------ master events

    def handle_master_event(self, event: dict[str, Any]) -> None:
        try:
            self.state.handle_master_event(event)
        except Exception:
            logger.exception("handling %s from the master failed", event.get("type"))
        if event.get("type") == "SHUTDOWN":
            self.spawn(self._shutdown_agent(), "shutdown")

    async def _shutdown_agent(self) -> None:
        """The state shut the executors down; stop once they had their grace period."""
        await asyncio.sleep(self.flags["executor_shutdown_grace_period"] + 0.5)
        self.master.stop_reconnecting()
        await self.close()

    # ------------------------------------------------------------------ endpoints

    def public_flags(self) -> dict[str, str]:
        return config.public(self.flags, AGENT_FLAGS)

    def usage(self, executor: Executor) -> dict[str, Any]:
        """What the executor's container reports of its use (cgroup or process counters)."""
        return {**self.containers.isolator.usage(executor.container_id, executor.pid),
                **self.containers.disk_statistics(executor)}

    async def _statistics(self, request: web.Request) -> web.Response:
        return json_response(views.statistics_json(self.state, self.usage, time.time()))

    async def _state(self, request: web.Request) -> web.Response:
        return json_response(
            views.state_json(
                self.state,
                start_time=self.start_time,
                attributes=self.flags["attributes"].values(),
                master_hostname=self.master.master_address or "",
                isolation=self.containers.isolator.name,
                flags=self.public_flags(),
            )
        )
