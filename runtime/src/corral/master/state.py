"""The master's state machine.

`MasterState` holds frameworks, agents, tasks and offers and implements what
the scheduler, agent and operator APIs ask of the master.  It performs no
I/O of its own: events leave through the `Connection`s that the HTTP layer
attaches to frameworks and agents, and time comes from the injected clock.
The HTTP layer calls `tick()` periodically; timers (offer timeouts,
framework failover, agent health, heartbeats, batched allocation) run there.
"""

from __future__ import annotations

import base64
import logging
import socket
import struct
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from corral import MESOS_API_VERSION
from corral.allocator import Allocation, Allocator
from corral.ids import validate_id, value_of, wrap
from corral.master import validation
from corral.master.model import Agent, Connection, Framework, Offer, Task
from corral.master.registry import Registry, RegistryData
from corral.protocol import states as S
from corral.resources import Resources, safe_resources as _safe_resources, validate_role

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
IMMUTABLE_FRAMEWORK_FIELDS = ("principal", "user", "checkpoint")
# Timers for offers, heartbeats, failover and agent health run at most this often.
HEALTH_CHECK_PERIOD = 0.1


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


def _ip_as_int(ip: str) -> int:
    """MasterInfo.ip: the IPv4 address as Mesos stores it (network order read as a little-endian uint32)."""
    try:
        return struct.unpack("<I", socket.inet_aton(ip))[0]
    except OSError:
        return 0


