"""The agent's state machine.

`AgentState` holds the agent's frameworks, executors and tasks and decides
what happens on every event: master events (RUN_TASK, KILL_TASK, ACKNOWLEDGE,
...), executor calls (SUBSCRIBE, UPDATE, MESSAGE), executor exits, the
registration with a master and the recovery from checkpoints.  It performs no
I/O of its own: calls to the master leave through a `MasterSink`, events to
executors through the `Connection` the executor API attaches to each
executor, containers are started and killed through `Containers`, and what
must survive a restart is written through a `CheckpointWriter` (the ports,
`agent/ports.py`).  The daemon
(`agent/daemon.py`) provides those and calls `tick()` periodically; time
comes from the injected clocks.
"""

from __future__ import annotations

import base64
import logging
import os.path
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from corral.agent import command_tasks, container_info, drain, volumes
from corral.agent.limitations import memory_limitation
from corral.agent.model import COMMAND, CUSTOM, DEFAULT, AgentTask, Executor, FrameworkRecord, Limitation
from corral.agent.ports import CheckpointWriter, Connection, Containers, MasterSink
from corral.agent.status_updates import StatusUpdateManager
from corral.ids import value_of, wrap
from corral.protocol import states as S
from corral.resources import Resources, checkpointed_part, safe_resources, with_checkpointed

if TYPE_CHECKING:
    from corral.agent.checkpoint import Recovered

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# What Mesos's agent adds to a command task's container for the command executor itself
# (DEFAULT_EXECUTOR_CPUS and DEFAULT_EXECUTOR_MEM): a small overcommit, not offered or
# accounted by the master, so that the task gets all the memory it asked for.
COMMAND_EXECUTOR_ALLOWANCE = Resources.scalars(cpus=0.1, mem=32)


@dataclass
class AgentOptions:
    hostname: str = "localhost"
    ip: str = "127.0.0.1"
    port: int = 5051  # set by the daemon once it listens
    work_dir: str = "/tmp/corral"  # sandboxes live under it
    total: Resources = field(default_factory=Resources)  # set by the daemon once detected
    attributes: list[dict[str, Any]] = field(default_factory=list)
    executor_registration_timeout: float = 60.0
    executor_reregistration_timeout: float = 20.0
    executor_shutdown_grace_period: float = 5.0
    status_update_retry_interval: float = 10.0
    containerizers: tuple[str, ...] = ("mesos",)


