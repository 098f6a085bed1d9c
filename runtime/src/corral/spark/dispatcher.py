"""`corral spark-dispatcher`: the daemon around `DispatcherState`.

It serves Spark's REST submission protocol, a JSON API for the CLI, the
internal endpoint the launchers report to, and the web page (all on one port,
7077 by default); it is a framework on Corral (re-subscribing with its
framework id after its own restart or a master failover, then reconciling its
tasks); and it watches each running application's Spark master and driver to
scale fine-grained applications.  The queue is persisted (a file, or ZooKeeper
with --zk) before any task is launched.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import aiohttp

from corral.leader.detector import MasterDetector, detector_for
from corral.scheduler.client import CALL_ERRORS, SchedulerClient, SchedulerError
from corral.server import Server, StartupError
from corral.spark import model, rest, webui
from corral.spark.planner import Sizes
from corral.spark.state import DispatcherOptions, DispatcherState
from corral.spark.store import Store, StoreError, open_store
from corral.spark.tasks import LauncherConfig

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.5
AGENTS_POLL_SECONDS = 5.0
RECONCILE_WAIT_SECONDS = 30.0  # at most this long for our tasks' agents to be back before reconciling


class SparkDispatcher(Server):
    name = "corral spark-dispatcher"

    def __init__(self, flags: dict[str, Any]) -> None:
        """`flags`: the parsed values of `spark.flags.DISPATCHER_FLAGS` (`config.resolve`)."""
        super().__init__(flags["ip"], flags["port"])
        self.flags = flags
        self.options = DispatcherOptions(
            roles=tuple(flags["roles"] or ["*"]), default_mode=flags["mode"], max_drivers=flags["max_drivers"],
            queue_capacity=flags["queue_capacity"], retained=flags["retained_drivers"],
            retry_wait_max=flags["retry_wait_max"], max_retries=flags["max_retries"],
            launch_timeout=flags["launch_timeout"], fine_idle_timeout=flags["executor_idle_timeout"],
            worker_idle_timeout=flags["worker_idle_timeout"], refuse_seconds=flags["refuse_seconds"],
            sizes=Sizes(flags["master_cpus"], flags["master_mem"], flags["worker_daemon_mem"]),
        )
        self.state: DispatcherState | None = None
        self.store: Store | None = None
        self.client: SchedulerClient | None = None
        self.framework_id: str | None = None
        self.subscribed = False
        self.master_address: str | None = None
        self.suppressed = False
        self.http: aiohttp.ClientSession | None = None
        self.detector: MasterDetector | None = None
        self.principal, self.secret = flags["principal"], flags["secret"]
        self.ssl_context: ssl.SSLContext | None = None
        self.started_at = time.time()
        self._persist_lock = asyncio.Lock()
        rest.add_routes(self.app, self)
        webui.add_routes(self.app, self)

    # -- lifecycle -------------------------------------------------------------------

    async def start_unsafe(self) -> None:
        if self.flags["credential"] is not None:
            self.principal, self.secret = self.flags["credential"].principal, self.flags["credential"].secret
        if self.principal and not self.secret:
            raise StartupError("--principal needs --secret or --credential")
        if self.flags["master_ca_file"]:
            try:
                self.ssl_context = ssl.create_default_context(cafile=self.flags["master_ca_file"])
            except (OSError, ssl.SSLError) as exc:
                raise StartupError(f"--master_ca_file: {exc}") from None
        self.detector = detector_for(self.flags["master"])
        try:
            self.store = await asyncio.to_thread(open_store, self.flags["zk"], self.flags["work_dir"])
            stored = await asyncio.to_thread(self.store.load)
        except StoreError as exc:
            raise StartupError(str(exc)) from None
        await self.listen()
        advertise = self.flags["advertise"] or f"{self.host if self.host not in ('0.0.0.0', '::') else '127.0.0.1'}:{self.port}"
        launcher = LauncherConfig(dispatcher_url=f"http://{advertise}", python=self.flags["python"],
                                  spark_home=self.flags["spark_home"], daemon_memory=self.flags["daemon_memory"],
                                  daemon_java_opts=self.flags["daemon_java_opts"],
                                  start_timeout=self.flags["launch_timeout"])
        self.state = DispatcherState(self.options, launcher)
        submissions = []
        for data in stored.submissions:
            try:
                submissions.append(model.Submission.from_json(data))
            except (KeyError, ValueError, TypeError) as exc:
                logger.error("Ignoring a stored submission that cannot be read (%s): %s", exc, str(data)[:200])
        self.state.recover(submissions, stored.seq)
        self.framework_id = stored.framework_id
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self.spawn(self._scheduler_loop(), "scheduler")
        self.spawn(self._timers(), "timers")
        self.spawn(self._observer(), "observer")
        self.spawn(self._agents(), "agents")
        waiting = sum(1 for s in submissions if s.state in model.WAITING)
        active = sum(1 for s in submissions if s.state in model.ACTIVE)
        logger.info("Queue in %s: %d waiting, %d active, %d finished; framework id %s", self.store.describe(),
                    waiting, active, len(submissions) - waiting - active, self.framework_id or "(new)")

    async def close_unsafe(self) -> None:
        if self.state is not None and self.store is not None:
            await self.persist()

    async def _cleanup(self) -> None:
        await super()._cleanup()
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.detector is not None:
            await self.detector.close()
            self.detector = None
        if self.store is not None:
            store, self.store = self.store, None
            await asyncio.to_thread(store.close)

    # -- persistence -------------------------------------------------------------------

    async def persist(self) -> None:
        assert self.state is not None and self.store is not None
        async with self._persist_lock:
            dirty, forgotten = self.state.take_dirty()
            if not dirty and not forgotten:
                return
            data = [s.to_json() for s in dirty]
            try:
                await asyncio.to_thread(self.store.save, data, forgotten, self.state.seq)
            except Exception:
                logger.exception("could not persist the queue")
                for sub in dirty:  # try again next time
                    self.state._dirty.add(sub.id)

    # -- the framework -------------------------------------------------------------------

    def framework_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "user": self.flags["user"],
            "name": self.flags["name"],
            "roles": list(self.options.roles),
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}],
            "failover_timeout": self.flags["failover_timeout"],
            "checkpoint": True,
            "hostname": self.host,
            "webui_url": f"http://{self.flags['advertise'] or self.address}/",
        }
        return info

    async def _detect_master(self) -> str:
        assert self.detector is not None
        return await asyncio.wait_for(self.detector.detect(), 60)

    def _master_headers(self) -> dict[str, str]:
        if self.principal and self.secret:
            from corral.security.credentials import basic_header

            return {"Authorization": basic_header(self.principal, self.secret)}
        return {}

    async def _scheduler_loop(self) -> None:
        backoff = 0.2
        while True:
            try:
                address = await self._detect_master()
                self.master_address = address
                async with SchedulerClient(address, self.framework_info(), reconnect=False, principal=self.principal,
                                           secret=self.secret, ssl_context=self.ssl_context) as client:
                    client.framework_id = self.framework_id
                    self.client = client
                    await self._consume(client)
                backoff = 0.2
            except SchedulerError as exc:
                text = str(exc)
                if "has been removed" in text and self.framework_id:
                    logger.error("The master removed framework %s (%s); subscribing as a new framework", self.framework_id, text)
                    self.framework_id = None
                    await asyncio.to_thread(self.store.save_framework_id, None)  # type: ignore[union-attr]
                else:
                    logger.warning("Scheduler API: %s", text)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, LookupError) as exc:
                logger.info("Cannot reach the master at %s: %s", self.master_address or self.flags["master"], exc)
            finally:
                self.subscribed = False
                self.client = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _consume(self, client: SchedulerClient) -> None:
        assert self.state is not None
        events = client.events()
        heartbeat = 30.0
        try:
            while True:
                try:
                    event = await asyncio.wait_for(events.__anext__(), timeout=max(heartbeat * 3, 5.0))
                except StopAsyncIteration:
                    logger.info("The master closed the scheduler stream")
                    return
                except asyncio.TimeoutError:
                    logger.warning("No event from the master for %.0fs; reconnecting", max(heartbeat * 3, 5.0))
                    return
                kind = event.get("type")
                if kind == "SUBSCRIBED":
                    heartbeat = float(event["subscribed"].get("heartbeat_interval_seconds") or 15.0)
                    await self._on_subscribed(client)
                elif kind == "ERROR":
                    logger.error("Error from the master: %s", event.get("error", {}).get("message"))
                try:
                    if kind == "OFFERS":
                        await self._on_offers(client, event["offers"].get("offers", []))
                    elif kind == "UPDATE":
                        self.state.update(event["update"]["status"])
                        await self.after_change()
                except SchedulerError:
                    raise
                except Exception:  # a bug handling one event must not end the subscription
                    logger.exception("handling %s failed", kind)
                    if kind == "OFFERS":
                        await client.decline([o["id"] for o in event["offers"].get("offers", [])], refuse_seconds=1)
        finally:
            await events.aclose()

    async def _on_subscribed(self, client: SchedulerClient) -> None:
        assert self.state is not None and self.store is not None
        first = self.framework_id is None
        if client.framework_id != self.framework_id:
            self.framework_id = client.framework_id
            await asyncio.to_thread(self.store.save_framework_id, self.framework_id)
        self.subscribed = True
        self.suppressed = False
        logger.info("%s as framework %s on master %s", "Subscribed" if first else "Re-subscribed", self.framework_id,
                    self.master_address)
        if self.state.reconcile_list():
            self.spawn(self._reconcile(client), "reconcile")
        await self.after_change()

    async def _reconcile(self, client: SchedulerClient) -> None:
        """Ask the master about our tasks once the agents running them are registered again.

        After a master failover the agents re-register within seconds; asking about their
        tasks earlier could only get answers about agents the master has not heard from yet.
        """
        assert self.state is not None
        deadline = time.monotonic() + RECONCILE_WAIT_SECONDS
        while time.monotonic() < deadline:
            needed = {agent for _, agent in self.state.reconcile_list()}
            agents = await self._fetch_agents()
            if agents is not None and needed <= set(agents):
                break
            await asyncio.sleep(0.5)
        tasks = self.state.reconcile_list()
        if not tasks or client is not self.client or not self.subscribed:
            return
        logger.info("Reconciling %d task(s)", len(tasks))
        try:
            await client.reconcile([t for t, _ in tasks])
        except CALL_ERRORS as exc:
            logger.warning("RECONCILE failed: %s", exc)

    async def _on_offers(self, client: SchedulerClient, offers: list[dict[str, Any]]) -> None:
        assert self.state is not None
        launches, declines = self.state.offers(offers)
        await self.persist()  # tasks are on record before they exist
        for offer_id, tasks in launches:
            try:
                await client.accept([{"value": offer_id}], tasks, refuse_seconds=1)
            except CALL_ERRORS as exc:  # (reconciliation learns that the tasks were lost; supervised drivers retry)
                logger.error("ACCEPT of offer %s failed: %s", offer_id, exc)
        if declines:
            refuse = 1.0 if self.state.wants_offers() else self.options.refuse_seconds
            try:
                await client.decline([{"value": o} for o in declines], refuse_seconds=refuse)
            except CALL_ERRORS as exc:  # (offers not declined are rescinded with their master)
                logger.warning("DECLINE failed: %s", exc)
        await self.after_change()

    async def after_change(self) -> None:
        """Send kills, persist, and suppress or revive offers to match the demand."""
        assert self.state is not None
        client = self.client if self.subscribed else None
        kills = self.state.take_kills()
        await self.persist()
        if client is None:
            if kills:  # keep them for when we are subscribed again
                self.state._kills.extend(kills)
            return
        for task_id, agent_id in kills:
            try:
                await client.kill(task_id, agent_id or None)
            except CALL_ERRORS as exc:  # (the master went away: sent again on the next change or tick)
                logger.warning("KILL %s failed: %s", task_id, exc)
                self.state._kills.append((task_id, agent_id))
        wants = self.state.wants_offers()
        try:
            if wants and self.suppressed:
                await client.revive()
                self.suppressed = False
            elif not wants and not self.suppressed:
                await client.suppress()
                self.suppressed = True
        except CALL_ERRORS as exc:  # (a submission is queued all the same: offers come with the next subscription)
            logger.warning("SUPPRESS/REVIVE failed: %s", exc)

    async def _timers(self) -> None:
        assert self.state is not None
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.state.tick()
                await self.after_change()
            except Exception:
                logger.exception("timer tick failed")

    async def _fetch_agents(self) -> dict[str, list[dict[str, Any]]] | None:
        """The master's active agents and their attributes (operator API GET_AGENTS); None if unknown."""
        address = self.master_address
        if not address or self.http is None:
            return None
        try:
            scheme = "https" if self.ssl_context is not None else "http"
            async with self.http.post(f"{scheme}://{address}/api/v1", json={"type": "GET_AGENTS"}, ssl=self.ssl_context,
                                      headers={"Accept": "application/json", **self._master_headers()}) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
                return {
                    a["agent_info"]["id"]["value"]: a["agent_info"].get("attributes", [])
                    for a in (data.get("get_agents") or {}).get("agents", []) if a.get("active", True)
                }
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError, KeyError, TypeError) as exc:
            logger.debug("GET_AGENTS failed: %s", exc)
            return None

    async def _agents(self) -> None:
        """Keep the cluster's agents and attributes to explain why applications wait."""
        assert self.state is not None
        while True:
            agents = await self._fetch_agents()
            if agents is not None:
                self.state.set_agents(agents)
            await asyncio.sleep(AGENTS_POLL_SECONDS)

    # -- watching Spark -------------------------------------------------------------------

    async def _observer(self) -> None:
        assert self.state is not None
        while True:
            await asyncio.sleep(self.flags["poll_interval"])
            try:
                active = self.state.active()
                if active:
                    await asyncio.gather(*(self._observe(sub) for sub in active))
                    await self.after_change()
            except Exception:
                logger.exception("observing Spark failed")

    async def _observe(self, sub: model.Submission) -> None:
        assert self.state is not None
        master = sub.task(model.MASTER)
        driver = sub.task(model.DRIVER)
        master_json = metrics = None
        if master is not None and master.info.get("webui_url") and not master.terminal:
            master_json = await self._get_json(f"{master.info['webui_url']}/json/")
        if driver is not None and driver.info.get("ui_url") and not driver.terminal and self.state.spec(sub).mode == "fine":
            metrics = await self._get_json(f"{driver.info['ui_url']}/metrics/json/")
        self.state.observe(sub.id, master_json, metrics)

    async def _get_json(self, url: str) -> Any:
        assert self.http is not None
        try:
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=3)) as response:
                if response.status != 200:
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
            return None

    async def fetch_json(self, url: str) -> Any:
        return await self._get_json(url)
