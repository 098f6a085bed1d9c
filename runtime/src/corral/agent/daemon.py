"""`corral agent`: runs executors for the master and reports their tasks.

The agent dials out to the master (`MasterLink`), receives RUN_TASK and
friends on one long-lived stream, starts executors in per-executor sandboxes
(`Launcher` + an isolator), serves them the v1 executor API
(`executor_api.py`) and delivers their status updates reliably
(`StatusUpdateManager`).  Sandbox files are served under `/files`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
import uuid
from typing import Any

import psutil
from aiohttp import web

from corral import MESOS_API_VERSION, __version__, config
from corral.agent import executor_api, files, isolation
from corral.agent.checkpoint import Checkpointer
from corral.agent import resources as agent_resources
from corral.agent.launcher import LaunchError, Launcher
from corral.agent.flags import AGENT_FLAGS
from corral.agent.master_link import MasterLink
from corral.agent.model import COMMAND, CUSTOM, DEFAULT, AgentTask, Executor, FrameworkRecord
from corral.agent.status_updates import StatusUpdateManager
from corral.http_stream import json_response
from corral.ids import value_of, wrap
from corral.protocol import states as S
from corral.resources import Resources, safe_resources
from corral.security.agent import AgentSecurity
from corral.server import Server, StartupError

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.05


class Agent(Server):
    name = "corral agent"

    def __init__(self, flags: dict[str, Any]) -> None:
        """`flags`: the parsed values of AGENT_FLAGS (`config.resolve`)."""
        super().__init__(flags["ip"], flags["port"])
        self.flags = flags
        self.work_dir = os.path.abspath(flags["work_dir"])
        self.hostname = flags["hostname"] or flags["ip"]
        self.agent_id: str | None = None
        self.total = Resources()
        self.attributes = flags["attributes"].to_json()
        self.frameworks: dict[str, FrameworkRecord] = {}
        self.completed_frameworks: list[FrameworkRecord] = []
        self.by_pid: dict[int, Executor] = {}
        self.isolator: isolation.PosixIsolator = isolation.PosixIsolator()
        self.checkpoint = Checkpointer(os.path.join(self.work_dir, "meta"))
        self.updates = StatusUpdateManager(
            send=self._send_update, clock=time.monotonic, retry_min=flags["status_update_retry_interval"],
            journal=self.checkpoint.journal,
        )
        self.launcher = Launcher(on_exit=self._process_exited)
        self.master = MasterLink(self)
        self.start_time = time.time()
        executor_api.add_routes(self.app, self)
        files.add_routes(self.app, self.work_dir)
        self.security = AgentSecurity(self)
        self.app.router.add_get("/state", self._state)
        self.app.router.add_get("/slave(1)/state", self._state)
        self.app.router.add_get("/state.json", self._state)
        self.app.router.add_get("/health", lambda r: web.Response(status=200))
        self.app.router.add_get("/version", lambda r: json_response({"version": MESOS_API_VERSION, "corral_version": __version__}))
        self.app.router.add_get("/flags", lambda r: json_response({"flags": config.public(self.flags, AGENT_FLAGS)}))

    # ------------------------------------------------------------------ lifecycle

    async def start_unsafe(self) -> None:
        try:
            self.total = agent_resources.total_resources(self.flags["resources"], self.work_dir)
        except OSError as exc:  # detecting the disk of work_dir
            raise StartupError(f"--work_dir: {exc}") from None
        try:
            self.isolator = isolation.detect(
                self.flags["isolation"], self.flags["cgroups_enable_cfs"],
                name="agent-" + hashlib.sha1(self.work_dir.encode()).hexdigest()[:10],
                cpus=self.total.scalar("cpus"),
            )
        except RuntimeError as exc:
            raise StartupError(str(exc)) from None
        os.makedirs(self.work_dir, exist_ok=True)
        await self.listen()
        await self.launcher.start()
        self.agent_id = self._load_agent_id()
        if self.agent_id:
            self._recover()
        self.spawn(self.master.run(), "master link")
        self.spawn(self._timers(), "timers")
        logger.info(
            "Agent on %s with %s, attributes %s, %s isolation",
            self.address, self.total.to_text(), self.flags["attributes"] or "no attributes", self.isolator.name,
        )

    async def close_unsafe(self) -> None:
        await self.master.close()
        await self.launcher.stop()
        self.isolator.close()

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.updates.tick()
                self._check_registration_timeouts()
            except Exception:
                logger.exception("agent timer failed")

    # ------------------------------------------------------------------ identity

    @property
    def endpoint(self) -> str:
        return f"{self.flags['ip']}:{self.port}"

    def agent_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "hostname": self.hostname,
            "port": self.port,
            "ip": self.flags["ip"],
            "resources": self.total.to_json(),
            "attributes": self.attributes,
        }
        if self.agent_id:
            info["id"] = wrap(self.agent_id)
        return info

    def _agent_id_path(self) -> str:
        return os.path.join(self.work_dir, "meta", "agent_id")

    def _load_agent_id(self) -> str | None:
        try:
            with open(self._agent_id_path()) as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    def registered(self, agent_id: str) -> None:
        """The master accepted us (REGISTERED)."""
        if agent_id != self.agent_id:
            self.agent_id = agent_id
            os.makedirs(os.path.dirname(self._agent_id_path()), exist_ok=True)
            with open(self._agent_id_path(), "w") as fh:
                fh.write(agent_id)
        self.updates.resume()

    def disconnected(self) -> None:
        self.updates.pause()

    def registration_payload(self) -> dict[str, Any]:
        tasks, executors, frameworks = [], [], []

        def report(fw: FrameworkRecord, executor: Executor, only_unacknowledged: bool) -> None:
            for task in executor.tasks.values():
                if only_unacknowledged and not self.updates.pending(fw.id, task.task_id):
                    continue
                tasks.append({**task.info, "framework_id": wrap(fw.id), "executor_id": wrap(executor.executor_id),
                              "state": task.state})

        for fw in self.frameworks.values():
            frameworks.append(fw.info)
            for executor in fw.executors.values():
                if executor.kind != COMMAND:
                    executors.append({"framework_id": wrap(fw.id), "executor_info": executor.info})
                report(fw, executor, only_unacknowledged=False)
            # As Mesos's agent: also the tasks of ended executors whose terminal update is not yet
            # acknowledged (a new leader learns of them, and of their framework, from us).
            for executor in fw.completed_executors:
                report(fw, executor, only_unacknowledged=True)
        payload: dict[str, Any] = {
            "agent_info": self.agent_info(),
            "resources": self.total.to_json(),
            "version": __version__,
            "tasks": tasks,
            "executors": executors,
            "frameworks": frameworks,
        }
        if self.agent_id:
            payload["agent_id"] = wrap(self.agent_id)
        return payload

    # ------------------------------------------------------------------ master events

    def handle_master_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        body = event.get((kind or "").lower(), {})
        if kind == "RUN_TASK":
            self.spawn(self._run_task(body["framework_info"], body["task"]), "run task")
        elif kind == "RUN_TASK_GROUP":
            self.spawn(
                self._run_task_group(body["framework_info"], body["executor_info"], body["task_group"]["tasks"]),
                "run task group",
            )
        elif kind == "KILL_TASK":
            self._kill_task(body["framework_id"]["value"], body["task_id"]["value"], body.get("kill_policy"))
        elif kind == "SHUTDOWN_EXECUTOR":
            fw = self.frameworks.get(body["framework_id"]["value"])
            executor = fw.executors.get(body["executor_id"]["value"]) if fw else None
            if executor is not None:
                self._shutdown_executor(executor)
        elif kind == "SHUTDOWN_FRAMEWORK":
            self._shutdown_framework(body["framework_id"]["value"])
        elif kind == "ACKNOWLEDGE":
            self._acknowledge(body["framework_id"]["value"], body["task_id"]["value"], body["uuid"])
        elif kind == "FRAMEWORK_MESSAGE":
            fw = self.frameworks.get(body["framework_id"]["value"])
            executor = fw.executors.get(body["executor_id"]["value"]) if fw else None
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
            logger.warning("The master asked this agent to shut down: %s", body.get("message"))
            self.spawn(self._shutdown_agent(), "shutdown")

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

    async def _run_task(self, framework_info: dict[str, Any], task: dict[str, Any]) -> None:
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
                "resources": [],
            }
            kind = COMMAND
        await self._deliver(fw, executor_id, info, kind, "LAUNCH", [task])

    async def _run_task_group(self, framework_info, executor_info, tasks) -> None:
        fw = self._framework(framework_info)
        executor_id = executor_info["executor_id"]["value"]
        kind = DEFAULT if executor_info.get("type", "DEFAULT") == "DEFAULT" else CUSTOM
        await self._deliver(fw, executor_id, executor_info, kind, "LAUNCH_GROUP", tasks)

    async def _deliver(self, fw: FrameworkRecord, executor_id: str, info: dict[str, Any], kind: str, how: str, tasks: list[dict[str, Any]]) -> None:
        executor = fw.executors.get(executor_id)
        new = executor is None or executor.terminating
        if new:
            executor = self._new_executor(fw, executor_id, info, kind)
        assert executor is not None
        for task in tasks:
            executor.tasks[task["task_id"]["value"]] = AgentTask(task, fw.id, executor_id)
        if executor.subscribed and executor.connection is not None:
            self._send_launch(executor, how, tasks)
        else:
            executor.queued.append((how, tasks))
        if new:
            await self._start_container(fw, executor)
        elif kind != COMMAND:
            self._update_limits(executor)

    def _new_executor(self, fw: FrameworkRecord, executor_id: str, info: dict[str, Any], kind: str) -> Executor:
        container_id = str(uuid.uuid4())
        directory = os.path.join(
            self.work_dir, "slaves", self.agent_id or "unregistered", "frameworks", fw.id,
            "executors", executor_id, "runs", container_id,
        )
        executor = Executor(
            framework_id=fw.id, executor_id=executor_id, info=info, kind=kind, container_id=container_id,
            directory=directory, resources=safe_resources(info.get("resources", [])), launched_at=time.monotonic(),
        )
        fw.executors[executor_id] = executor
        return executor  # checkpointed once its process exists (_start_container)

    def _checkpoint_executor(self, executor: Executor) -> None:
        self.checkpoint.executor(
            executor.framework_id, executor.executor_id,
            {
                "executor_id": executor.executor_id, "info": executor.info, "kind": executor.kind,
                "container_id": executor.container_id, "directory": executor.directory, "pid": executor.pid,
                "pid_start": executor.pid_start, "cgroup": self.isolator.slot_of(executor.container_id),
            },
        )

    async def _start_container(self, fw: FrameworkRecord, executor: Executor) -> None:
        try:
            os.makedirs(executor.directory, exist_ok=True)
            cgroups = self.isolator.prepare(executor.container_id, executor.total_resources())
            request: dict[str, Any] = {
                "env": self._executor_env(fw, executor),
                "cwd": executor.directory,
                "cgroups": cgroups,
            }
            if executor.kind == CUSTOM:
                request["argv"] = _command_argv(executor.info.get("command") or {})
                request["stdout"] = os.path.join(executor.directory, "stdout")
                request["stderr"] = os.path.join(executor.directory, "stderr")
            else:
                request["builtin"] = "command"
                request["stdout"] = os.path.join(executor.directory, "executor.log")
                request["stderr"] = os.path.join(executor.directory, "executor.log")
            executor.pid = await self.launcher.launch(request)
        except (OSError, LaunchError, ValueError) as exc:
            logger.warning("Failed to launch executor %s: %s", executor.executor_id, exc)
            self._executor_terminated(executor, None, failure=("REASON_CONTAINER_LAUNCH_FAILED", f"Failed to launch container: {exc}"))
            return
        self.by_pid[executor.pid] = executor
        try:
            executor.pid_start = psutil.Process(executor.pid).create_time()
        except psutil.Error:
            pass
        self._checkpoint_executor(executor)
        logger.debug("Executor %s of framework %s started as pid %s", executor.executor_id, fw.id, executor.pid)

    def _update_limits(self, executor: Executor) -> None:
        try:
            self.isolator.prepare(executor.container_id, executor.total_resources())
        except OSError as exc:
            logger.warning("Could not update limits of %s: %s", executor.container_id, exc)

    def _executor_env(self, fw: FrameworkRecord, executor: Executor) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "MESOS_"))}
        grace = self.flags["executor_shutdown_grace_period"]
        env.update(
            {
                "MESOS_AGENT_ENDPOINT": self.endpoint,
                "MESOS_FRAMEWORK_ID": fw.id,
                "MESOS_EXECUTOR_ID": executor.executor_id,
                "MESOS_DIRECTORY": executor.directory,
                "MESOS_SANDBOX": executor.directory,
                "MESOS_SLAVE_ID": self.agent_id or "",
                "MESOS_AGENT_ID": self.agent_id or "",
                "MESOS_SLAVE_PID": f"slave(1)@{self.endpoint}",
                # Built-in executors always survive an agent restart; custom ones when the framework checkpoints.
                "MESOS_CHECKPOINT": "1" if executor.kind != CUSTOM or fw.info.get("checkpoint") else "0",
                "MESOS_RECOVERY_TIMEOUT": f"{int(self.flags['recovery_timeout'])}secs",
                "MESOS_SUBSCRIPTION_BACKOFF_MAX": "2secs",
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": f"{grace:g}secs",
                "MESOS_HTTP_COMMAND_EXECUTOR": "1" if executor.kind != CUSTOM else "0",
                "LIBPROCESS_PORT": "0",
            }
        )
        command = executor.info.get("command") or {}
        for var in (command.get("environment") or {}).get("variables", []):
            if isinstance(var, dict) and isinstance(var.get("name"), str):
                env[var["name"]] = str(var.get("value", ""))
        env.update(self.security.executor_env(fw, executor))
        return env

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

    # ------------------------------------------------------------------ executor API callbacks

    def find_executor(self, framework_id: str, executor_id: str) -> Executor | None:
        fw = self.frameworks.get(framework_id)
        return fw.executors.get(executor_id) if fw else None

    def executor_subscribed(self, executor: Executor, connection: Any, unacknowledged_tasks: set[str]) -> None:
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

    def executor_disconnected(self, executor: Executor, connection: Any) -> None:
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
            task.state = status["state"]
        self.updates.add(executor.framework_id, task_id, {"framework_id": wrap(executor.framework_id), "status": status})

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

    def _agent_status(self, executor: Executor, task: AgentTask, state: str, reason: str | None, message: str) -> None:
        """An update generated by the agent itself (reliable, acknowledged like the executor's)."""
        if task.terminal:
            return
        task.state = state
        status: dict[str, Any] = {
            "task_id": wrap(task.task_id),
            "state": state,
            "source": S.SOURCE_AGENT,
            "message": message,
            "agent_id": wrap(self.agent_id or ""),
            "executor_id": wrap(executor.executor_id),
            "timestamp": time.time(),
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        }
        if reason:
            status["reason"] = reason
        self.updates.add(executor.framework_id, task.task_id, {"framework_id": wrap(executor.framework_id), "status": status})

    def _acknowledge(self, framework_id: str, task_id: str, status_uuid: str) -> None:
        update = self.updates.acknowledge(framework_id, task_id, status_uuid)
        if update is None:
            return
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return
        for executor in fw.executors.values():
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
            break
        for executor in fw.completed_executors:
            task = executor.tasks.get(task_id)
            if task is not None and task.terminal and not self.updates.pending(framework_id, task_id):
                del executor.tasks[task_id]  # acknowledged after its executor ended
                executor.completed_tasks.append(task)
            if task is not None or any(t.task_id == task_id for t in executor.completed_tasks):
                self._forget_if_done(executor)
                break

    # ------------------------------------------------------------------ kills and shutdowns

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
        if executor.connection is not None:
            kill: dict[str, Any] = {"task_id": wrap(task_id)}
            if kill_policy is not None:
                kill["kill_policy"] = kill_policy
            executor.connection.send({"type": "KILL", "kill": kill})
        else:
            self._shutdown_executor(executor)

    def _shutdown_executor(self, executor: Executor) -> None:
        if executor.terminating:
            return
        executor.terminating = True
        executor.killed_by_agent = True
        if executor.connection is not None and executor.pid is not None:
            executor.connection.send({"type": "SHUTDOWN"})
            grace = self.flags["executor_shutdown_grace_period"]
            asyncio.get_running_loop().call_later(grace, self._destroy, executor)
        else:
            self._destroy(executor)

    def _destroy(self, executor: Executor) -> None:
        if executor.pid is None:
            self._executor_terminated(executor, None)
            return
        fw = self.frameworks.get(executor.framework_id)
        if fw is not None and fw.executors.get(executor.executor_id) is executor:
            # Kill it; its exit is reported by the zygote, or by the pid watcher for recovered ones.
            self.isolator.kill(executor.container_id, executor.pid)

    def _shutdown_framework(self, framework_id: str) -> None:
        fw = self.frameworks.get(framework_id)
        if fw is None:
            return
        logger.info("Shutting down framework %s", framework_id)
        for executor in list(fw.executors.values()):
            self._shutdown_executor(executor)
        self.updates.forget_framework(framework_id)

    async def _shutdown_agent(self) -> None:
        for fw in list(self.frameworks.values()):
            self._shutdown_framework(fw.id)
        await asyncio.sleep(self.flags["executor_shutdown_grace_period"] + 0.5)
        self.master.stop_reconnecting()
        await self.close()

    def _check_registration_timeouts(self) -> None:
        now = time.monotonic()
        for fw in self.frameworks.values():
            for executor in list(fw.executors.values()):
                timeout = self.flags[
                    "executor_reregistration_timeout" if executor.recovered else "executor_registration_timeout"
                ]
                if not executor.subscribed and not executor.terminating and now - executor.launched_at > timeout:
                    logger.warning("Executor %s did not subscribe within %.0fs; killing it", executor.executor_id, timeout)
                    reason = S.REASON_EXECUTOR_REREGISTRATION_TIMEOUT if executor.recovered else S.REASON_EXECUTOR_REGISTRATION_TIMEOUT
                    for task in executor.tasks.values():
                        self._agent_status(executor, task, S.TASK_FAILED, reason, "Executor did not register in time")
                    executor.terminating = True
                    executor.killed_by_agent = True
                    self._destroy(executor)

    # ------------------------------------------------------------------ termination

    def _process_exited(self, pid: int, wait_status: int) -> None:
        executor = self.by_pid.pop(pid, None)
        if executor is not None:
            self._executor_terminated(executor, wait_status)

    def _executor_terminated(self, executor: Executor, wait_status: int | None, failure: tuple[str, str] | None = None) -> None:
        limitation = failure or self.isolator.limitation(executor.container_id)
        for task in list(executor.tasks.values()):
            if task.terminal:
                continue
            if limitation is not None:
                self._agent_status(executor, task, S.TASK_FAILED, limitation[0], limitation[1])
            elif executor.killed_by_agent:
                self._agent_status(executor, task, S.TASK_KILLED, S.REASON_EXECUTOR_TERMINATED, "Executor was shut down")
            else:
                self._agent_status(executor, task, S.TASK_FAILED, S.REASON_EXECUTOR_TERMINATED, "Executor terminated")
        try:
            self.isolator.cleanup(executor.container_id, None)
        except OSError:
            logger.exception("cleanup of container %s failed", executor.container_id)
        fw = self.frameworks.get(executor.framework_id)
        if fw is not None and fw.executors.get(executor.executor_id) is executor:
            del fw.executors[executor.executor_id]
            fw.completed_executors.append(executor)
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

    def _forget_if_done(self, executor: Executor) -> None:
        """Drop the checkpoint of an ended executor once all its updates are acknowledged."""
        fw = self.frameworks.get(executor.framework_id)
        if fw is not None and fw.executors.get(executor.executor_id) is executor:
            return
        task_ids = [t.task_id for t in list(executor.tasks.values()) + list(executor.completed_tasks)]
        if self.updates.has_pending(executor.framework_id, task_ids):
            return
        self.checkpoint.forget_executor(executor.framework_id, executor.executor_id, task_ids)

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        """After a restart: find the executors that outlived us and the updates not yet acknowledged."""
        recovered = self.checkpoint.load()
        if self.flags["recover"] == "cleanup":
            for record in recovered.executors.values():
                if _alive(record.get("pid"), record.get("pid_start")):
                    logger.info("--recover cleanup: killing executor %s (pid %s)", record["executor_id"], record["pid"])
                    if record.get("cgroup") and hasattr(self.isolator, "adopt"):
                        self.isolator.adopt(record["container_id"], record["cgroup"])
                    self.isolator.kill(record["container_id"], record["pid"])
                    self.isolator.cleanup(record["container_id"], None)
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
        now = time.monotonic()
        for (framework_id, executor_id), record in recovered.executors.items():
            fw = self.frameworks.get(framework_id)
            if fw is None:
                continue
            executor = Executor(
                framework_id=framework_id, executor_id=executor_id, info=record["info"], kind=record["kind"],
                container_id=record["container_id"], directory=record["directory"],
                resources=safe_resources(record["info"].get("resources", [])), launched_at=now,
                pid=record.get("pid"), pid_start=record.get("pid_start"), recovered=True,
            )
            for task in recovered.tasks.get((framework_id, executor_id), []):
                state = last_state.get((framework_id, task["task_id"]["value"]), S.TASK_STAGING)
                executor.tasks[task["task_id"]["value"]] = AgentTask(task, framework_id, executor_id, state=state, launched=True)
            fw.executors[executor_id] = executor
            if record.get("cgroup") and hasattr(self.isolator, "adopt"):
                self.isolator.adopt(executor.container_id, record["cgroup"])
            if _alive(executor.pid, executor.pid_start):
                logger.info("Recovered executor %s of framework %s (pid %s)", executor_id, framework_id, executor.pid)
                self._watch_recovered(executor)
            else:
                logger.info("Executor %s of framework %s ended while the agent was down", executor_id, framework_id)
                executor.pid = None
                self._executor_terminated(executor, None, failure=(S.REASON_EXECUTOR_TERMINATED, "Executor terminated while the agent was down"))

    def _watch_recovered(self, executor: Executor) -> None:
        """A recovered executor is not our child: learn of its exit through a pidfd."""
        assert executor.pid is not None
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(executor.pid)
        except OSError:
            self.spawn(self._poll_recovered(executor), "watch executor")
            return

        def exited() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._recovered_exited(executor)

        loop.add_reader(fd, exited)

    async def _poll_recovered(self, executor: Executor) -> None:
        while _alive(executor.pid, executor.pid_start):
            await asyncio.sleep(1.0)
        self._recovered_exited(executor)

    def _recovered_exited(self, executor: Executor) -> None:
        fw = self.frameworks.get(executor.framework_id)
        if fw is not None and fw.executors.get(executor.executor_id) is executor:
            self._executor_terminated(executor, None)

    # ------------------------------------------------------------------ endpoints

    async def _state(self, request: web.Request) -> web.Response:
        def executor_json(e: Executor) -> dict[str, Any]:
            return {
                "id": e.executor_id,
                "name": e.info.get("name", ""),
                "source": e.info.get("source", ""),
                "container": e.container_id,
                "directory": e.directory,
                "type": e.kind,
                "resources": e.total_resources().legacy_dict(),
                "pid": e.pid,
                "tasks": [task_json(t) for t in e.tasks.values() if t.launched and not t.terminal],
                "queued_tasks": [task_json(t) for t in e.tasks.values() if not t.launched and not t.terminal],
                "completed_tasks": [task_json(t) for t in list(e.tasks.values()) + list(e.completed_tasks) if t.terminal],
            }

        def task_json(t: AgentTask) -> dict[str, Any]:
            return {
                "id": t.task_id,
                "name": t.info.get("name", ""),
                "framework_id": t.framework_id,
                "executor_id": t.executor_id,
                "slave_id": self.agent_id,
                "state": t.state,
                "resources": t.resources.legacy_dict(),
            }

        frameworks = []
        for fw in self.frameworks.values():
            frameworks.append(
                {
                    "id": fw.id,
                    "name": fw.info.get("name", ""),
                    "user": fw.info.get("user", ""),
                    "role": fw.info.get("role", "*"),
                    "roles": fw.info.get("roles", []),
                    "executors": [executor_json(e) for e in fw.executors.values()],
                    "completed_executors": [executor_json(e) for e in fw.completed_executors],
                }
            )
        return json_response(
            {
                "version": MESOS_API_VERSION,
                "corral_version": __version__,
                "id": self.agent_id,
                "pid": f"slave(1)@{self.endpoint}",
                "hostname": self.hostname,
                "start_time": self.start_time,
                "resources": self.total.legacy_dict(),
                "reserved_resources_full": {r: self.total.reserved(r).to_json() for r in self.total.reservation_roles()},
                "attributes": self.flags["attributes"].values(),
                "master_hostname": self.master.master_address or "",
                "isolation": self.isolator.name,
                "flags": config.public(self.flags, AGENT_FLAGS),
                "frameworks": frameworks,
                "completed_frameworks": [],
            }
        )


def _alive(pid: int | None, started: float | None) -> bool:
    """Is this pid still the process we launched (not a zombie, not a reused pid)?"""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 0.05
    except psutil.Error:
        return False


def _command_argv(command: dict[str, Any]) -> list[str]:
    if command.get("shell", True):
        if not command.get("value"):
            raise ValueError("executor command has no value")
        return ["/bin/sh", "-c", command["value"]]
    arguments = list(command.get("arguments") or [])
    program = command.get("value") or (arguments[0] if arguments else None)
    if not program:
        raise ValueError("executor command has neither value nor arguments")
    return [program] + arguments[1:]

