"""The master's state machine.

`MasterState` holds frameworks, agents, tasks and offers and implements what
the scheduler, agent and operator APIs ask of the master.  It performs no
I/O of its own: events leave through the `Connection`s that the HTTP layer
attaches to frameworks and agents, and time comes from the injected clock.
The HTTP layer calls `tick()` periodically; timers (offer timeouts,
framework failover, agent health, heartbeats, batched allocation) run there.

It is built in layers, one module per concern (master/core.py explains why):
core (books, outbox) < tasks < offers < frameworks < agents < drains < maintenance < this module,
which adds what concerns the master as a whole: recovery from the registry of
earlier leaders, safe mode, the operator's calls and `tick()`.
"""

from __future__ import annotations

import logging
import time

from corral.allocator import Allocator
from corral.allocator.quota import QuotaConfig
from corral.master.maintenance import MaintenanceBook, Machine, parse_schedule
from corral.master import reservations
from corral.master.core import CallError, Clock, MasterOptions
from corral.master.model import Connection
from corral.master.registry import Registry, RegistryData
from corral.resources import Resources

__all__ = ["CallError", "Clock", "MasterOptions", "MasterState"]

logger = logging.getLogger(__name__)

# Timers for offers, heartbeats, failover and agent health run at most this often.
HEALTH_CHECK_PERIOD = 0.1
# A longer gap between two ticks means this master was stopped (SIGSTOP, a frozen VM) or starved:
# during it, it heard nobody, so nobody's silence is counted against them.
STALL = 1.0


class MasterState(MaintenanceBook):
    def __init__(
        self,
        options: MasterOptions,
        allocator: Allocator,
        clock: Clock = time.monotonic,
        master_id: str | None = None,
        wallclock: Clock = time.time,
        registry: Registry | None = None,
        recovered: RegistryData | None = None,
    ) -> None:
        super().__init__(options, allocator, clock, master_id, wallclock, registry)
        self._last_tick = self.clock()
        if recovered is not None:
            self._recover(recovered)

    def _recover(self, data: RegistryData) -> None:
        """State a new leader starts from: the registry of the previous ones."""
        self.gone_agents = set(data.gone)
        self.unreachable_agents = {a: t for a, t in data.unreachable.items() if a not in data.gone}
        self.recovered_agents = {a: info for a, info in data.agents.items() if a not in data.gone and a not in self.unreachable_agents}
        self._reregister_deadline = self.clock() + self.options.agent_reregister_timeout
        self.deactivations = {a: info for a, info in data.deactivations.items() if a not in data.gone}
        if data.maintenance:
            try:
                self.maintenance_windows = parse_schedule(data.maintenance.get("schedule"))
                self.down_machines = {Machine.from_json(m, "registry maintenance.down") for m in data.maintenance.get("down", [])}
            except ValueError as exc:
                logger.error("The maintenance schedule in the registry is not applied: %s", exc)
        if data.weights:
            self.allocator.update_weights(data.weights)
        for role, raw in data.quotas.items():
            try:
                self.allocator.update_quota(QuotaConfig.from_json(raw, f"registry quota of role '{role}'"))
            except (ValueError, NotImplementedError) as exc:
                logger.error("Quota of role %s in the registry is not applied: %s", role, exc)
        if self.recovered_agents:
            logger.info(
                "Recovered %d agent(s) from the registry; they have %.0fs to re-register",
                len(self.recovered_agents), self.options.agent_reregister_timeout,
            )

    def set_safe_mode(self, on: bool) -> None:
        if on == self.safe_mode:
            return
        self.safe_mode = on
        if on:
            logger.warning("Entering safe mode: ZooKeeper quorum lost; no allocations or launches until it returns")
            self.metrics["master/safe_mode_entries"] += 1
            for offer in list(self.offers.values()):
                self._rescind(offer, filter_seconds=None)
        else:
            logger.info("Leaving safe mode: ZooKeeper is back")
            self._request_allocation()

    def update_weights(self, weights: dict[str, float]) -> None:
        self.allocator.update_weights(weights)
        self.registry.set_weights(self.allocator.weights())
        self._request_allocation()

    def update_quotas(self, configs: list[QuotaConfig]) -> None:
        """Apply validated configs; offers of the roles concerned are rescinded so that none exceeds a new limit."""
        for config in configs:
            self.allocator.update_quota(config)
        self.registry.set_quotas({role: c.to_json() for role, c in sorted(self.allocator.quotas().items())})
        roles = {c.role for c in configs}
        for offer in list(self.offers.values()):
            if offer.role.split("/", 1)[0] in roles:
                self._rescind(offer, filter_seconds=None)
        self._request_allocation()

    def convert_free_resources(self, agent_id: str, kind: str, request: Resources, principal: str | None) -> None:
        """The operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES or DESTROY_VOLUMES (`kind`:
        the offer operation's name) of free resources of an agent.  Offers on the agent are rescinded
        first, as in Mesos, so that offered resources count as free."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise CallError(400, f"Unknown agent {agent_id!r}" if agent_id else "agent_id.value must not be empty")
        self._rescind_offers_on(agent)

        def convert(have: Resources) -> tuple[Resources, Resources]:
            return reservations.convert(kind, request, have, agent.total, None, principal)

        try:
            convert(agent.total)  # a 400 names what is wrong with the request itself
        except ValueError as exc:
            raise CallError(400, str(exc)) from None
        try:
            source, converted = convert(self.allocator.available(agent_id))
        except ValueError as exc:
            in_use = "Persistent volumes in use" if kind == "DESTROY" else "the rest is in use by tasks"
            raise CallError(409, f"{exc} ({in_use})") from None
        except NotImplementedError as exc:
            raise CallError(400, str(exc)) from None
        self.convert_agent_resources(agent, source, converted)
        logger.info("Operator %s %s on agent %s", kind, request, agent_id)
        self._request_allocation([agent_id])

    def subscribe_operator(self, connection: Connection) -> None:
        self.operator_subscribers.append(connection)

    def unsubscribe_operator(self, connection: Connection) -> None:
        if connection in self.operator_subscribers:
            self.operator_subscribers.remove(connection)

    def tick(self) -> None:
        """Run every timer that is due.  Called often (every ~10 ms) by the server."""
        now = self.clock()
        if now - self._last_tick > STALL:
            self._forgive_stall(now - self._last_tick)
        self._last_tick = now
        if now >= self._next_health_check:
            self._next_health_check = now + HEALTH_CHECK_PERIOD
            self._check_health(now)
        if now - self._last_full_allocation >= self.options.allocation_interval:
            self._pending_agents = None
        if (self._pending_agents is None or self._pending_agents) and now >= self._allocation_due:
            self.allocate()

    def _forgive_stall(self, gap: float) -> None:
        """After this master stalled for `gap` seconds, agents and frameworks get their time back: a
        master that was paused past its ZooKeeper session must not, on waking, remove the agents and
        frameworks that only it could not hear (it learns within moments that it no longer leads)."""
        logger.warning("This master stalled for %.1f s: agents and frameworks get that time back", gap)
        for agent in self.agents.values():
            agent.last_seen += gap
        for framework in self.frameworks.values():
            if framework.failover_deadline is not None:
                framework.failover_deadline += gap
        if self.recovered_agents:
            self._reregister_deadline += gap

    def _check_health(self, now: float) -> None:
        """Offer timeouts, heartbeats, framework failover timeouts and agent pings."""
        self._expire_offers(now)
        self._check_frameworks(now)
        self._check_agents(now)
