"""The bottom layer of the master's state machine: its books and how events leave.

`MasterState` (master/state.py) is one object built in layers, one module per
concern, each a class that may use everything of the layers below it:

    core        the books (frameworks, agents, offers, ...), the counters, the outbox
    tasks       a task's life: created, status applied, ended, forgotten
    offers      allocation into offers, decline, accept and the launches it carries
    frameworks  subscription, failover, removal and the other scheduler calls
    agents      (re-)registration, reconciliation, health and the agent calls
    drains      the operator's deactivation and draining of agents
    maintenance the maintenance schedule, machines DOWN, inverse offers
    state       MasterState: leadership (recovery, safe mode), operator calls, `tick()`

Why layers and not separate components: every concern reads and writes the same
books (a launch touches the framework, the agent, the offers and the allocator),
so components would each need the others and forward most calls to them.  As
layers, every `self.x` is the one `MasterState` a newcomer already knows, each
module reads top to bottom, and mypy checks each layer against the ones below.
A timer lives with what it times (`_expire_offers`, `_check_frameworks`,
`_check_agents`); `tick()` in state.py runs them.  The counters (`metrics`)
start here and are counted where the event happens.

No layer performs I/O: events leave through the `Connection`s of frameworks,
agents and operator subscribers, and time comes from the injected clock.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from corral.allocator import Allocator
from corral.master.model import Agent, Connection, Framework, Offer
from corral.master.registry import Registry
from corral.protocol.master_info import master_info

Clock = Callable[[], float]


class CallError(Exception):
    """A call the master refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class MasterOptions:
    hostname: str = "localhost"
    ip: str = "127.0.0.1"
    port: int = 5050
    allocation_interval: float = 1.0
    # Allocation after events (offers declined, tasks ended, agents added) is batched this long.
    allocation_batch: float = 0.02
    offer_timeout: float | None = None
    heartbeat_interval: float = 15.0
    agent_ping_timeout: float = 15.0
    max_agent_ping_timeouts: int = 5
    default_refuse_seconds: float = 5.0
    roles: list[str] | None = None
    max_completed_frameworks: int = 50
    # After a failover, how long agents in the registry have to re-register.
    agent_reregister_timeout: float = 600.0
    cluster: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class MasterCore:
    def __init__(
        self,
        options: MasterOptions,
        allocator: Allocator,
        clock: Clock = time.monotonic,
        master_id: str | None = None,
        wallclock: Clock = time.time,
        registry: Registry | None = None,
    ) -> None:
        self.options = options
        self.allocator = allocator
        self.clock = clock
        self.wallclock = wallclock
        self.id = master_id or str(uuid.uuid4())
        self.start_time = wallclock()
        self.elected_time: float | None = self.start_time
        self.frameworks: dict[str, Framework] = {}
        self.completed_frameworks: deque[Framework] = deque(maxlen=options.max_completed_frameworks)
        self.removed_framework_ids: set[str] = set()
        self.agents: dict[str, Agent] = {}
        self.unreachable_agents: dict[str, float] = {}
        self.gone_agents: set[str] = set()
        # Agents an operator deactivated or drained: id -> DrainInfo JSON (None: deactivated only).
        self.deactivations: dict[str, dict[str, Any] | None] = {}
        self.offers: dict[str, Offer] = {}
        self.operator_subscribers: list[Connection] = []
        self.registry = registry or Registry()
        # Agents admitted by an earlier leader that have not re-registered yet.
        self.recovered_agents: dict[str, dict[str, Any]] = {}
        self._reregister_deadline = 0.0
        # ZooKeeper quorum lost: nothing is allocated or launched, running tasks are left alone.
        self.safe_mode = False
        self._framework_seq = 0
        self._agent_seq = 0
        self._offer_seq = 0
        self._pending_agents: set[str] | None = set()  # None means "all agents"
        self._allocation_due = clock() + options.allocation_batch
        self._last_full_allocation = clock()
        self._next_health_check = clock()
        self.metrics: dict[str, float] = {
            "master/tasks_launched": 0, "master/tasks_finished": 0, "master/tasks_failed": 0,
            "master/tasks_killed": 0, "master/tasks_lost": 0, "master/tasks_error": 0,
            "master/tasks_dropped": 0, "master/tasks_unreachable": 0, "master/tasks_gone": 0,
            "master/offers_sent": 0, "master/offers_declined": 0, "master/offers_rescinded": 0,
            "master/offers_accepted": 0, "master/invalid_status_updates": 0, "master/valid_status_updates": 0,
            "master/messages_scheduler_calls": 0, "master/slave_registrations": 0,
            "master/slave_reregistrations": 0, "master/slave_removals": 0,
            "master/slave_unreachable_completed": 0, "master/framework_registrations": 0,
            "allocator/mesos/allocation_runs": 0, "allocator/mesos/allocation_run_ms": 0.0,
            "master/safe_mode_entries": 0,  # (Corral's: a moment in safe mode shows though the gauge is back to 0)
        }

    @property
    def master_info(self) -> dict[str, Any]:
        o = self.options
        return master_info(self.id, o.hostname, o.ip, o.port)

    def _send_framework(self, framework: Framework, event: dict[str, Any]) -> None:
        if framework.connection is not None:
            framework.connection.send(event)

    def _send_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and agent.connection is not None:
            agent.connection.send(message)

    def _operator_event(self, event: dict[str, Any]) -> None:
        for connection in self.operator_subscribers:
            connection.send(event)

    def _request_allocation(self, agent_ids: Iterable[str] | None = None) -> None:
        if self._pending_agents is not None:
            if agent_ids is None:
                self._pending_agents = None
            else:
                if not self._pending_agents:
                    self._allocation_due = self.clock() + self.options.allocation_batch
                self._pending_agents.update(agent_ids)
        if self._pending_agents is None and self._allocation_due < self.clock():
            self._allocation_due = self.clock() + self.options.allocation_batch

    def _count_state(self, state: str) -> None:
        key = "master/" + state.lower().replace("task_", "tasks_")
        if key in self.metrics:
            self.metrics[key] += 1

    def _next_framework_id(self) -> str:
        framework_id = f"{self.id}-{self._framework_seq:04d}"
        self._framework_seq += 1
        return framework_id

    def _next_agent_id(self) -> str:
        agent_id = f"{self.id}-S{self._agent_seq}"
        self._agent_seq += 1
        return agent_id

    def _next_offer_id(self) -> str:
        offer_id = f"{self.id}-O{self._offer_seq}"
        self._offer_seq += 1
        return offer_id
