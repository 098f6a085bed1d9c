"""Agents that speak the real agent protocol and run nothing, many to one asyncio loop.

The benchmarks' stand-in for a large cluster: each `SimulatedAgent` opens the
REGISTER stream a real agent opens (`POST /api/v1/agent`), answers PING with
PONG and RUN_TASK with TASK_RUNNING (KILL_TASK with TASK_KILLED), and, when its
stream ends, registers again with its agent id at whichever master leads, as
found by the same `MasterDetector` real agents use (one shared by all).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from typing import Any

import aiohttp

from corral.leader.detector import MasterDetector
from corral.protocol.recordio import Decoder
from corral.resources import Resources

REGISTRATION_BACKOFF = 1.0  # the agent's --registration_backoff default
DEFAULT_RESOURCES = Resources.parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")


class SimulatedAgent:
    def __init__(self, index: int, session: aiohttp.ClientSession, detector: MasterDetector,
                 resources: Resources = DEFAULT_RESOURCES, hostname_prefix: str = "sim") -> None:
        self.index = index
        self.session = session
        self.detector = detector
        self.hostname = f"{hostname_prefix}-{index:05d}"
        self.resources = resources.to_json()
        self.agent_id: str | None = None
        self.master: str | None = None  # the master this agent is registered with, while it is
        self.registered = asyncio.Event()
        self.registrations = 0
        self.tasks: dict[str, dict[str, Any]] = {}  # running tasks as a re-registration reports them
        self.frameworks: dict[str, dict[str, Any]] = {}

    async def run(self) -> None:
        backoff = 0.1
        while True:  # as agent/master_link.py: register again whenever the stream ends, with jittered backoff
            try:
                address = await self.detector.detect()
                await self._stream(address)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass
            if self.registered.is_set():
                backoff = 0.1
            self.registered.clear()
            self.master = None
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, REGISTRATION_BACKOFF)

    async def _stream(self, address: str) -> None:
        info = {"hostname": self.hostname, "port": 20000 + self.index % 40000, "ip": "127.0.0.1", "resources": self.resources,
                "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": f"r{self.index % 20}"}}]}
        register: dict[str, Any] = {"agent_info": info, "resources": self.resources, "version": "sim",
                                    "tasks": list(self.tasks.values()), "executors": [], "frameworks": list(self.frameworks.values())}
        if self.agent_id:
            register["agent_id"] = {"value": self.agent_id}
        async with self.session.post(f"http://{address}/api/v1/agent", json={"type": "REGISTER", "register": register},
                                     allow_redirects=False) as response:
            if response.status != 200:  # a standby's redirect, or a master not ready: detect again
                await response.read()
                return
            stream_id = response.headers.get("Corral-Stream-Id", "")
            decoder = Decoder()
            async for chunk in response.content.iter_any():
                for record in decoder.feed(chunk):
                    self._handle(json.loads(record), address, stream_id)

    def _handle(self, event: dict[str, Any], address: str, stream_id: str) -> None:
        kind = event.get("type")
        if kind == "REGISTERED":
            self.agent_id = event["registered"]["agent_id"]["value"]
            self.master = address
            self.registrations += 1
            self.registered.set()
        elif kind == "PING":
            self._post(address, stream_id, {"type": "PONG"})
        elif kind == "RUN_TASK":
            task, framework = event["run_task"]["task"], event["run_task"]["framework_info"]
            self.frameworks[framework["id"]["value"]] = framework
            self.tasks[task["task_id"]["value"]] = {**task, "framework_id": framework["id"], "executor_id": task["task_id"],
                                                     "state": "TASK_RUNNING"}
            self._update(address, stream_id, framework["id"], task["task_id"], "TASK_RUNNING")
        elif kind == "KILL_TASK":
            task_id = event["kill_task"]["task_id"]
            self.tasks.pop(task_id["value"], None)
            self._update(address, stream_id, event["kill_task"]["framework_id"], task_id, "TASK_KILLED")

    def _update(self, address: str, stream_id: str, framework_id: dict[str, str], task_id: dict[str, str], state: str) -> None:
        status = {"task_id": task_id, "state": state, "source": "SOURCE_EXECUTOR", "agent_id": {"value": self.agent_id},
                  "executor_id": task_id, "timestamp": time.time(), "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}
        self._post(address, stream_id, {"type": "UPDATE", "update": {"framework_id": framework_id, "status": status,
                                                                      "latest_state": state}})

    def _post(self, address: str, stream_id: str, call: dict[str, Any]) -> None:
        asyncio.ensure_future(self._send(address, stream_id, call))

    async def _send(self, address: str, stream_id: str, call: dict[str, Any]) -> None:
        headers = {"Corral-Agent-Id": self.agent_id or "", "Corral-Stream-Id": stream_id}
        try:
            async with self.session.post(f"http://{address}/api/v1/agent", json=call, headers=headers) as response:
                await response.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass  # the master went away: the stream ends too, and the agent registers again


class SimulatedCluster:
    """`count` simulated agents on this loop, started in batches so that the master is not flooded at once."""

    def __init__(self, detector: MasterDetector, count: int, first_index: int = 0,
                 resources: Resources = DEFAULT_RESOURCES) -> None:
        self.detector = detector
        self.count = count
        self.first_index = first_index
        self.resources = resources
        self.agents: list[SimulatedAgent] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def registered(self) -> int:
        return sum(1 for agent in self.agents if agent.registered.is_set())

    def registered_with(self, address: str) -> int:
        return sum(1 for agent in self.agents if agent.master == address)

    async def start(self, batch: int = 100, pause: float = 0.05) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                              timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        for i in range(self.count):
            agent = SimulatedAgent(self.first_index + i, self._session, self.detector, self.resources)
            self.agents.append(agent)
            self._tasks.append(asyncio.ensure_future(agent.run()))
            if i % batch == batch - 1:
                await asyncio.sleep(pause)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
