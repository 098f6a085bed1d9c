"""An asyncio client of the v1 scheduler API, for writing frameworks.

    async with SchedulerClient("127.0.0.1:5050", {"user": "me", "name": "demo"}) as client:
        async for event in client.events():
            if event["type"] == "OFFERS":
                ...
                await client.accept([offer_id], [task_info])

The client re-subscribes with its framework id when the stream breaks
(master restart or failover; 307 redirects are followed, and a master that
has no leader yet is asked again) for as long as `failover_timeout` allows, and acknowledges status updates unless
`auto_acknowledge=False`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from typing import Any, AsyncIterator

import aiohttp

from corral.leader.detector import detector_for
from corral.protocol.recordio import Decoder

logger = logging.getLogger(__name__)

STREAM_ID = "Mesos-Stream-Id"


class SchedulerError(RuntimeError):
    pass


# What a call (ACCEPT, KILL, REVIVE, ...) can end with while masters come and go: a framework logs it
# and tries again later, or learns the outcome by reconciliation.
CALL_ERRORS = (SchedulerError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


class NoLeaderYet(SchedulerError):
    """SUBSCRIBE met a change of leader: a 5xx ("no leading master is elected yet"), or masters that
    redirect to each other while their views of ZooKeeper catch up.  A reconnecting client tries again."""


def _authorization(principal: str | None, secret: str | None, token: str | None) -> dict[str, str] | None:
    if token:
        return {"Authorization": f"Bearer {token}"}
    if principal and secret is not None:
        import base64

        return {"Authorization": "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()}
    return None


class SchedulerClient:
    def __init__(
        self,
        master: str,
        framework_info: dict[str, Any],
        auto_acknowledge: bool = True,
        reconnect: bool = True,
        principal: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        ssl_context: "ssl.SSLContext | None" = None,
    ) -> None:
        """`principal`/`secret` (HTTP Basic) or `token` (bearer) authenticate the framework;
        `ssl_context` makes it talk HTTPS to masters with TLS."""
        self._auth = _authorization(principal, secret, token)
        self._ssl = ssl_context
        self._scheme = "https" if ssl_context is not None else "http"
        if principal and "principal" not in framework_info:
            framework_info = {**framework_info, "principal": principal}
        self.master = master.removeprefix("http://").removeprefix("https://").rstrip("/")
        self.detector = detector_for(self.master)
        self.framework_info = dict(framework_info)
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.auto_acknowledge = auto_acknowledge
        self.reconnect = reconnect
        self.master_info: dict[str, Any] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._address = ""  # the master this client talks to: detected, then redirected
        self._background: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> "SchedulerClient":
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=10), headers=self._auth,
            connector=aiohttp.TCPConnector(ssl=self._ssl) if self._ssl is not None else None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _in_background(self, call: Any) -> None:
        """Acknowledgements need not hold up the event stream."""
        task = asyncio.ensure_future(call)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("background call failed: %s", task.exception())

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self.detector.close()

    # -- the event stream ---------------------------------------------------------

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Subscribe and yield events forever (re-subscribing after disconnections)."""
        backoff = 0.1
        while True:
            try:
                async for event in self._subscribe_once():
                    backoff = 0.1
                    yield event
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                logger.info("scheduler stream broke: %s", exc)
            except NoLeaderYet as exc:
                if not self.reconnect:
                    raise
                logger.info("no leading master to subscribe to yet: %s", exc)
            if not self.reconnect:
                return
            self.stream_id = None
            if not self.detector.dynamic:
                self._address = ""  # (start again from the configured master, not the last redirect)
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 5.0)

    async def _subscribe_once(self) -> AsyncIterator[dict[str, Any]]:
        assert self._session is not None, "use `async with SchedulerClient(...)`"
        info = dict(self.framework_info)
        call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
            call["framework_id"] = {"value": self.framework_id}
        if self.detector.dynamic or not self._address:
            self._address = await self.detector.detect()
        for _ in range(5):  # follow redirects to the leader
            async with self._session.post(
                f"{self._scheme}://{self._address}/api/v1/scheduler", data=json.dumps(call),
                headers={"Content-Type": "application/json", "Accept": "application/json"}, allow_redirects=False,
            ) as response:
                if response.status == 307:
                    location = response.headers.get("Location", "")
                    self._address = location.removeprefix("http:").removeprefix("https:").lstrip("/").split("/")[0] or self._address
                    continue
                if response.status >= 500:
                    raise NoLeaderYet(f"SUBSCRIBE failed: HTTP {response.status}: {(await response.text())[:300]}")
                if response.status != 200:
                    raise SchedulerError(f"SUBSCRIBE failed: HTTP {response.status}: {(await response.text())[:300]}")
                self.stream_id = response.headers.get(STREAM_ID)
                decoder = Decoder()
                async for chunk in response.content.iter_any():
                    for record in decoder.feed(chunk):
                        event = json.loads(record)
                        kind = event.get("type")
                        if kind == "SUBSCRIBED":
                            self.framework_id = event["subscribed"]["framework_id"]["value"]
                            self.master_info = event["subscribed"].get("master_info")
                        elif kind == "ERROR":
                            yield event
                            raise SchedulerError(event["error"]["message"])
                        yield event
                        if kind == "UPDATE" and self.auto_acknowledge:
                            status = event["update"]["status"]
                            if "uuid" in status:
                                self._in_background(self.acknowledge(status))
                return
        raise NoLeaderYet(f"too many redirects (the last to {self._address})")

    # -- calls --------------------------------------------------------------------

    async def call(self, kind: str, body: dict[str, Any] | None = None) -> None:
        assert self._session is not None
        if self.framework_id is None or self.stream_id is None:
            raise SchedulerError(f"cannot send {kind}: not subscribed")
        message: dict[str, Any] = {"type": kind, "framework_id": {"value": self.framework_id}}
        if body is not None:
            message[kind.lower()] = body
        async with self._session.post(
            f"{self._scheme}://{self._address}/api/v1/scheduler", data=json.dumps(message),
            headers={"Content-Type": "application/json", STREAM_ID: self.stream_id},
        ) as response:
            if response.status // 100 != 2:
                raise SchedulerError(f"{kind} failed: HTTP {response.status}: {(await response.text())[:300]}")

    async def accept(
        self, offer_ids: list[dict[str, str]], tasks: list[dict[str, Any]], refuse_seconds: float | None = None
    ) -> None:
        body: dict[str, Any] = {"offer_ids": offer_ids, "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}
        if refuse_seconds is not None:
            body["filters"] = {"refuse_seconds": refuse_seconds}
        await self.call("ACCEPT", body)

    async def decline(self, offer_ids: list[dict[str, str]], refuse_seconds: float | None = None) -> None:
        body: dict[str, Any] = {"offer_ids": offer_ids}
        if refuse_seconds is not None:
            body["filters"] = {"refuse_seconds": refuse_seconds}
        await self.call("DECLINE", body)

    async def acknowledge(self, status: dict[str, Any]) -> None:
        await self.call(
            "ACKNOWLEDGE", {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}
        )

    async def kill(self, task_id: str, agent_id: str | None = None) -> None:
        body: dict[str, Any] = {"task_id": {"value": task_id}}
        if agent_id:
            body["agent_id"] = {"value": agent_id}
        await self.call("KILL", body)

    async def reconcile(self, task_ids: list[str] | None = None) -> None:
        await self.call("RECONCILE", {"tasks": [{"task_id": {"value": t}} for t in task_ids or []]})

    async def revive(self, roles: list[str] | None = None) -> None:
        await self.call("REVIVE", {"roles": roles} if roles else None)

    async def suppress(self, roles: list[str] | None = None) -> None:
        await self.call("SUPPRESS", {"roles": roles} if roles else None)

    async def teardown(self) -> None:
        if self._background:  # let acknowledgements in flight land first
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.call("TEARDOWN")


def scalar(offer: dict[str, Any], name: str) -> float:
    """Total of a scalar resource in an offer."""
    return sum(r["scalar"]["value"] for r in offer.get("resources", []) if r["name"] == name and r["type"] == "SCALAR")