class MasterState:
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
        self.offers: dict[str, Offer] = {}
        self.operator_subscribers: list[Connection] = []
        self.registry = registry or Registry()
        # Agents admitted by an earlier leader that have not re-registered yet.
        self.recovered_agents: dict[str, dict[str, Any]] = {}
        self._reregister_deadline = 0.0
        # ZooKeeper quorum lost: nothing is allocated or launched, running tasks are left alone.
        self.safe_mode = False
        if recovered is not None:
            self._recover(recovered)
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
        }

    # ================================================================ identity

    @property
    def master_info(self) -> dict[str, Any]:
        o = self.options
        return {
            "id": self.id,
            "ip": _ip_as_int(o.ip),
            "port": o.port,
            "pid": f"master@{o.ip}:{o.port}",
            "hostname": o.hostname,
            "version": MESOS_API_VERSION,
            "address": {"hostname": o.hostname, "ip": o.ip, "port": o.port},
        }

    def _recover(self, data: RegistryData) -> None:
        """State a new leader starts from: the registry of the previous ones."""
        self.gone_agents = set(data.gone)
        self.unreachable_agents = {a: t for a, t in data.unreachable.items() if a not in data.gone}
        self.recovered_agents = {a: info for a, info in data.agents.items() if a not in data.gone and a not in self.unreachable_agents}
        self._reregister_deadline = self.clock() + self.options.agent_reregister_timeout
        if data.weights:
            self.allocator.update_weights(data.weights)
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
            for offer in list(self.offers.values()):
                self._rescind(offer, filter_seconds=None)
        else:
            logger.info("Leaving safe mode: ZooKeeper is back")
            self._request_allocation()

    # ================================================================ frameworks

    def subscribe(self, info: Any, call_framework_id: str | None, connection: Connection) -> Framework:
        """SUBSCRIBE: register a new framework or fail over an existing one."""
        if not isinstance(info, dict):
            raise CallError(400, "subscribe.framework_info is required")
        if not isinstance(info.get("name"), str):
            raise CallError(400, "subscribe.framework_info.name is required (a string)")
        if not isinstance(info.get("user", ""), str):
            raise CallError(400, "subscribe.framework_info.user must be a string")
        info_id = value_of(info.get("id"))
        if info_id is not None and info_id != call_framework_id:
            raise CallError(400, "'framework_id' of the call must equal 'subscribe.framework_info.id'")
        if call_framework_id is not None and info_id is None:
            raise CallError(400, "'subscribe.framework_info.id' is required when re-subscribing with 'framework_id'")
        capabilities = _capabilities(info)
        roles = self._validate_roles(info, capabilities)
        failover = info.get("failover_timeout")
        if failover is not None and (not isinstance(failover, (int, float)) or failover < 0):
            raise CallError(400, "subscribe.framework_info.failover_timeout must be a number >= 0")
        now = self.clock()
        if call_framework_id is not None:
            err = validate_id(call_framework_id, "framework_id")
            if err:
                raise CallError(400, err)
            if call_framework_id in self.removed_framework_ids:
                raise CallError(403, f"Framework {call_framework_id} has been removed (torn down or failed over too late)")
            framework = self.frameworks.get(call_framework_id)
            if framework is not None:
                return self._failover_framework(framework, info, roles, capabilities, connection, now)
            framework_id = call_framework_id  # known to agents, not to this master (master failover)
        else:
            framework_id = self._next_framework_id()
        info = dict(info)
        info["id"] = wrap(framework_id)
        framework = Framework(
            id=framework_id, info=info, roles=roles, capabilities=capabilities, registered_time=self.wallclock()
        )
        self.frameworks[framework_id] = framework
        self.metrics["master/framework_registrations"] += 1
        self._connect(framework, connection, now)
        self.allocator.add_framework(framework_id, roles, used=self._framework_usage(framework_id))
        logger.info("Framework %s (%s) subscribed with roles %s", framework_id, framework.name, sorted(roles))
        self._operator_event({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": self.framework_summary(framework)}})
        self._request_allocation()
        return framework

    def _failover_framework(self, framework, info, roles, capabilities, connection, now) -> Framework:
        old = framework.connection
        if old is not None and old is not connection:
            old.send(_error_event("Framework failed over"))
            old.close()
        info = dict(info)
        info["id"] = wrap(framework.id)
        for key in IMMUTABLE_FRAMEWORK_FIELDS:  # Mesos keeps these from the first subscription
            if key in framework.info:
                info[key] = framework.info[key]
            else:
                info.pop(key, None)
        self._rescind_offers_of(framework)
        recovered = framework.recovered
        framework.info = info
        framework.capabilities = capabilities
        framework.reregistered_time = self.wallclock()
        if recovered:  # its first subscription to this master (Mesos resets the registration time too)
            framework.registered_time = framework.reregistered_time
        framework.failover_deadline = None
        if roles != framework.roles:
            framework.roles = roles
            framework.suppressed_roles &= roles
        self._connect(framework, connection, now)
        self.allocator.update_framework(framework.id, roles, framework.suppressed_roles)
        self.allocator.activate_framework(framework.id)
        # To every agent, as Mesos's sendFrameworkUpdates: one may run the framework's tasks (command
        # tasks of a recovered framework are not in `executors`) and resends their pending updates.
        for agent_id in list(self.agents):
            self._send_agent(agent_id, {"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": info}})
        logger.info("Framework %s (%s) re-subscribed%s", framework.id, framework.name,
                    " after the master failover" if recovered else "")
        self._operator_event({"type": "FRAMEWORK_UPDATED", "framework_updated": {"framework": self.framework_summary(framework)}})
        self._request_allocation()
        return framework

    def _connect(self, framework: Framework, connection: Connection, now: float) -> None:
        framework.connection = connection
        framework.stream_id = str(uuid.uuid4())
        framework.connected = True
        framework.active = True
        framework.recovered = False
        framework.unregistered_time = None
        framework.last_heartbeat = now
        connection.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": wrap(framework.id),
                    "heartbeat_interval_seconds": self.options.heartbeat_interval,
                    "master_info": self.master_info,
                },
            }
        )

    def _validate_roles(self, info: dict[str, Any], capabilities: set[str]) -> set[str]:
        role, roles = info.get("role"), info.get("roles")
        if "MULTI_ROLE" in capabilities:
            if role not in (None, "*") and not roles:
                raise CallError(400, "'framework_info.role' must not be set with the MULTI_ROLE capability; use 'roles'")
            if not isinstance(roles or [], list):
                raise CallError(400, "'framework_info.roles' must be a list of strings")
            chosen = set(roles or ["*"])
        else:
            if roles:
                raise CallError(400, "'framework_info.roles' requires the MULTI_ROLE capability; use 'role'")
            chosen = {role or "*"}
        for r in chosen:
            if not isinstance(r, str):
                raise CallError(400, "framework roles must be strings")
            err = validate_role(r)
            if err:
                raise CallError(400, f"framework_info: {err}")
            if self.options.roles is not None and r != "*" and r not in self.options.roles:
                raise CallError(403, f"Role '{r}' is not present in the master's --roles ({','.join(self.options.roles)})")
        return chosen

    def framework_for_call(self, framework_id: str | None, stream_id: str | None) -> Framework:
        """Check a non-SUBSCRIBE call's framework and Mesos-Stream-Id."""
        if framework_id is None:
            raise CallError(400, "Expecting 'framework_id' to be present")
        framework = self.frameworks.get(framework_id)
        if framework is None or not framework.connected:
            raise CallError(403, f"Framework {framework_id} is not subscribed")
        if stream_id is None:
            raise CallError(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
        if stream_id != framework.stream_id:
            raise CallError(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match the stream ID currently "
                f"associated with framework ID {framework_id}",
            )
        self.metrics["master/messages_scheduler_calls"] += 1
        return framework

    def disconnect_framework(self, framework_id: str, connection: Connection) -> None:
        """The framework's event stream ended (the HTTP layer noticed)."""
        framework = self.frameworks.get(framework_id)
        if framework is None or framework.connection is not connection:
            return
        now = self.clock()
        framework.connection = None
        framework.connected = False
        framework.active = False
        framework.stream_id = None
        framework.unregistered_time = self.wallclock()
        framework.failover_deadline = now + framework.failover_timeout
        self.allocator.deactivate_framework(framework_id)
        self._rescind_offers_of(framework)
        logger.info(
            "Framework %s (%s) disconnected; failover timeout %.1fs", framework_id, framework.name, framework.failover_timeout
        )
        if framework.failover_timeout <= 0:
            self.remove_framework(framework_id, "failover timeout of 0")

    def teardown(self, framework: Framework) -> None:
        self.remove_framework(framework.id, "torn down")

    def remove_framework(self, framework_id: str, why: str) -> None:
        framework = self.frameworks.pop(framework_id, None)
        if framework is None:
            return
        logger.info("Removing framework %s (%s): %s", framework_id, framework.name, why)
        if framework.connection is not None:
            framework.connection.close()
            framework.connection = None
        framework.connected = framework.active = False
        self._rescind_offers_of(framework, notify=False)
        for agent_id in set(framework.executors) | {t.agent_id for t in framework.tasks.values()}:
            self._send_agent(agent_id, {"type": "SHUTDOWN_FRAMEWORK", "shutdown_framework": {"framework_id": wrap(framework_id)}})
        for task in list(framework.tasks.values()):
            if not task.terminal:
                self._transition(task, S.TASK_KILLED, S.SOURCE_MASTER, S.REASON_FRAMEWORK_REMOVED, "Framework removed")
            self._forget_task(task, framework)
        for agent_id, executors in framework.executors.items():
            agent = self.agents.get(agent_id)
            if agent is not None:
                for role, resources in agent.executors.pop(framework_id, {}).values():
                    self.allocator.recover_resources(framework_id, agent_id, role, resources)
        self.allocator.remove_framework(framework_id)
        framework.unregistered_time = framework.unregistered_time or self.wallclock()
        self.completed_frameworks.append(framework)
        self.removed_framework_ids.add(framework_id)
        self._operator_event({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": framework.info}})
        self._request_allocation()

    # ---------------------------------------------------------------- offers

    def decline(self, framework: Framework, offer_ids: Iterable[str], refuse_seconds: float | None) -> None:
        for offer_id in offer_ids:
            offer = self.offers.get(offer_id)
            if offer is None or offer.framework_id != framework.id:
                continue  # Mesos ignores unknown offers in DECLINE
            self._remove_offer(offer)
            self.metrics["master/offers_declined"] += 1
            self.allocator.recover_resources(
                framework.id, offer.agent_id, offer.role, offer.resources, self._refuse(refuse_seconds)
            )
            self._request_allocation([offer.agent_id])

    def _refuse(self, refuse_seconds: float | None) -> float:
        """Mesos's rules: unset or negative means the default; at most 365 days."""
        if refuse_seconds is None or refuse_seconds < 0:
            return self.options.default_refuse_seconds
        return min(refuse_seconds, MAX_REFUSE_SECONDS)

    def accept(
        self,
        framework: Framework,
        offer_ids: list[str],
        operations: list[dict[str, Any]],
        refuse_seconds: float | None,
    ) -> None:
        """ACCEPT: launch tasks and task groups from one agent's offers."""
        error = self._check_offers(framework, offer_ids)
        if error is None and self.safe_mode:
            error = "The master is in safe mode (ZooKeeper quorum lost); nothing is launched until it returns"
        if error is not None:
            for offer_id in offer_ids:
                offer = self.offers.get(offer_id)
                if offer is not None and offer.framework_id == framework.id:
                    self._remove_offer(offer)
                    self.allocator.recover_resources(framework.id, offer.agent_id, offer.role, offer.resources)
                    self._request_allocation([offer.agent_id])
            state = S.TASK_DROPPED if framework.partition_aware else S.TASK_LOST
            for task in _launched_tasks(operations):
                self.send_unlaunched_status(framework, task, state, S.REASON_INVALID_OFFERS, error)
            return
        offers = [self.offers[o] for o in offer_ids]
        agent_id = offers[0].agent_id
        role = offers[0].role
        remaining = Resources()
        for offer in offers:
            self._remove_offer(offer)
            remaining = remaining + offer.resources
        self.metrics["master/offers_accepted"] += len(offers)
        agent = self.agents.get(agent_id)
        for operation in operations:
            kind = operation.get("type")
            if kind == "LAUNCH":
                tasks = (operation.get("launch") or {}).get("task_infos") or []
                for task in tasks:
                    remaining = self._launch_task(framework, agent, agent_id, role, task, remaining)
            elif kind == "LAUNCH_GROUP":
                remaining = self._launch_group(framework, agent, agent_id, role, operation.get("launch_group") or {}, remaining)
        if not remaining.is_empty():
            self.allocator.recover_resources(framework.id, agent_id, role, remaining, self._refuse(refuse_seconds))
        self._request_allocation([agent_id])

    def _check_offers(self, framework: Framework, offer_ids: list[str]) -> str | None:
        if not offer_ids:
            return "No offers specified"
        if len(set(offer_ids)) != len(offer_ids):
            return "Duplicate offers in the call"
        agents, roles = set(), set()
        for offer_id in offer_ids:
            offer = self.offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} is no longer valid"
            if offer.framework_id != framework.id:
                return f"Offer {offer_id} has invalid framework"
            agents.add(offer.agent_id)
            roles.add(offer.role)
        if len(agents) > 1:
            return "Aggregated offers must belong to one single agent"
        if len(roles) > 1:
            return "Aggregated offers must be allocated to the same role"
        agent = self.agents.get(next(iter(agents)))
        if agent is None or not agent.connected:
            return "Agent of the offers is not connected"
        return None

    def _launch_task(self, framework, agent, agent_id, role, task, remaining: Resources) -> Resources:
        """Validate one TaskInfo against what is left of the offers; launch it or answer TASK_ERROR."""
        error = validation.validate_task(
            task, framework_id=framework.id, agent_id=agent_id, active_task_ids=framework.tasks
        )
        needed = Resources()
        executor = task.get("executor") if isinstance(task, dict) else None
        if error is None:
            error = validation.validate_allocation_roles(task.get("resources", []), role, "task.resources")
        if error is None:
            task_needs, error = validation.task_resources(task)
            needed = task_needs or Resources()
        if error is None and executor is not None:
            executor_resources, error = self._executor_needs(framework, agent_id, role, executor)
            needed = needed + executor_resources
        if error is None and not remaining.contains(needed):
            error = f"Task uses more resources {needed.to_text()} than available {remaining.to_text()} in the offers"
        if error is not None:
            self.send_unlaunched_status(framework, task, S.TASK_ERROR, S.REASON_TASK_INVALID, error)
            return remaining
        task_json = _with_allocation_role(task, role)
        if executor is not None:
            task_json["executor"] = self._register_executor(framework, agent, agent_id, role, executor)
        self._create_task(framework, agent_id, role, task_json, value_of((executor or {}).get("executor_id")))
        self._send_agent(
            agent_id, {"type": "RUN_TASK", "run_task": {"framework_info": framework.info, "task": task_json}}
        )
        return remaining - needed

    def _launch_group(self, framework, agent, agent_id, role, launch_group, remaining: Resources) -> Resources:
        executor = launch_group.get("executor")
        tasks = (launch_group.get("task_group") or {}).get("tasks") or []
        error = None
        if not tasks:
            error = "launch_group.task_group.tasks must not be empty"
        if error is None:
            error = validation.validate_executor_info(executor, framework.id, "launch_group.executor")
        needed = Resources()
        if error is None:
            needed, error = self._executor_needs(framework, agent_id, role, executor)
        seen: set[str] = set(framework.tasks)
        for task in tasks:
            if error is not None:
                break
            error = validation.validate_task(
                task, framework_id=framework.id, agent_id=agent_id, active_task_ids=seen, in_group=True
            )
            if error is None:
                error = validation.validate_allocation_roles(task.get("resources", []), role, "task.resources")
            if error is None:
                res, error = validation.task_resources(task)
                needed = needed + (res or Resources())
                seen.add(value_of(task["task_id"]) or "")
        if error is None and not remaining.contains(needed):
            error = f"Task group uses more resources {needed.to_text()} than available {remaining.to_text()} in the offers"
        if error is not None:
            for task in tasks:
                self.send_unlaunched_status(framework, task, S.TASK_ERROR, S.REASON_TASK_GROUP_INVALID, error)
            return remaining
        remaining = remaining - needed
        executor_json = self._register_executor(framework, agent, agent_id, role, executor)
        executor_id = value_of(executor_json["executor_id"])
        group = [_with_allocation_role(t, role) for t in tasks]
        for task_json in group:
            self._create_task(framework, agent_id, role, task_json, executor_id)
        self._send_agent(
            agent_id,
            {
                "type": "RUN_TASK_GROUP",
                "run_task_group": {"framework_info": framework.info, "executor_info": executor_json, "task_group": {"tasks": group}},
            },
        )
        return remaining

    def _executor_needs(self, framework, agent_id, role, executor) -> tuple[Resources, str | None]:
        """Resources a (new) executor needs; an existing one must be identical."""
        executor_id = value_of(executor.get("executor_id"))
        existing = framework.executors.get(agent_id, {}).get(executor_id or "")
        if existing is not None:
            if existing != _normalize_executor(executor, framework.id, role):
                return Resources(), "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID"
            return Resources(), None
        resources, error = validation.task_resources(executor, "executor.resources")
        if error is None:
            error = validation.validate_allocation_roles(executor.get("resources", []), role, "executor.resources")
        return resources or Resources(), error

    def _register_executor(self, framework, agent, agent_id, role, executor) -> dict[str, Any]:
        executor_json = _normalize_executor(executor, framework.id, role)
        executor_id = value_of(executor_json["executor_id"]) or ""
        if executor_id not in framework.executors.get(agent_id, {}):
            framework.executors.setdefault(agent_id, {})[executor_id] = executor_json
            resources = Resources.from_json(executor_json.get("resources", []))
            if agent is not None and not resources.is_empty():
                agent.executors.setdefault(framework.id, {})[executor_id] = (role, resources)
        return executor_json

    def _create_task(self, framework, agent_id, role, task_json, executor_id) -> None:
        agent = self.agents.get(agent_id)
        resources = Resources.from_json(task_json.get("resources", []))
        task = Task(
            task_id=value_of(task_json["task_id"]) or "",
            framework_id=framework.id,
            agent_id=agent_id,
            executor_id=executor_id,
            name=task_json.get("name", ""),
            role=role,
            resources=resources,
            info=task_json,
        )
        framework.tasks[task.task_id] = task
        if agent is not None:
            agent.tasks.setdefault(framework.id, {})[task.task_id] = task
        task.statuses.append({"state": S.TASK_STAGING, "timestamp": self.wallclock()})
        self.metrics["master/tasks_launched"] += 1
        self._operator_event({"type": "TASK_ADDED", "task_added": {"task": task.operator_json()}})

    def send_unlaunched_status(self, framework, task, state, reason, message) -> None:
        """A status for a task that never got launched (it, its offers or its authorization were bad)."""
        task_id = value_of(task.get("task_id")) if isinstance(task, dict) else None
        agent_id = value_of(task.get("agent_id")) if isinstance(task, dict) else None
        status = {
            "task_id": wrap(task_id or ""),
            "state": state,
            "source": S.SOURCE_MASTER,
            "reason": reason,
            "message": message,
            "timestamp": self.wallclock(),
        }
        if agent_id:
            status["agent_id"] = wrap(agent_id)
        self._count_state(state)
        logger.info("Task %s of framework %s: %s (%s)", task_id, framework.id, state, message)
        self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    # ---------------------------------------------------------------- other scheduler calls

    def revive(self, framework: Framework, roles: list[str] | None) -> None:
        targets = set(roles) if roles else set(framework.roles)
        self._check_roles_subscribed(framework, targets, "revive")
        framework.suppressed_roles -= targets
        self.allocator.revive(framework.id, targets)
        self._request_allocation()

    def suppress(self, framework: Framework, roles: list[str] | None) -> None:
        targets = set(roles) if roles else set(framework.roles)
        self._check_roles_subscribed(framework, targets, "suppress")
        framework.suppressed_roles |= targets
        self.allocator.suppress(framework.id, targets)

    @staticmethod
    def _check_roles_subscribed(framework: Framework, roles: set[str], call: str) -> None:
        unknown = roles - framework.roles
        if unknown:
            raise CallError(400, f"{call}.roles: framework is not subscribed to role(s) {', '.join(sorted(unknown))}")

    def kill(self, framework: Framework, task_id: str, agent_id: str | None, kill_policy: Any) -> None:
        task = framework.tasks.get(task_id)
        if task is None:
            # As Mesos: killing an unknown task is answered by reconciling it.
            self.reconcile(framework, [{"task_id": wrap(task_id), **({"agent_id": wrap(agent_id)} if agent_id else {})}])
            return
        if task.terminal:
            return
        message: dict[str, Any] = {"framework_id": wrap(framework.id), "task_id": wrap(task_id)}
        if kill_policy is not None:
            message["kill_policy"] = kill_policy
        self._send_agent(task.agent_id, {"type": "KILL_TASK", "kill_task": message})

    def shutdown_executor(self, framework: Framework, executor_id: str, agent_id: str) -> None:
        if agent_id not in self.agents:
            raise CallError(400, f"shutdown.agent_id: unknown agent {agent_id}")
        self._send_agent(
            agent_id,
            {"type": "SHUTDOWN_EXECUTOR", "shutdown_executor": {"framework_id": wrap(framework.id), "executor_id": wrap(executor_id)}},
        )

    def acknowledge(self, framework: Framework, agent_id: str, task_id: str, status_uuid: str) -> None:
        try:
            valid = len(base64.b64decode(status_uuid, validate=True)) == 16
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise CallError(400, "acknowledge.uuid must be the base64 encoding of a 16-byte UUID")
        task = framework.tasks.get(task_id)
        self._send_agent(
            agent_id,
            {
                "type": "ACKNOWLEDGE",
                "acknowledge": {"framework_id": wrap(framework.id), "task_id": wrap(task_id), "uuid": status_uuid},
            },
        )
        if task is not None and task.terminal and task.terminal_uuid == status_uuid:
            self._forget_task(task)

    def reconcile(self, framework: Framework, tasks: list[dict[str, Any]]) -> None:
        now = self.wallclock()
        if not tasks:  # implicit: the latest state of every task the master knows
            for task in framework.tasks.values():
                if not task.terminal or task.terminal_uuid is not None:
                    self._send_framework(framework, self._reconcile_update(task, now))
            return
        for entry in tasks:
            task_id = value_of(entry.get("task_id")) if isinstance(entry, dict) else None
            if task_id is None:
                raise CallError(400, "reconcile.tasks[].task_id is required")
            agent_id = value_of(entry.get("agent_id"))
            known = framework.tasks.get(task_id)
            if known is not None:
                self._send_framework(framework, self._reconcile_update(known, now))
                continue
            if agent_id in self.recovered_agents or (agent_id is None and self.recovered_agents):
                # As Mesos: no answer while the task's agent may still re-register after a failover;
                # once it is back (or declared unreachable) a later reconciliation gets one.
                continue
            pa = framework.partition_aware
            if agent_id is not None and agent_id in self.unreachable_agents:
                state, message = (S.TASK_UNREACHABLE if pa else S.TASK_LOST), "Reconciliation: Task is unreachable"
            elif agent_id is not None and agent_id in self.gone_agents:
                state, message = (S.TASK_GONE_BY_OPERATOR if pa else S.TASK_LOST), "Reconciliation: Task is gone"
            elif agent_id is not None and agent_id in self.agents:
                state, message = (S.TASK_GONE if pa else S.TASK_LOST), "Reconciliation: Task is unknown to the agent"
            else:
                state, message, agent_id = (S.TASK_UNKNOWN if pa else S.TASK_LOST), "Reconciliation: Task is unknown", None
            status = {
                "task_id": wrap(task_id), "state": state, "source": S.SOURCE_MASTER,
                "reason": S.REASON_RECONCILIATION, "message": message, "timestamp": now,
            }
            if agent_id:
                status["agent_id"] = wrap(agent_id)
            self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    def _reconcile_update(self, task: Task, now: float) -> dict[str, Any]:
        status = {k: v for k, v in (task.status or {}).items() if k not in ("uuid", "data")}
        status.update(
            {
                "task_id": wrap(task.task_id), "state": task.state, "source": S.SOURCE_MASTER,
                "reason": S.REASON_RECONCILIATION, "agent_id": wrap(task.agent_id), "timestamp": now,
            }
        )
        status["message"] = "Reconciliation: Latest task state"
        if task.executor_id:
            status["executor_id"] = wrap(task.executor_id)
        return {"type": "UPDATE", "update": {"status": status}}

    def framework_message(self, framework: Framework, agent_id: str, executor_id: str, data: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise CallError(400, f"message.agent_id: unknown agent {agent_id}")
        self._send_agent(
            agent_id,
            {
                "type": "FRAMEWORK_MESSAGE",
                "framework_message": {"framework_id": wrap(framework.id), "executor_id": wrap(executor_id), "data": data},
            },
        )

    # ================================================================ agents

    def register_agent(
        self,
        info: dict[str, Any],
        total: Resources,
        connection: Connection,
        agent_id: str | None = None,
        tasks: list[dict[str, Any]] | None = None,
        executors: list[dict[str, Any]] | None = None,
        frameworks: list[dict[str, Any]] | None = None,
        version: str = "",
    ) -> Agent:
        now = self.clock()
        if agent_id is not None and agent_id in self.gone_agents:
            raise CallError(403, f"Agent {agent_id} has been marked gone and may not re-register")
        reregistering = agent_id is not None
        if agent_id is None:
            agent_id = self._next_agent_id()
        existing = self.agents.get(agent_id)
        if existing is not None:
            old = existing.connection
            if old is not None and old is not connection:
                old.close()
            self._remove_agent_from_cluster(existing, reason=None)
        was_unreachable = self.unreachable_agents.pop(agent_id, None) is not None
        self.recovered_agents.pop(agent_id, None)
        info = dict(info)
        info["id"] = wrap(agent_id)
        agent = Agent(
            id=agent_id, info=info, total=total, registered_time=self.wallclock(), connection=connection,
            stream_id=str(uuid.uuid4()), version=version, last_seen=now, last_ping=now,
        )
        if reregistering:
            agent.reregistered_time = agent.registered_time
            self.metrics["master/slave_reregistrations"] += 1
        else:
            self.metrics["master/slave_registrations"] += 1
        self.agents[agent_id] = agent
        connection.send(
            {
                "type": "REGISTERED",
                "registered": {
                    "agent_id": wrap(agent_id),
                    "master_info": self.master_info,
                    "ping_interval_seconds": self.options.agent_ping_timeout,
                },
            }
        )
        self.registry.admit_agent(agent_id, info)
        self._recover_agent_frameworks(frameworks or [])
        used = self._reconcile_agent(agent, existing, tasks or [], executors or [], was_unreachable)
        self.allocator.add_agent(agent_id, total, used=used, attributes={a.get("name"): a for a in info.get("attributes", [])})
        logger.info(
            "Agent %s at %s %s with %s", agent_id, agent.hostname, "re-registered" if reregistering else "registered", total.to_text()
        )
        self._operator_event({"type": "AGENT_ADDED", "agent_added": {"agent": self.agent_summary(agent)}})
        self._request_allocation([agent_id])
        return agent

    def _recover_agent_frameworks(self, infos: list[dict[str, Any]]) -> None:
        """Frameworks an agent knows but this master does not (after a master failover).

        As Mesos's `Master::recoverFramework`: the framework is RECOVERED (inactive, not
        connected) and kept with its tasks until it subscribes again or an operator tears it
        down.  No failover timer runs for it: its failover_timeout counts only from a
        disconnection that this master itself sees (`disconnect_framework`).
        """
        for info in infos:
            framework_id = value_of(info.get("id"))
            if not framework_id or framework_id in self.frameworks or framework_id in self.removed_framework_ids:
                continue
            capabilities = _capabilities(info)
            try:
                roles = self._validate_roles(info, capabilities)
            except CallError:
                roles = {"*"}
            framework = Framework(
                id=framework_id, info=dict(info), roles=roles, capabilities=capabilities, registered_time=self.wallclock()
            )
            framework.recovered = True
            self.frameworks[framework_id] = framework
            self.allocator.add_framework(framework_id, roles, active=False)
            logger.info("Recovered framework %s (%s) from an agent; awaiting re-subscription", framework_id, framework.name)
            # As Mesos's recoverFramework: operator subscribers learn of it now, as a recovered framework.
            self._operator_event({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": self.framework_summary(framework)}})

    def _reconcile_agent(self, agent: Agent, previous: Agent | None, reported_tasks, reported_executors, was_unreachable: bool):
        """Merge what a (re-)registering agent runs with what the master believed."""
        used: dict[str, dict[str, Resources]] = {}
        reported_ids: set[tuple[str, str]] = set()
        for entry in reported_executors:
            framework_id = value_of(entry.get("framework_id"))
            executor = entry.get("executor_info") or {}
            executor_id = value_of(executor.get("executor_id"))
            framework = self.frameworks.get(framework_id or "")
            if framework is None or executor_id is None:
                continue
            framework.executors.setdefault(agent.id, {})[executor_id] = executor
            role = _allocation_role(executor.get("resources", []), framework)
            resources = _safe_resources(executor.get("resources", []))
            if not resources.is_empty():
                agent.executors.setdefault(framework.id, {})[executor_id] = (role, resources)
                _add_used(used, framework.id, role, resources)
        for entry in reported_tasks:
            framework_id = value_of(entry.get("framework_id"))
            task_id = value_of(entry.get("task_id"))
            framework = self.frameworks.get(framework_id or "")
            if framework is None or task_id is None:
                continue
            reported_ids.add((framework.id, task_id))
            state = entry.get("state", S.TASK_RUNNING)
            task = framework.tasks.get(task_id)
            if task is None and was_unreachable and not framework.partition_aware:
                # Already reported TASK_LOST to a framework that cannot take it back: kill it.
                self._send_agent(agent.id, {"type": "KILL_TASK", "kill_task": {"framework_id": wrap(framework.id), "task_id": wrap(task_id)}})
                continue
            if task is None:
                role = _allocation_role(entry.get("resources", []), framework)
                task = Task(
                    task_id=task_id, framework_id=framework.id, agent_id=agent.id,
                    executor_id=value_of((entry.get("executor") or {}).get("executor_id")) or value_of(entry.get("executor_id")),
                    name=entry.get("name", ""), role=role, resources=_safe_resources(entry.get("resources", [])),
                    info={k: v for k, v in entry.items() if k not in ("state", "status", "framework_id")}, state=state,
                )
                task.status = entry.get("status")
                framework.tasks[task_id] = task
            agent.tasks.setdefault(framework.id, {})[task_id] = task
            if not task.terminal and task.state != S.TASK_UNREACHABLE and state in S.ALL_STATES:
                task.state = state  # the agent knows best (updates may still be on their way)
            if task.state == S.TASK_UNREACHABLE:
                task.agent_id = agent.id
                self._transition(task, state, S.SOURCE_MASTER, S.REASON_AGENT_REREGISTERED, "Agent re-registered")
            if not task.terminal:
                _add_used(used, framework.id, task.role, task.resources)
        # Tasks the master believed were on this agent but the agent does not report.
        if previous is not None:
            for framework_id, tasks in previous.tasks.items():
                for task_id, task in tasks.items():
                    if (framework_id, task_id) in reported_ids or task.terminal:
                        continue
                    framework = self.frameworks.get(framework_id)
                    state = S.TASK_GONE if framework and framework.partition_aware else S.TASK_LOST
                    self._transition(task, state, S.SOURCE_MASTER, S.REASON_TASK_UNKNOWN, "Task is unknown to the agent")
                    self._forget_task(task)
        return used

    def disconnect_agent(self, agent_id: str, connection: Connection) -> None:
        agent = self.agents.get(agent_id)
        if agent is None or agent.connection is not connection:
            return
        agent.connection = None
        agent.connected = False
        self.allocator.deactivate_agent(agent_id)
        self._rescind_offers_on(agent)
        logger.info("Agent %s at %s disconnected", agent_id, agent.hostname)

    def agent_for_call(self, agent_id: str | None, stream_id: str | None) -> Agent:
        agent = self.agents.get(agent_id or "")
        if agent is None or not agent.connected:
            raise CallError(403, f"Agent {agent_id} is not registered")
        if stream_id != agent.stream_id:
            raise CallError(400, "Agent call with a stale or missing stream id")
        agent.last_seen = self.clock()
        return agent

    def agent_pong(self, agent: Agent) -> None:
        agent.last_seen = self.clock()

    def status_update(self, agent: Agent, update: dict[str, Any]) -> None:
        """A status update from an agent; forwarded to the framework, which acknowledges it."""
        status = update.get("status") if isinstance(update, dict) else None
        framework_id = value_of(update.get("framework_id")) if isinstance(update, dict) else None
        task_id = value_of(status.get("task_id")) if isinstance(status, dict) else None
        state = status.get("state") if isinstance(status, dict) else None
        if framework_id is None or task_id is None or state not in S.ALL_STATES:
            self.metrics["master/invalid_status_updates"] += 1
            raise CallError(400, "update: framework_id, status.task_id and a valid status.state are required")
        self.metrics["master/valid_status_updates"] += 1
        assert isinstance(status, dict) and isinstance(state, str)
        framework = self.frameworks.get(framework_id)
        if framework is None:
            return  # unknown framework: the agent keeps retrying until it re-subscribes or is removed
        task = framework.tasks.get(task_id)
        latest = update.get("latest_state") or state
        if task is not None:
            self._apply_status(task, status, latest)
        if framework.connected:
            self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    def _apply_status(self, task: Task, status: dict[str, Any], latest_state: str) -> None:
        was_terminal = task.terminal
        task.status = status
        if not was_terminal:
            task.state = latest_state
            task.statuses.append({"state": status["state"], "timestamp": status.get("timestamp", self.wallclock())})
            if len(task.statuses) > 20:
                del task.statuses[1:-19]
        if task.terminal and not was_terminal:
            self._count_state(task.state)
            self._release_task_resources(task)
        if status.get("state") in S.TERMINAL_STATES and status.get("uuid"):
            task.terminal_uuid = status["uuid"]
        self._operator_event({"type": "TASK_UPDATED", "task_updated": {
            "framework_id": wrap(task.framework_id), "status": status, "state": task.state}})

    def agent_message(self, agent: Agent, framework_id: str, executor_id: str, data: str) -> None:
        framework = self.frameworks.get(framework_id)
        if framework is None or not framework.connected:
            return
        self._send_framework(
            framework,
            {"type": "MESSAGE", "message": {"agent_id": wrap(agent.id), "executor_id": wrap(executor_id), "data": data}},
        )

    def executor_exited(self, agent: Agent, framework_id: str, executor_id: str, status: int | None) -> None:
        framework = self.frameworks.get(framework_id)
        if framework is not None:
            framework.executors.get(agent.id, {}).pop(executor_id, None)
            if not framework.executors.get(agent.id, True):
                framework.executors.pop(agent.id, None)
        entry = agent.executors.get(framework_id, {}).pop(executor_id, None)
        if entry is not None:
            role, resources = entry
            self.allocator.recover_resources(framework_id, agent.id, role, resources)
            self._request_allocation([agent.id])
        if framework is not None and framework.connected and status is not None:
            self._send_framework(
                framework,
                {"type": "FAILURE", "failure": {"agent_id": wrap(agent.id), "executor_id": wrap(executor_id), "status": status}},
            )

    def mark_agent_gone(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent is None and agent_id not in self.unreachable_agents and agent_id not in self.recovered_agents:
            raise CallError(404, f"Agent {agent_id} is unknown")
        self.gone_agents.add(agent_id)
        self.unreachable_agents.pop(agent_id, None)
        self.recovered_agents.pop(agent_id, None)
        self.registry.mark_gone(agent_id)
        if agent is not None:
            self._send_agent(agent_id, {"type": "SHUTDOWN", "shutdown": {"message": "Agent marked gone by an operator"}})
            self._remove_agent_from_cluster(agent, reason=S.REASON_AGENT_REMOVED_BY_OPERATOR, gone=True)
        for framework in self.frameworks.values():
            for task in list(framework.tasks.values()):
                if task.agent_id == agent_id and task.state == S.TASK_UNREACHABLE:
                    self._transition(task, S.TASK_GONE_BY_OPERATOR, S.SOURCE_MASTER, S.REASON_AGENT_REMOVED_BY_OPERATOR, "Agent marked gone")
                    self._forget_task(task)

    def _mark_unreachable(self, agent: Agent) -> None:
        logger.warning("Agent %s at %s is unreachable: removing it and its tasks", agent.id, agent.hostname)
        self.unreachable_agents[agent.id] = self.wallclock()
        self.registry.mark_unreachable(agent.id, self.unreachable_agents[agent.id])
        self.metrics["master/slave_unreachable_completed"] += 1
        if agent.connection is not None:
            agent.connection.close()
        self._remove_agent_from_cluster(agent, reason=S.REASON_AGENT_REMOVED)

    def _remove_agent_from_cluster(self, agent: Agent, reason: str | None, gone: bool = False) -> None:
        """Drop an agent from the allocator; with a reason, its tasks are reported lost/unreachable."""
        self.agents.pop(agent.id, None)
        self._rescind_offers_on(agent)
        self.allocator.remove_agent(agent.id)
        if reason is None:
            return
        self.metrics["master/slave_removals"] += 1
        for framework_id, tasks in agent.tasks.items():
            framework = self.frameworks.get(framework_id)
            for task in list(tasks.values()):
                if task.terminal:
                    continue
                if gone:
                    state = S.TASK_GONE_BY_OPERATOR if framework and framework.partition_aware else S.TASK_LOST
                else:
                    state = S.TASK_UNREACHABLE if framework and framework.partition_aware else S.TASK_LOST
                self._transition(task, state, S.SOURCE_MASTER, reason, f"Agent {agent.id} was removed: {'gone' if gone else 'unreachable'}")
                if state == S.TASK_UNREACHABLE:
                    self.metrics["master/tasks_unreachable"] += 1
                elif task.terminal:
                    self._forget_task(task)
        for framework_id in agent.executors:
            framework = self.frameworks.get(framework_id)
            if framework is not None:
                framework.executors.pop(agent.id, None)
        self._operator_event({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": wrap(agent.id)}})

    # ================================================================ operator

    def update_weights(self, weights: dict[str, float]) -> None:
        self.allocator.update_weights(weights)
        self.registry.set_weights(self.allocator.weights())
        self._request_allocation()

    def subscribe_operator(self, connection: Connection) -> None:
        self.operator_subscribers.append(connection)

    def unsubscribe_operator(self, connection: Connection) -> None:
        if connection in self.operator_subscribers:
            self.operator_subscribers.remove(connection)

    def _operator_event(self, event: dict[str, Any]) -> None:
        for connection in self.operator_subscribers:
            connection.send(event)

    # ================================================================ time

    def tick(self) -> None:
        """Run every timer that is due.  Called often (every ~10 ms) by the server."""
        now = self.clock()
        if now >= self._next_health_check:
            self._next_health_check = now + HEALTH_CHECK_PERIOD
            self._check_health(now)
        if now - self._last_full_allocation >= self.options.allocation_interval:
            self._pending_agents = None
        if (self._pending_agents is None or self._pending_agents) and now >= self._allocation_due:
            self.allocate()

    def _check_health(self, now: float) -> None:
        """Offer timeouts, heartbeats, framework failover timeouts and agent pings."""
        o = self.options
        if o.offer_timeout is not None:
            for offer in [x for x in self.offers.values() if x.expires is not None and x.expires <= now]:
                self._rescind(offer, filter_seconds=None)
        for framework in list(self.frameworks.values()):
            if framework.connected:
                if now - framework.last_heartbeat >= o.heartbeat_interval:
                    framework.last_heartbeat = now
                    self._send_framework(framework, {"type": "HEARTBEAT"})
            elif not framework.recovered and framework.failover_deadline is not None and now >= framework.failover_deadline:
                self.remove_framework(framework.id, "failover timeout expired")
        budget = o.agent_ping_timeout * o.max_agent_ping_timeouts
        for agent in list(self.agents.values()):
            if agent.connected and now - agent.last_ping >= o.agent_ping_timeout:
                agent.last_ping = now
                self._send_agent(agent.id, {"type": "PING"})
            if now - agent.last_seen > budget and not self.safe_mode:
                self._mark_unreachable(agent)
        if self.recovered_agents and now >= self._reregister_deadline and not self.safe_mode:
            for agent_id in list(self.recovered_agents):
                logger.warning("Agent %s did not re-register after the failover: marking it unreachable", agent_id)
                del self.recovered_agents[agent_id]
                self.unreachable_agents[agent_id] = self.wallclock()
                self.registry.mark_unreachable(agent_id, self.unreachable_agents[agent_id])

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

    def allocate(self) -> list[Offer]:
        if self.safe_mode:
            return []
        pending = self._pending_agents
        self._pending_agents = set()
        if pending is None:
            self._last_full_allocation = self.clock()
        started = time.perf_counter()
        allocations = self.allocator.allocate(None if pending is None else pending)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics["allocator/mesos/allocation_runs"] += 1
        self.metrics["allocator/mesos/allocation_run_ms"] = elapsed_ms
        return self._make_offers(allocations)

    def _make_offers(self, allocations: list[Allocation]) -> list[Offer]:
        now = self.clock()
        by_framework: dict[str, list[Offer]] = {}
        for allocation in allocations:
            framework = self.frameworks.get(allocation.framework_id)
            agent = self.agents.get(allocation.agent_id)
            if framework is None or not framework.connected or agent is None or not agent.connected:
                self.allocator.recover_resources(allocation.framework_id, allocation.agent_id, allocation.role, allocation.resources)
                continue
            offer = Offer(
                id=self._next_offer_id(), framework_id=framework.id, agent_id=agent.id, role=allocation.role,
                resources=allocation.resources, created=now,
                expires=None if self.options.offer_timeout is None else now + self.options.offer_timeout,
            )
            self.offers[offer.id] = offer
            framework.offers.add(offer.id)
            agent.offers.add(offer.id)
            by_framework.setdefault(framework.id, []).append(offer)
        made = []
        for framework_id, offers in by_framework.items():
            framework = self.frameworks[framework_id]
            self.metrics["master/offers_sent"] += len(offers)
            self._send_framework(framework, {"type": "OFFERS", "offers": {"offers": [self.offer_json(o) for o in offers]}})
            made.extend(offers)
        return made

    # ================================================================ helpers

    def offer_json(self, offer: Offer) -> dict[str, Any]:
        agent = self.agents[offer.agent_id]
        framework = self.frameworks[offer.framework_id]
        multi_role = "MULTI_ROLE" in framework.capabilities
        out = {
            "id": wrap(offer.id),
            "framework_id": wrap(offer.framework_id),
            "agent_id": wrap(agent.id),
            "hostname": agent.hostname,
            "url": {
                "scheme": "http",
                "address": {"hostname": agent.hostname, "ip": agent.info.get("ip", agent.hostname), "port": agent.port},
                "path": "/slave(1)",
            },
            # Frameworks without MULTI_ROLE get no allocation_info (as Mesos strips it for them).
            "resources": offer.resources.to_json(
                allocation_role=offer.role if multi_role else None,
                refinement="RESERVATION_REFINEMENT" in framework.capabilities,
            ),
            "attributes": agent.info.get("attributes", []),
            "executor_ids": [wrap(e) for e in framework.executors.get(agent.id, {})],
        }
        if multi_role:
            out["allocation_info"] = {"role": offer.role}
        return out

    def agent_summary(self, agent: Agent) -> dict[str, Any]:
        return {
            "agent_info": agent.info,
            "active": agent.active and agent.connected,
            "version": agent.version,
            "pid": agent.pid,
            "registered_time": {"nanoseconds": int(agent.registered_time * 1e9)},
            "total_resources": agent.total.to_json(),
        }

    def framework_summary(self, framework: Framework) -> dict[str, Any]:
        return {
            "framework_info": framework.info,
            "active": framework.active,
            "connected": framework.connected,
            "recovered": framework.recovered,
            "registered_time": {"nanoseconds": int(framework.registered_time * 1e9)},
        }

    def _send_framework(self, framework: Framework, event: dict[str, Any]) -> None:
        if framework.connection is not None:
            framework.connection.send(event)

    def _send_agent(self, agent_id: str, message: dict[str, Any]) -> None:
        agent = self.agents.get(agent_id)
        if agent is not None and agent.connection is not None:
            agent.connection.send(message)

    def _transition(self, task: Task, state: str, source: str, reason: str, message: str) -> None:
        """A master-generated status (no uuid: frameworks need not acknowledge it)."""
        framework = self.frameworks.get(task.framework_id)
        status: dict[str, Any] = {
            "task_id": wrap(task.task_id), "state": state, "source": source, "reason": reason, "message": message,
            "agent_id": wrap(task.agent_id), "timestamp": self.wallclock(),
        }
        if state == S.TASK_UNREACHABLE:
            status["unreachable_time"] = {"nanoseconds": int(status["timestamp"] * 1e9)}
        if task.executor_id:
            status["executor_id"] = wrap(task.executor_id)
        self._apply_status(task, status, state)
        if framework is not None and framework.connected:
            self._send_framework(framework, {"type": "UPDATE", "update": {"status": status}})

    def _release_task_resources(self, task: Task) -> None:
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            self.allocator.recover_resources(task.framework_id, task.agent_id, task.role, task.resources)
            self._request_allocation([task.agent_id])

    def _forget_task(self, task: Task, framework: Framework | None = None) -> None:
        """Move a task that ended (and was acknowledged) to its framework's completed tasks."""
        framework = framework or self.frameworks.get(task.framework_id)
        if framework is not None and framework.tasks.get(task.task_id) is task:
            del framework.tasks[task.task_id]
            framework.completed_tasks.append(task)
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            tasks = agent.tasks.get(task.framework_id, {})
            if tasks.get(task.task_id) is task:
                del tasks[task.task_id]
                if not tasks:
                    agent.tasks.pop(task.framework_id, None)

    def _count_state(self, state: str) -> None:
        key = "master/" + state.lower().replace("task_", "tasks_")
        if key in self.metrics:
            self.metrics[key] += 1

    def _remove_offer(self, offer: Offer) -> None:
        self.offers.pop(offer.id, None)
        framework = self.frameworks.get(offer.framework_id)
        if framework is not None:
            framework.offers.discard(offer.id)
        agent = self.agents.get(offer.agent_id)
        if agent is not None:
            agent.offers.discard(offer.id)

    def _rescind(self, offer: Offer, filter_seconds: float | None, notify: bool = True) -> None:
        self._remove_offer(offer)
        self.metrics["master/offers_rescinded"] += 1
        self.allocator.recover_resources(offer.framework_id, offer.agent_id, offer.role, offer.resources, filter_seconds)
        framework = self.frameworks.get(offer.framework_id)
        if notify and framework is not None:
            self._send_framework(framework, {"type": "RESCIND", "rescind": {"offer_id": wrap(offer.id)}})
        self._request_allocation([offer.agent_id])

    def _rescind_offers_of(self, framework: Framework, notify: bool = True) -> None:
        for offer_id in list(framework.offers):
            offer = self.offers.get(offer_id)
            if offer is not None:
                self._rescind(offer, None, notify=notify and framework.connected)

    def _rescind_offers_on(self, agent: Agent) -> None:
        for offer_id in list(agent.offers):
            offer = self.offers.get(offer_id)
            if offer is not None:
                self._rescind(offer, None)

    def _framework_usage(self, framework_id: str) -> dict[str, dict[str, Resources]]:
        used: dict[str, dict[str, Resources]] = {}
        for agent in self.agents.values():
            for task in agent.tasks.get(framework_id, {}).values():
                if not task.terminal:
                    used.setdefault(agent.id, {})
                    used[agent.id][task.role] = used[agent.id].get(task.role, Resources()) + task.resources
            for role, resources in agent.executors.get(framework_id, {}).values():
                used.setdefault(agent.id, {})
                used[agent.id][role] = used[agent.id].get(role, Resources()) + resources
        return used

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


# ---------------------------------------------------------------------- helpers


def _capabilities(info: dict[str, Any]) -> set[str]:
    out = set()
    for cap in info.get("capabilities") or []:
        if isinstance(cap, dict) and isinstance(cap.get("type"), str):
            out.add(cap["type"])
    return out


def _error_event(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}


def _launched_tasks(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[Any] = []
    for op in operations:
        if op.get("type") == "LAUNCH":
            out.extend((op.get("launch") or {}).get("task_infos") or [])
        elif op.get("type") == "LAUNCH_GROUP":
            out.extend(((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])
    return [t for t in out if isinstance(t, dict)]


def _with_allocation_role(info: dict[str, Any], role: str) -> dict[str, Any]:
    """A copy whose resources carry `allocation_info.role` (Mesos injects it for non-MULTI_ROLE frameworks)."""
    out = dict(info)
    resources = []
    for res in info.get("resources", []):
        res = dict(res)
        res.setdefault("allocation_info", {"role": role})
        resources.append(res)
    out["resources"] = resources
    return out


def _normalize_executor(executor: dict[str, Any], framework_id: str, role: str) -> dict[str, Any]:
    """ExecutorInfo as the master stores it: framework id, type and allocation roles filled in."""
    out = _with_allocation_role(executor, role)
    out["framework_id"] = wrap(framework_id)
    out["type"] = executor.get("type") or ("CUSTOM" if executor.get("command") else "DEFAULT")
    return out


def _allocation_role(resources: list[dict[str, Any]], framework: Framework) -> str:
    for res in resources:
        if isinstance(res, dict):
            role = (res.get("allocation_info") or {}).get("role")
            if role:
                return str(role)
    return next(iter(sorted(framework.roles)), "*")


def _add_used(used: dict[str, dict[str, Resources]], framework_id: str, role: str, resources: Resources) -> None:
    by_role = used.setdefault(framework_id, {})
    by_role[role] = by_role.get(role, Resources()) + resources
