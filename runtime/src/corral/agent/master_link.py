"""The agent's connection to the leading master.

The agent dials out: REGISTER opens a long-lived stream of master events;
the other calls are POSTed, one request at a time: the calls made while one
is under way go together in the next, as a JSON list (a burst of status
updates is one request, not one each; the master handles them in order).  When the stream ends (the master died,
failed over or the network broke) the link pauses status updates and
re-registers, with backoff, following 307 redirects to the leader.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any, Coroutine, Protocol

import aiohttp
import msgspec

from corral.agent.registration import registration_payload
from corral.leader.detector import detector_for
from corral.protocol import agent as agent_proto
from corral.protocol.recordio import Decoder, RecordIOError

if TYPE_CHECKING:
    from corral.agent.state import AgentState
    from corral.security.agent import AgentSecurity

logger = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()

# Without the master's total ping timeout: the stream is dead after this many silent ping intervals.
SILENCE_PINGS = 3


def silence_allowed(registered: dict[str, Any]) -> float:
    """How long the master may say nothing (not even PING) before the agent looks for a master again:
    the master's own budget for this agent's pings (ping timeout x missed pings, as Mesos's agent takes
    it from MasterSlaveConnection).  Less, and a master that stalls for a moment under load loses every
    agent at once, with their offers."""
    total = (registered.get("connection") or {}).get("total_ping_timeout_seconds")
    if isinstance(total, (int, float)) and total > 0:
        return float(total)
    return SILENCE_PINGS * float(registered.get("ping_interval_seconds", 15))


class LinkedAgent(Protocol):
    """What the link uses of the agent daemon: its flags, its security (the session and scheme
    to reach the master), its state (its id, what it registers with, (dis)connections), and
    where the master's events go."""

    @property
    def flags(self) -> dict[str, Any]: ...

    @property
    def security(self) -> AgentSecurity: ...

    @property
    def state(self) -> AgentState: ...

    def handle_master_event(self, event: dict[str, Any]) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...

    async def close(self) -> None: ...


class MasterLink:
    def __init__(self, agent: LinkedAgent) -> None:
        self.agent = agent
        self.master_address: str | None = None
        self.stream_id: str | None = None
        self.connected = False
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self._outbox: list[dict[str, Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self.detector = detector_for(agent.flags["master"])

    async def _resolve(self) -> str:
        return await self.detector.detect()

    async def run(self) -> None:
        self._session = self.agent.security.master_session(aiohttp.ClientTimeout(total=None, connect=5))
        backoff = 0.1
        redirect: str | None = None
        while not self._stopping:
            try:
                address = redirect or await self._resolve()
                redirect = None
                redirect = await self._follow(address)
                if redirect is not None:
                    continue
                backoff = 0.1
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, RecordIOError) as exc:
                logger.info("Master connection failed: %s", exc or type(exc).__name__)
            finally:
                self._disconnected()
            if self._stopping:
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.agent.flags["registration_backoff"])

    async def _follow(self, address: str) -> str | None:
        """`_register` with `address`, abandoned as soon as ZooKeeper names another leader: a master
        that stalls (stopped, or cut off) keeps its connections open, and what it would send on
        waking, before it learns that it was deposed, must not reach this agent."""
        if not self.detector.dynamic:
            return await self._register(address)
        register = asyncio.ensure_future(self._register(address))
        moved = asyncio.ensure_future(self.detector.moved_from(address))
        try:
            await asyncio.wait({register, moved}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending = [task for task in (register, moved) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if register.done() and not register.cancelled():
            return register.result()
        logger.warning("Another master leads now: leaving %s", address)
        return None

    async def _register(self, address: str) -> str | None:
        """One registration and its event stream; returns a leader address to follow, if redirected."""
        assert self._session is not None
        payload = {"type": "REGISTER", "register": registration_payload(self.agent.state)}
        async with self._session.post(
            f"{self.agent.security.master_scheme()}://{address}/api/v1/agent", data=_encoder.encode(payload), headers={"Content-Type": "application/json"},
            allow_redirects=False,
        ) as response:
            if response.status == 307:
                location = response.headers.get("Location", "")
                return location.removeprefix("http:").removeprefix("https:").lstrip("/").split("/")[0] or None
            if response.status == 403:
                text = await response.text()
                logger.error("The master refused this agent: %s", text)
                self._stopping = True
                self.agent.spawn(self.agent.close(), "shutdown")
                return None
            if response.status != 200:
                raise aiohttp.ClientError(f"REGISTER answered HTTP {response.status}: {(await response.text())[:200]}")
            self.master_address = address
            self.stream_id = response.headers.get(agent_proto.STREAM_ID_HEADER)
            decoder = Decoder()
            silence = 60.0
            while True:
                chunk = await asyncio.wait_for(response.content.readany(), silence)
                if not chunk:
                    return None
                for record in decoder.feed(chunk):
                    event = msgspec.json.decode(record)
                    if event.get("type") == "REGISTERED":
                        registered = event["registered"]
                        silence = silence_allowed(registered)
                        self.connected = True
                        logger.info("Registered with master %s as agent %s", address, registered["agent_id"]["value"])
                        self.agent.state.registered(registered["agent_id"]["value"])
                    else:
                        self.agent.handle_master_event(event)

    def _disconnected(self) -> None:
        """Forget the master: its stream, the calls not yet sent, and the call in flight.  A call in
        flight to a master that stalled would wait for it to wake, holding back every later call,
        PONGs to the next leader included, which then finds this agent silent and unreachable."""
        if self.connected:
            logger.warning("Lost the connection to the master at %s", self.master_address)
        self.connected = False
        self.stream_id = None
        self._outbox.clear()
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self.agent.state.disconnected()

    def post(self, call: dict[str, Any]) -> None:
        """Send a call to the master; dropped while disconnected (updates are retried by their manager)."""
        if not self.connected or self._session is None or self.master_address is None:
            return
        self._outbox.append(call)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_outbox())

    async def _send_outbox(self) -> None:
        while self._outbox and self.connected and self.master_address is not None:
            calls, self._outbox = self._outbox, []
            await self._post(self.master_address, self.stream_id or "", calls[0] if len(calls) == 1 else calls)

    async def _post(self, address: str, stream_id: str, call: dict[str, Any] | list[dict[str, Any]]) -> None:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            agent_proto.AGENT_ID_HEADER: self.agent.state.agent_id or "",
            agent_proto.STREAM_ID_HEADER: stream_id,
        }
        try:
            url = f"{self.agent.security.master_scheme()}://{address}/api/v1/agent"
            async with self._session.post(url, data=_encoder.encode(call), headers=headers) as response:
                if response.status >= 400:
                    logger.warning("Master refused %s: HTTP %s %s", _kinds(call), response.status, (await response.text())[:200])
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            logger.debug("Could not send %s to the master: %s", _kinds(call), exc)

    def stop_reconnecting(self) -> None:
        self._stopping = True

    async def close(self) -> None:
        self._stopping = True
        if self._sender is not None:
            self._sender.cancel()
        if self._session is not None:
            await self._session.close()
        await self.detector.close()


def _kinds(call: dict[str, Any] | list[dict[str, Any]]) -> str:
    return ", ".join(c.get("type", "?") for c in call) if isinstance(call, list) else str(call.get("type"))