class AgentState:
    def __init__(
        self,
        options: AgentOptions,
        master: MasterSink,
        containers: Containers,
        checkpoint: CheckpointWriter,
        clock: Clock = time.monotonic,
        wallclock: Clock = time.time,
    ) -> None:
        self.options = options
        self.master = master
        self.containers = containers
        self.checkpoint = checkpoint
        self.clock = clock
        self.wallclock = wallclock
        self.agent_id: str | None = None
        self.frameworks: dict[str, FrameworkRecord] = {}
        self.drain_config: dict[str, Any] | None = None  # set by DRAIN_AGENT (agent/drain.py)
        self.updates = StatusUpdateManager(
            send=self._send_update, clock=clock, retry_min=options.status_update_retry_interval,
            journal=checkpoint.journal,
        )

    # ------------------------------------------------------------------ identity and registration

    @property
    def endpoint(self) -> str:
        return f"{self.options.ip}:{self.options.port}"

    def agent_info(self) -> dict[str, Any]:
        o = self.options
        info: dict[str, Any] = {
            "hostname": o.hostname,
            "port": o.port,
            "ip": o.ip,
            "resources": o.total.to_json(),
            "attributes": o.attributes,
        }
        if self.agent_id:
            info["id"] = wrap(self.agent_id)
        return info

    def registered(self, agent_id: str) -> None:
        """The master accepted us (REGISTERED)."""
        if agent_id != self.agent_id:
            self.agent_id = agent_id
            self.checkpoint.agent_id(agent_id)
        self.updates.resume()

    def disconnected(self) -> None:
        self.updates.pause()

    # ------------------------------------------------------------------ master events

    def handle_master_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        body = event.get((kind or "").lower(), {})
        if kind == "RUN_TASK":
            self._run_task(body["framework_info"], body["task"])
        elif kind == "RUN_TASK_GROUP":
            self._run_task_group(body["framework_info"], body["executor_info"], body["task_group"]["tasks"])
        elif kind == "KILL_TASK":
            self._kill_task(body["framework_id"]["value"], body["task_id"]["value"], body.get("kill_policy"))
        elif kind == "CHECKPOINT_RESOURCES":
            self._checkpoint_resources(body.get("resources") or [])
        elif kind == "DRAIN_AGENT":
            self._drain(body.get("config") or {})
        elif kind == "SHUTDOWN_EXECUTOR":
            executor = self.find_executor(body["framework_id"]["value"], body["executor_id"]["value"])
            if executor is not None:
                self._shutdown_executor(executor)
        elif kind == "SHUTDOWN_FRAMEWORK":
            self._shutdown_framework(body["framework_id"]["value"])
        elif kind == "ACKNOWLEDGE":
            self._acknowledge(body["framework_id"]["value"], body["task_id"]["value"], body["uuid"])
        elif kind == "FRAMEWORK_MESSAGE":
            executor = self.find_executor(body["framework_id"]["value"], body["executor_id"]["value"])
            if executor is not None and executor.connection is not None:
                executor.connection.send({"type": "MESSAGE", "message": {"data": body.get("data", "")}})
        elif kind == "UPDATE_FRAMEWORK":
            info = body["framework_info"]
            fw = self.frameworks.get(value_of(info.get("id")) or "")
            if fw is not None:
                fw.info = info
                # The framework (re-)subscribed: resend pending updates now rather than at their next
                # backoff (as Mesos's agent does), e.g. those of tasks that ended while it was away.
                if not self.updates.paused:
                    self.updates.resume()
        elif kind == "PING":
            self.master.post({"type": "PONG"})
        elif kind == "SHUTDOWN":
            # The daemon stops once the executors had their grace period.
            logger.warning("The master asked this agent to shut down: %s", body.get("message"))
            for fw in list(self.frameworks.values()):
                self._shutdown_framework(fw.id)

    # ------------------------------------------------------------------ launching

    def _framework(self, info: dict[str, Any]) -> FrameworkRecord:
        framework_id = info["id"]["value"]
        fw = self.frameworks.get(framework_id)
        if fw is None:
            fw = self.frameworks[framework_id] = FrameworkRecord(framework_id, info)
            self.checkpoint.framework(framework_id, info)
        elif fw.info != info:
            fw.info = info
            self.checkpoint.framework(framework_id, info)
        return fw

    def _run_task(self, framework_info: dict[str, Any], task: dict[str, Any]) -> None:
        fw = self._framework(framework_info)
        task_id = task["task_id"]["value"]
        if "executor" in task:
            info = task["executor"]
            executor_id = info["executor_id"]["value"]
            kind = CUSTOM
        else:
            executor_id = task_id
            info = {
                "executor_id": wrap(executor_id),
                "framework_id": wrap(fw.id),
                "name": f"Command Executor (Task: {task_id})",
                "source": task_id,
                "type": "DEFAULT",
                "command": {"value": "corral-command-executor"},
                "resources": COMMAND_EXECUTOR_ALLOWANCE.to_json(),
            }
            kind = COMMAND
        self._deliver(fw, executor_id, info, kind, "LAUNCH", [task], in_agent=kind == COMMAND and command_tasks.runs_in_agent(task))

    def _run_task_group(self, framework_info: dict[str, Any], executor_info: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        fw = self._framework(framework_info)
        executor_id = executor_info["executor_id"]["value"]
        kind = DEFAULT if executor_info.get("type", "DEFAULT") == "DEFAULT" else CUSTOM
        self._deliver(fw, executor_id, executor_info, kind, "LAUNCH_GROUP", tasks)

    def _deliver(self, fw: FrameworkRecord, executor_id: str, info: dict[str, Any], kind: str, how: str, tasks: list[dict[str, Any]],
                 in_agent: bool = False) -> None:
        executor = fw.executors.get(executor_id)
        new = executor is None or executor.terminating
        if new:
            executor = self._new_executor(fw, executor_id, info, kind)
            executor.in_agent = in_agent
        assert executor is not None
        for task in tasks:
            executor.tasks[task["task_id"]["value"]] = AgentTask(task, fw.id, executor_id)
        refused = new and container_info.refusal(self.options.containerizers, info.get("container") if kind == CUSTOM else None,
                                                 *(t.get("container") for t in tasks))
        if refused:
            self.executor_launch_failed(executor, refused)
            return
        if executor.in_agent:
            pass  # its task starts with its process (executor_started)
        elif executor.subscribed and executor.connection is not None:
            self._send_launch(executor, how, tasks)
        else:
            executor.queued.append((how, tasks))
        if new:
            self.containers.launch(fw, executor)
        elif kind != COMMAND:
            self.containers.update_limits(executor.container_id, executor.total_resources())

    def _new_executor(self, fw: FrameworkRecord, executor_id: str, info: dict[str, Any], kind: str) -> Executor:
        container_id = str(uuid.uuid4())
        directory = os.path.join(
            self.options.work_dir, "slaves", self.agent_id or "unregistered", "frameworks", fw.id,
            "executors", executor_id, "runs", container_id,
        )
        executor = Executor(
            framework_id=fw.id, executor_id=executor_id, info=info, kind=kind, container_id=container_id,
            directory=directory, resources=safe_resources(info.get("resources", [])), launched_at=self.clock(),
        )
        fw.executors[executor_id] = executor
        return executor  # checkpointed once its process exists (executor_started)

    def executor_started(self, executor: Executor, pid: int, pid_start: float | None, cgroup: str | None) -> None:
        """The executor's process exists: checkpoint it, so that a restarted agent finds it."""
        executor.pid = pid
        executor.pid_start = pid_start
        if executor.ended:  # shut down while its launch was under way: nothing may run for it
            self.containers.kill(executor.container_id, pid)
            return
        self.checkpoint.executor(
            executor.framework_id, executor.executor_id,
            {
                "executor_id": executor.executor_id, "info": executor.info, "kind": executor.kind,
                "container_id": executor.container_id, "directory": executor.directory, "pid": executor.pid,
                "pid_start": executor.pid_start, "cgroup": cgroup, "in_agent": executor.in_agent,
            },
        )
        logger.debug("Executor %s of framework %s started as pid %s", executor.executor_id, executor.framework_id, pid)
        if executor.in_agent:
            self._command_task_started(executor, pid)

    def _command_task_started(self, executor: Executor, pid: int) -> None:
        """The process of a command task the agent runs itself exists: it is running."""
        task = next(t for t in executor.tasks.values())
        task.launched = True
        self.checkpoint.task(executor.framework_id, executor.executor_id, task.info)
        self._agent_status(executor, task, S.TASK_RUNNING, None, "", source=S.SOURCE_EXECUTOR, executor_pid=pid)
        limit = command_tasks.max_completion_time(task.info)
        if limit is not None:
            executor.expire_at = self.clock() + limit

    def container_limited(self, executor: Executor, limitation: Limitation) -> None:
        """A limit the agent watches itself (disk/du) was exceeded: as Mesos, the container's
        tasks fail with the limitation and the container is destroyed."""
        if not self._is_current(executor) or executor.terminating:
            return
        for task in list(executor.tasks.values()):
            self._agent_status(executor, task, S.TASK_FAILED, limitation.reason, limitation.message, limitation)
        self._shutdown_executor(executor)

    def executor_launch_failed(self, executor: Executor, error: str) -> None:
        logger.warning("Failed to launch executor %s: %s", executor.executor_id, error)
        self._executor_terminated(executor, None, failure=(S.REASON_CONTAINER_LAUNCH_FAILED, f"Failed to launch container: {error}"))

    def _send_launch(self, executor: Executor, how: str, tasks: list[dict[str, Any]]) -> None:
        for task in tasks:
            agent_task = executor.tasks.get(task["task_id"]["value"])
            if agent_task is not None:
                agent_task.launched = True
            self.checkpoint.task(executor.framework_id, executor.executor_id, task)
        if how == "LAUNCH":
            executor.connection.send({"type": "LAUNCH", "launch": {"task": tasks[0]}})
        else:
            executor.connection.send({"type": "LAUNCH_GROUP", "launch_group": {"task_group": {"tasks": tasks}}})

    # ------------------------------------------------------------------ executor calls

    def find_executor(self, framework_id: str, executor_id: str) -> Executor | None:
        fw = self.frameworks.get(framework_id)
        return fw.executors.get(executor_id) if fw else None

    def executor_subscribed(self, executor: Executor, connection: Connection, unacknowledged_tasks: set[str]) -> None:
        fw = self.frameworks[executor.framework_id]
        if executor.connection is not None and executor.connection is not connection:
            executor.connection.close()
        executor.connection = connection
        executor.subscribed = True
        connection.send(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "executor_info": executor.info,
                    "framework_info": fw.info,
                    "agent_info": self.agent_info(),
                    "container_id": {"value": executor.container_id},
                },
            }
        )
        queued, executor.queued = executor.queued, []
        for how, tasks in queued:
            # Never re-send a task the executor already has (pymesos asserts on it).
            tasks = [t for t in tasks if t["task_id"]["value"] not in unacknowledged_tasks]
            tasks = [t for t in tasks if not executor.tasks.get(t["task_id"]["value"], AgentTask(t, "", "")).terminal]
            if tasks:
                self._send_launch(executor, how, tasks)

    def executor_disconnected(self, executor: Executor, connection: Connection) -> None:
        if executor.connection is connection:
            executor.connection = None

    def executor_update(self, executor: Executor, status: dict[str, Any]) -> None:
        task_id = status["task_id"]["value"]
        task = executor.tasks.get(task_id)
        status = dict(status)
        status["agent_id"] = wrap(self.agent_id or "")
        status["executor_id"] = wrap(executor.executor_id)
        if task is not None:
            if task.terminal:
                return  # the task already ended (e.g. killed while the executor was exiting)
            if status["state"] in S.TERMINAL_STATES:
                limitation = self.containers.limitation(executor.container_id) or _image_limitation(executor, task, status)
                if limitation is not None:
                    # As Mesos: the container is destroyed and its task fails with the limitation
                    # (the executor only saw its task's process die, e.g. with status 137).
                    self._agent_status(executor, task, S.TASK_FAILED, limitation.reason, limitation.message, limitation)
                    self._shutdown_executor(executor)
                    return
        self._report(executor, status)

    def executor_message(self, executor: Executor, data: str) -> None:
        self.master.post(
            {
                "type": "MESSAGE",
                "message": {"framework_id": wrap(executor.framework_id), "executor_id": wrap(executor.executor_id), "data": data},
            }
        )

    # ------------------------------------------------------------------ status updates

    def _send_update(self, update: dict[str, Any], latest_state: str) -> None:
        self.master.post(
            {"type": "UPDATE", "update": {"framework_id": update["framework_id"], "status": update["status"], "latest_state": latest_state}}
        )

    def _agent_status(self, executor: Executor, task: AgentTask, state: str, reason: str | None, message: str,
                      limitation: Limitation | None = None, source: str = S.SOURCE_AGENT, executor_pid: int | None = None) -> None:
        """An update generated by the agent itself (reliable, acknowledged like the executor's); with
        SOURCE_EXECUTOR for a command task the agent runs itself, as its command executor."""
        if task.terminal:
            return
        task.state = state
        status: dict[str, Any] = {
            "task_id": wrap(task.task_id),
            "state": state,
            "source": source,
            "agent_id": wrap(self.agent_id or ""),
            "executor_id": wrap(executor.executor_id),
            "timestamp": self.wallclock(),
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        }
        if message:
            status["message"] = message
        if executor_pid is not None:
            status["container_status"] = {"executor_pid": executor_pid}
        if reason:
            status["reason"] = reason
        if limitation is not None and limitation.resources:
            status["limitation"] = {"resources": limitation.resources}
        self._report(executor, status)

    def _report(self, executor: Executor, status: dict[str, Any]) -> None:
        """Queue a task's status update for the master (rewritten as Mesos does while draining), naming
        the task's container as Mesos's agent does (the Mesos CLI's `task exec` looks for it there)."""
        status = {**status, "container_status": {**(status.get("container_status") or {}),
                                                 "container_id": wrap(executor.container_id)}}
        if self.drain_config is not None:
            fw = self.frameworks.get(executor.framework_id)
            status = drain.draining_status(status, self.drain_config, fw.info if fw else {})
        task = executor.tasks.get(status["task_id"]["value"])
        if task is not None:
            task.state = status["state"]
        self.updates.add(executor.framework_id, status["task_id"]["value"],
                         {"framework_id": wrap(executor.framework_id), "status": status})
        if self.drain_config is not None and not drain.live_tasks(self.frameworks.values()):
            logger.info("Drained: no task is left")
            self.drain_config = None

    def _acknowledge(self, framework_id: str, task_id: str, status_uuid: str) -> None:
        update = self.updates.acknowledge(framework_id, task_id, status_uuid)
        if update is None:
            return
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return
        command = fw.executors.get(task_id)  # (a command task's executor has its id: no search among the others)
        for executor in [command] if command is not None and task_id in command.tasks else fw.executors.values():
            task = executor.tasks.get(task_id)
            if task is None:
                continue
            if update["status"].get("source") == S.SOURCE_EXECUTOR and executor.connection is not None:
                executor.connection.send(
                    {"type": "ACKNOWLEDGED", "acknowledged": {"task_id": wrap(task_id), "uuid": status_uuid}}
                )
            if task.terminal and not self.updates.pending(framework_id, task_id):
                del executor.tasks[task_id]
                executor.completed_tasks.append(task)
            return
        for executor in reversed(fw.completed_executors):  # (newest first: a task's executor ended lately)
            task = executor.tasks.get(task_id)
            if task is not None and task.terminal and not self.updates.pending(framework_id, task_id):
                del executor.tasks[task_id]  # acknowledged after its executor ended
                executor.completed_tasks.append(task)
            if task is not None or any(t.task_id == task_id for t in executor.completed_tasks):
                self._forget_if_done(executor)
                break

    # ------------------------------------------------------------------ kills and shutdowns

    def _checkpoint_resources(self, resources: list[dict[str, Any]]) -> None:
        """The master's dynamic reservations and persistent volumes for this agent: kept, and advertised
        after a restart; a new volume's directory is made, a destroyed one's deleted."""
        checkpointed = safe_resources(resources)
        before = checkpointed_part(self.options.total)
        self.checkpoint.resources(checkpointed.to_json(refinement=True))
        self.checkpoint.volumes(*volumes.changes(self.options.work_dir, before, checkpointed))
        self.options.total = with_checkpointed(self.options.total, checkpointed)
        logger.info("Checkpointed resources %s; total %s", checkpointed or "(none)", self.options.total)

    def _drain(self, config: dict[str, Any]) -> None:
        logger.info("Draining: killing every task (config %s)", config)
        self.drain_config = config
        for framework_id, task in drain.live_tasks(self.frameworks.values()):
            self._kill_task(framework_id, task.task_id, drain.kill_policy_for(config, task.info.get("kill_policy")))

    def _kill_task(self, framework_id: str, task_id: str, kill_policy: Any) -> None:
        fw = self.frameworks.get(framework_id)
        executor = None
        if fw is not None:
            executor = next((e for e in fw.executors.values() if task_id in e.tasks), None)
        if executor is None:
            logger.info("Asked to kill unknown task %s of framework %s", task_id, framework_id)
            return
        task = executor.tasks[task_id]
        if task.terminal:
            return
        if not task.launched:
            for entry in executor.queued:
                entry[1][:] = [t for t in entry[1] if t["task_id"]["value"] != task_id]
            executor.queued = [e for e in executor.queued if e[1]]
            self._agent_status(executor, task, S.TASK_KILLED, S.REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor")
            if all(t.terminal for t in executor.tasks.values()):
                self._shutdown_executor(executor)
            return
        if executor.in_agent:
            self._kill_command_task(executor, task, kill_policy)
        elif executor.connection is not None:
            kill: dict[str, Any] = {"task_id": wrap(task_id)}
            if kill_policy is not None:
                kill["kill_policy"] = kill_policy
            executor.connection.send({"type": "KILL", "kill": kill})
        else:
            self._shutdown_executor(executor)

    def _kill_command_task(self, executor: Executor, task: AgentTask, kill_policy: Any) -> None:
        """What the command executor does on KILL: TASK_KILLING (if the framework understands it),
        SIGTERM to the task's process group, SIGKILL after the grace period; then TASK_KILLED."""
        if executor.kill_requested or executor.pid is None:
            return
        executor.kill_requested = True
        fw = self.frameworks.get(executor.framework_id)
        capabilities = [c.get("type") for c in (fw.info.get("capabilities") or []) if isinstance(c, dict)] if fw else []
        if "TASK_KILLING_STATE" in capabilities:
            self._agent_status(executor, task, S.TASK_KILLING, None, "", source=S.SOURCE_EXECUTOR)
        self._terminate(executor, command_tasks.kill_grace(kill_policy, task.info))

    def _terminate(self, executor: Executor, grace: float) -> None:
        """SIGTERM to a command task the agent runs, SIGKILL (`_destroy`) after `grace` (tick)."""
        assert executor.pid is not None
        if grace <= 0:
            self._destroy(executor)
            return
        self.containers.terminate(executor.container_id, executor.pid)
        executor.kill_at = self.clock() + grace

    def _shutdown_executor(self, executor: Executor) -> None:
        if executor.terminating:
            return
        executor.terminating = True
        executor.killed_by_agent = True
        if executor.connection is not None and executor.pid is not None:
            executor.connection.send({"type": "SHUTDOWN"})
            executor.kill_at = self.clock() + self.options.executor_shutdown_grace_period
        elif executor.in_agent and executor.pid is not None and not executor.kill_requested:
            self._terminate(executor, self.options.executor_shutdown_grace_period)
        elif executor.kill_at is None:
            self._destroy(executor)

    def _destroy(self, executor: Executor) -> None:
        if executor.pid is None:
            self._executor_terminated(executor, None)
            return
        if self._is_current(executor):
            # Kill it; its exit is reported by the containers (the zygote, or a watcher for recovered ones).
            self.containers.kill(executor.container_id, executor.pid)

    def _shutdown_framework(self, framework_id: str) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return
        logger.info("Shutting down framework %s", framework_id)
        for executor in list(fw.executors.values()):
            self._shutdown_executor(executor)
        self.updates.forget_framework(framework_id)

    # ------------------------------------------------------------------ timers

    def tick(self) -> None:
        self.updates.tick()
        now = self.clock()
        for fw in list(self.frameworks.values()):
            for executor in list(fw.executors.values()):
                if executor.kill_at is not None and now >= executor.kill_at:
                    executor.kill_at = None  # the shutdown grace period is over
                    self._destroy(executor)
                if executor.expire_at is not None and now >= executor.expire_at and not executor.ended:
                    executor.expire_at = None
                    executor.expired = True
                    self._destroy(executor)
        self._check_registration_timeouts(now)

    def _check_registration_timeouts(self, now: float) -> None:
        o = self.options
        for fw in self.frameworks.values():
            for executor in list(fw.executors.values()):
                timeout = o.executor_reregistration_timeout if executor.recovered else o.executor_registration_timeout
                if executor.in_agent:
                    continue  # no executor process subscribes for it
                if not executor.subscribed and not executor.terminating and now - executor.launched_at > timeout:
                    logger.warning("Executor %s did not subscribe within %.0fs; killing it", executor.executor_id, timeout)
                    reason = S.REASON_EXECUTOR_REREGISTRATION_TIMEOUT if executor.recovered else S.REASON_EXECUTOR_REGISTRATION_TIMEOUT
                    for task in executor.tasks.values():
                        self._agent_status(executor, task, S.TASK_FAILED, reason, "Executor did not register in time")
                    executor.terminating = True
                    executor.killed_by_agent = True
                    self._destroy(executor)

    # ------------------------------------------------------------------ termination

    def executor_exited(self, executor: Executor, wait_status: int | None) -> None:
        """The process of a launched executor ended."""
        self._executor_terminated(executor, wait_status)

    def recovered_executor_exited(self, executor: Executor) -> None:
        """A recovered executor (not our child) ended."""
        if self._is_current(executor):
            self._executor_terminated(executor, self.containers.exit_status(executor) if executor.in_agent else None)

    def _is_current(self, executor: Executor) -> bool:
        fw = self.frameworks.get(executor.framework_id)
        return fw is not None and fw.executors.get(executor.executor_id) is executor

    def _executor_terminated(self, executor: Executor, wait_status: int | None, failure: tuple[str, str] | None = None) -> None:
        if executor.ended:  # the late process of an executor ended during its launch exited too
            self._cleanup(executor)
            return
        executor.ended = True
        limitation = None if failure else self.containers.limitation(executor.container_id)
        for task in list(executor.tasks.values()):
            if task.terminal:
                continue
            if failure is not None:
                self._agent_status(executor, task, S.TASK_FAILED, *failure)
            elif limitation is not None:
                self._agent_status(executor, task, S.TASK_FAILED, limitation.reason, limitation.message, limitation)
            elif executor.in_agent and task.launched:
                state, reason, message, source = command_tasks.outcome(
                    wait_status, kill_requested=executor.kill_requested, expired=executor.expired,
                    shut_down=executor.killed_by_agent)
                self._agent_status(executor, task, state, reason, message, source=source)
            elif executor.killed_by_agent:
                self._agent_status(executor, task, S.TASK_KILLED, S.REASON_EXECUTOR_TERMINATED, "Executor was shut down")
            else:
                self._agent_status(executor, task, S.TASK_FAILED, S.REASON_EXECUTOR_TERMINATED, "Executor terminated")
        self._cleanup(executor)
        fw = self.frameworks.get(executor.framework_id)
        if fw is not None:  # (a run replaced while it terminated has already left fw.executors)
            if fw.executors.get(executor.executor_id) is executor:
                del fw.executors[executor.executor_id]
            fw.completed_executors.append(executor)
        executor.kill_at = None
        if executor.connection is not None:
            executor.connection.close()
        self._forget_if_done(executor)
        if executor.kind != COMMAND:
            self.master.post(
                {
                    "type": "EXITED_EXECUTOR",
                    "exited_executor": {
                        "framework_id": wrap(executor.framework_id),
                        "executor_id": wrap(executor.executor_id),
                        **({"status": wait_status} if wait_status is not None else {}),
                    },
                }
            )

    def _cleanup(self, executor: Executor) -> None:
        try:
            self.containers.cleanup(executor.container_id)
        except OSError:
            logger.exception("cleanup of container %s failed", executor.container_id)

    def _forget_if_done(self, executor: Executor) -> None:
        """Drop the checkpoint of an ended executor once all its updates are acknowledged."""
        if self._is_current(executor):
            return
        task_ids = [t.task_id for t in list(executor.tasks.values()) + list(executor.completed_tasks)]
        if self.updates.has_pending(executor.framework_id, task_ids):
            return
        if self.find_executor(executor.framework_id, executor.executor_id) is None:
            self.checkpoint.forget_executor(executor.framework_id, executor.executor_id, task_ids)
        else:  # a new run of the same executor id owns the executor's checkpoint now
            self.checkpoint.forget_tasks(executor.framework_id, executor.executor_id, task_ids)

    # ------------------------------------------------------------------ recovery

    def recover(self, agent_id: str, recovered: Recovered, mode: str) -> None:
        """After a restart: reattach the executors that outlived us (`mode` "reconnect") or kill
        them all and forget the checkpoints ("cleanup"); replay the updates not yet acknowledged."""
        self.agent_id = agent_id
        if mode == "cleanup":
            for record in recovered.executors.values():
                if self.containers.alive(record.get("pid"), record.get("pid_start")):
                    logger.info("--recover cleanup: killing executor %s (pid %s)", record["executor_id"], record["pid"])
                    if record.get("cgroup"):
                        self.containers.adopt(record["container_id"], record["cgroup"])
                    self.containers.kill(record["container_id"], record["pid"])
                    self.containers.cleanup(record["container_id"])
            self.checkpoint.forget_all()
            return
        for framework_id, info in recovered.frameworks.items():
            self.frameworks[framework_id] = FrameworkRecord(framework_id, info)
        last_state: dict[tuple[str, str], str] = {}
        for (framework_id, task_id), entries in recovered.journals.items():
            for kind, data in entries:
                if kind == "update":
                    self.updates.add(framework_id, task_id, data, replay=True)
                    last_state[(framework_id, task_id)] = data["status"]["state"]
                else:
                    self.updates.acknowledge(framework_id, task_id, data, replay=True)
        now = self.clock()
        for (framework_id, executor_id), record in recovered.executors.items():
            fw = self.frameworks.get(framework_id)
            if fw is None:
                continue
            executor = Executor(
                framework_id=framework_id, executor_id=executor_id, info=record["info"], kind=record["kind"],
                container_id=record["container_id"], directory=record["directory"],
                resources=safe_resources(record["info"].get("resources", [])), launched_at=now,
                pid=record.get("pid"), pid_start=record.get("pid_start"), recovered=True,
                in_agent=bool(record.get("in_agent")),
            )
            for task in recovered.tasks.get((framework_id, executor_id), []):
                state = last_state.get((framework_id, task["task_id"]["value"]), S.TASK_STAGING)
                executor.tasks[task["task_id"]["value"]] = AgentTask(task, framework_id, executor_id, state=state, launched=True)
            fw.executors[executor_id] = executor
            alive = self.containers.alive(executor.pid, executor.pid_start)
            # One ended whose tasks all ended is kept only for their unacknowledged updates: its
            # container was destroyed when it ended, and its cgroup may be another's now.
            ended_before = not alive and bool(executor.tasks) and all(t.terminal for t in executor.tasks.values())
            if record.get("cgroup") and not ended_before:
                self.containers.adopt(executor.container_id, record["cgroup"])
            if alive:
                logger.info("Recovered executor %s of framework %s (pid %s)", executor_id, framework_id, executor.pid)
                self.containers.watch(executor)
            elif executor.in_agent:
                # Its exit file says how (command_tasks.outcome), once the zygote that reaps it has
                # written it: a task that has just ended may not be reaped yet.
                logger.info("Command task %s of framework %s ended while the agent was down", executor_id, framework_id)
                self.containers.watch(executor)
            else:
                logger.info("Executor %s of framework %s ended while the agent was down", executor_id, framework_id)
                executor.pid = None
                self._executor_terminated(executor, None, failure=(S.REASON_EXECUTOR_TERMINATED, "Executor terminated while the agent was down"))


def _image_limitation(executor: Executor, task: AgentTask, status: dict[str, Any]) -> Limitation | None:
    """A built-in executor's word that the kernel killed its task's image container for memory
    (executor/oom_watch.py: the container runs outside the executor's cgroups): the task's
    memory is the container's limit; the executor measured the most it used."""
    if executor.kind == CUSTOM or status.get("reason") != S.REASON_CONTAINER_LIMITATION_MEMORY:
        return None
    limit = int(safe_resources(task.info.get("resources", [])).scalar("mem") * 2**20)
    used = safe_resources((status.get("limitation") or {}).get("resources", [])).scalar("mem")
    return memory_limitation(limit, int(used * 2**20) if used else limit)
