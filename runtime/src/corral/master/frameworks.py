"""The frameworks layer of the master: the scheduler API's calls.

SUBSCRIBE registers a framework or fails it over; a framework whose stream
ends has its failover timeout to come back before it is removed (with its
tasks).  The other calls (REVIVE, SUPPRESS, KILL, SHUTDOWN, ACKNOWLEDGE,
RECONCILE, MESSAGE) act on what the framework already has; DECLINE and ACCEPT
are in master/offers.py.  See master/core.py for how the layers fit together.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from corral.ids import validate_id, value_of, wrap
from corral.master import render
from corral.master.core import CallError
from corral.master.model import Connection, Framework, Task
from corral.master.offers import OfferBook
from corral.protocol import states as S
from corral.resources import Resources, validate_role

logger = logging.getLogger(__name__)

IMMUTABLE_FRAMEWORK_FIELDS = ("principal", "user", "checkpoint")


class FrameworkBook(OfferBook):
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
        self.allocator.add_framework(framework_id, roles, used=self._framework_usage(framework_id), capabilities=capabilities)
        logger.info("Framework %s (%s) subscribed with roles %s", framework_id, framework.name, sorted(roles))
        self._operator_event({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": render.framework_summary(framework)}})
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
        self.allocator.update_framework(framework.id, roles, framework.suppressed_roles, capabilities=capabilities)
        self.allocator.activate_framework(framework.id)
        # To every agent, as Mesos's sendFrameworkUpdates: one may run the framework's tasks (command
        # tasks of a recovered framework are not in `executors`) and resends their pending updates.
        for agent_id in list(self.agents):
            self._send_agent(agent_id, {"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": info}})
        logger.info("Framework %s (%s) re-subscribed%s", framework.id, framework.name,
                    " after the master failover" if recovered else "")
        self._operator_event({"type": "FRAMEWORK_UPDATED", "framework_updated": {"framework": render.framework_summary(framework)}})
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
        if framework is None:  # never subscribed, or removed (torn down, failed over for good): as Mesos
            raise CallError(400, f"Framework {framework_id} cannot be found")
        if not framework.connected:
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

    def _check_frameworks(self, now: float) -> None:
        """Heartbeats to connected frameworks; removal of those whose failover timeout passed."""
        for framework in list(self.frameworks.values()):
            if framework.connected:
                if now - framework.last_heartbeat >= self.options.heartbeat_interval:
                    framework.last_heartbeat = now
                    self._send_framework(framework, {"type": "HEARTBEAT"})
            elif not framework.recovered and framework.failover_deadline is not None and now >= framework.failover_deadline:
                self.remove_framework(framework.id, "failover timeout expired")


# ---------------------------------------------------------------------- helpers


def _capabilities(info: dict[str, Any]) -> set[str]:
    out = set()
    for cap in info.get("capabilities") or []:
        if isinstance(cap, dict) and isinstance(cap.get("type"), str):
            out.add(cap["type"])
    return out


def _error_event(message: str) -> dict[str, Any]:
    return {"type": "ERROR", "error": {"message": message}}
