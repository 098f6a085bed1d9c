"""The agents layer of the master: the agent API's calls and agent health.

An agent (re-)registers with what it runs; the master merges that with what
it believed (`_reconcile_agent`) and learns frameworks it did not know after a
failover (RECOVERED, as in Mesos).  Status updates, messages and executor exits
come in over the agent's stream; an agent silent for too long is unreachable
and its tasks reported so; an operator may mark it gone.  See master/core.py
for how the layers fit together.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from corral.ids import value_of, wrap
from corral.master import render
from corral.master.core import CallError
from corral.master.frameworks import FrameworkBook, _capabilities
from corral.master.model import Agent, Connection, Framework, Task
from corral.protocol import states as S
from corral.resources import Resources, safe_resources

logger = logging.getLogger(__name__)


class AgentBook(FrameworkBook):
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
                    # (as Mesos's MasterSlaveConnection: the silence after which the agent looks for a master)
                    "connection": {"total_ping_timeout_seconds":
                                   self.options.agent_ping_timeout * self.options.max_agent_ping_timeouts},
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
        self._operator_event({"type": "AGENT_ADDED", "agent_added": {"agent": render.agent_summary(agent)}})
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
            self.allocator.add_framework(framework_id, roles, active=False, capabilities=capabilities)
            logger.info("Recovered framework %s (%s) from an agent; awaiting re-subscription", framework_id, framework.name)
            # As Mesos's recoverFramework: operator subscribers learn of it now, as a recovered framework.
            self._operator_event({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": render.framework_summary(framework)}})

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
            resources = safe_resources(executor.get("resources", []))
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
                    name=entry.get("name", ""), role=role, resources=safe_resources(entry.get("resources", [])),
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

    def _check_agents(self, now: float) -> None:
        """Pings to agents; those silent too long, or not back after a failover, become unreachable."""
        o = self.options
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


# ---------------------------------------------------------------------- helpers


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
