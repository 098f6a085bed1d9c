"""Executor containers on this machine: the `Containers` that `AgentState` drives.

Processes are started by the zygote (`Launcher`), isolated by the isolator
(`isolators/`), and their exits reported back to the state machine: by
the zygote for our children, by a pidfd (or polling) for executors
recovered after an agent restart.  A command task the agent runs itself
(agent/command_tasks.py) is started the same way, as its own process; the
zygote writes its wait status to `<work_dir>/meta/exits/<container id>`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import signal
from typing import TYPE_CHECKING, Any, Coroutine, Protocol

import psutil

from corral.agent import isolators, volumes
from corral.agent.isolators import disk
from corral.agent.limitations import disk_limitation
from corral.agent.launcher import LaunchError, Launcher
from corral.agent.model import CUSTOM, Executor, FrameworkRecord, Limitation
from corral.agent.sessions import Sessions
from corral.executor import image_run
from corral.executor.command import PRIVATE_ENV
from corral.resources import Resources

if TYPE_CHECKING:
    from corral.agent.state import AgentState
    from corral.security.agent import AgentSecurity

logger = logging.getLogger(__name__)


class ContainerHost(Protocol):
    """What the containerizer uses of the agent daemon: its flags, its state (the exits it is
    told, the agent's id and endpoint), its security (the executors' environment) and its
    task group."""

    @property
    def flags(self) -> dict[str, Any]: ...

    @property
    def state(self) -> AgentState: ...

    @property
    def security(self) -> AgentSecurity: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


class Containerizer:
    def __init__(self, agent: ContainerHost) -> None:
        self.agent = agent
        self.isolator: isolators.Isolator = isolators.PosixIsolator()
        self.launcher = Launcher(on_exit=self._process_exited)
        self.by_pid: dict[int, Executor] = {}
        self.early_exits: dict[int, int] = {}  # pid -> wait status, reported before its launch returned
        self.disk_used: dict[str, int] = {}  # container_id -> bytes its sandbox holds (disk/du)
        self.sessions = Sessions(self)
        # What executors inherit of the agent's own environment (read once: os.environ decodes each item).
        self._inherited_env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "MESOS_"))}

    @property
    def state(self) -> AgentState:
        return self.agent.state

    @property
    def docker(self) -> str:
        return self.agent.flags["docker"]

    async def start(self) -> None:
        os.makedirs(os.path.dirname(self._exit_file("-")), exist_ok=True)
        await self.launcher.start()

    async def stop(self) -> None:
        await self.sessions.close()
        await self.launcher.stop()
        self.isolator.close()

    # ------------------------------------------------------------------ launching

    def launch(self, framework: FrameworkRecord, executor: Executor) -> None:
        self.agent.spawn(self._launch(framework, executor), "launch executor")

    async def _launch(self, fw: FrameworkRecord, executor: Executor) -> None:
        state = self.agent.state
        missing = await self._missing_image(executor)
        if missing:
            state.executor_launch_failed(executor, missing)
            return
        try:
            os.makedirs(executor.directory, exist_ok=True)
            _link_volumes(executor, state.options.work_dir)
            cgroups = self.isolator.prepare(executor.container_id, executor.total_resources())
            request: dict[str, Any] = {
                "env": self._executor_env(fw, executor),
                "cwd": executor.directory,
                "cgroups": cgroups,
            }
            if executor.in_agent:
                request.update(self._command_task_request(fw, executor, request["env"]))
            elif executor.kind == CUSTOM:
                request["argv"] = _command_argv(executor.info.get("command") or {})
                request["stdout"] = os.path.join(executor.directory, "stdout")
                request["stderr"] = os.path.join(executor.directory, "stderr")
            else:
                request["builtin"] = "command"
                request["stdout"] = os.path.join(executor.directory, "executor.log")
                request["stderr"] = os.path.join(executor.directory, "executor.log")
            pid = await self.launcher.launch(request)
        except (OSError, LaunchError, ValueError) as exc:
            state.executor_launch_failed(executor, str(exc))
            return
        self.by_pid[pid] = executor
        try:
            pid_start: float | None = psutil.Process(pid).create_time()
        except psutil.Error:
            pid_start = None
        state.executor_started(executor, pid, pid_start, self.isolator.slot_of(executor.container_id))
        if pid in self.early_exits:  # (a short task: ended before its launch was answered)
            self._process_exited(pid, self.early_exits.pop(pid))

    def _command_task_request(self, fw: FrameworkRecord, executor: Executor, env: dict[str, str]) -> dict[str, Any]:
        """How the zygote starts a command task the agent runs: what the command executor would
        run, with the environment it would give it (its own, less what only it may know)."""
        task = next(iter(executor.tasks.values())).info
        command = task.get("command") or {}
        env = {k: v for k, v in env.items() if k not in PRIVATE_ENV and not k.startswith("CORRAL_")}
        env["MESOS_TASK_ID"] = task["task_id"]["value"]
        for var in (command.get("environment") or {}).get("variables", []):
            if isinstance(var, dict) and isinstance(var.get("name"), str):
                env[var["name"]] = str(var.get("value", ""))
        request: dict[str, Any] = {
            "argv": _command_argv(command),
            "env": env,
            "stdout": os.path.join(executor.directory, "stdout"),
            "stderr": os.path.join(executor.directory, "stderr"),
            "exit_file": self._exit_file(executor.container_id),
        }
        user = command.get("user") or fw.info.get("user") or ""
        if user and os.geteuid() == 0 and user != "root":
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                raise ValueError(f"user '{user}' does not exist on this agent") from None
            request["user"] = [entry.pw_uid, entry.pw_gid]
            env.setdefault("HOME", entry.pw_dir)
        return request

    def _exit_file(self, container_id: str) -> str:
        return os.path.join(self.agent.state.options.work_dir, "meta", "exits", container_id)

    def exit_status(self, executor: Executor) -> int | None:
        try:
            with open(self._exit_file(executor.container_id)) as fh:
                return int(fh.read())
        except (OSError, ValueError):
            return None

    async def _missing_image(self, executor: Executor) -> str | None:
        """Why a task's image cannot be run here: it is not in local storage (registries are not
        reached), or the --docker tool is missing.  None when there is no image or it is there."""
        for task in executor.tasks.values():
            container = task.info.get("container")
            try:
                image = image_run.image_name(container)
            except ValueError as exc:
                return str(exc)
            if image is None:
                continue
            tool = self.agent.flags["docker"]
            try:
                proc = await asyncio.create_subprocess_exec(tool, "image", "exists", image, stdout=asyncio.subprocess.DEVNULL,
                                                            stderr=asyncio.subprocess.DEVNULL)
            except OSError as exc:
                return f"--docker {tool} cannot run ({exc.strerror})"
            if await proc.wait() != 0:
                pull = " (force_pull_image: registries are not reached from this agent)" if (
                    (container.get("docker") or {}).get("force_pull_image")) else ""
                return f"image '{image}' is not in the agent's local image storage{pull}"
        return None

    def _executor_env(self, fw: FrameworkRecord, executor: Executor) -> dict[str, str]:
        flags = self.agent.flags
        endpoint = self.agent.state.endpoint
        agent_id = self.agent.state.agent_id or ""
        env = dict(self._inherited_env)
        grace = flags["executor_shutdown_grace_period"]
        env.update(
            {
                "MESOS_AGENT_ENDPOINT": endpoint,
                "MESOS_FRAMEWORK_ID": fw.id,
                "MESOS_EXECUTOR_ID": executor.executor_id,
                "MESOS_DIRECTORY": executor.directory,
                "MESOS_SANDBOX": executor.directory,
                "MESOS_SLAVE_ID": agent_id,
                "MESOS_AGENT_ID": agent_id,
                "MESOS_SLAVE_PID": f"slave(1)@{endpoint}",
                # Built-in executors always survive an agent restart; custom ones when the framework checkpoints.
                "MESOS_CHECKPOINT": "1" if executor.kind != CUSTOM or fw.info.get("checkpoint") else "0",
                "MESOS_RECOVERY_TIMEOUT": f"{int(flags['recovery_timeout'])}secs",
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
        if "docker" in flags["containerizers"]:
            env["CORRAL_DOCKER"] = flags["docker"]  # the command executor runs image tasks with it
            env["CORRAL_DOCKER_BRIDGE"] = flags["docker_bridge_network"]
        env.update(self.agent.security.executor_env(fw, executor))
        return env

    def update_limits(self, container_id: str, resources: Resources) -> None:
        try:
            self.isolator.prepare(container_id, resources)
        except OSError as exc:
            logger.warning("Could not update limits of %s: %s", container_id, exc)

    # ------------------------------------------------------------------ killing and exits

    def kill(self, container_id: str, pid: int) -> None:
        self.isolator.kill(container_id, pid)

    def terminate(self, container_id: str, pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGTERM)  # (the zygote started it in a session, and so a group, of its own)
        except (ProcessLookupError, PermissionError):
            pass

    def cleanup(self, container_id: str) -> None:
        self.disk_used.pop(container_id, None)
        try:
            os.unlink(self._exit_file(container_id))
        except FileNotFoundError:
            pass
        self.sessions.parent_gone(container_id)
        if "docker" in self.agent.flags["containerizers"]:
            self.agent.spawn(self._cleanup_with_images(container_id), "clean up a container")
        else:
            self.isolator.cleanup(container_id, None)

    async def _cleanup_with_images(self, container_id: str) -> None:
        """Remove what the executor's image tasks left, then its cgroups: killed first, the
        executor's processes could take the tool's monitor (conmon) and orphan the container."""
        try:
            await self._remove_image_containers(container_id)
        finally:
            try:
                self.isolator.cleanup(container_id, None)
            except OSError:
                logger.exception("cleanup of container %s failed", container_id)

    async def _remove_image_containers(self, container_id: str) -> None:
        tool = self.agent.flags["docker"]
        listed = await asyncio.create_subprocess_exec(tool, "ps", "-aq", "--filter", f"label={image_run.LABEL}={container_id}",
                                                      stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        ids = (await listed.communicate())[0].decode().split()
        if ids:
            logger.info("Removing the container(s) %s of executor container %s", " ".join(ids), container_id)
            removed = await asyncio.create_subprocess_exec(tool, "rm", "-f", "-t", "0", *ids,
                                                           stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await removed.wait()

    # ------------------------------------------------------------------ disk/du

    async def watch_disks(self, interval: float, enforce: bool) -> None:
        """Measure each running container's sandbox every `interval`; with `enforce`, one over
        its disk resources is limited (its tasks fail, it is destroyed)."""
        while True:
            await asyncio.sleep(interval)
            state = self.agent.state
            for executor in [e for fw in state.frameworks.values() for e in fw.executors.values() if e.pid is not None]:
                used = await asyncio.to_thread(disk.du, executor.directory)
                self.disk_used[executor.container_id] = used
                quota = _disk_quota(executor)
                if enforce and quota and used > quota:
                    state.container_limited(executor, disk_limitation(quota, used))

    def disk_statistics(self, executor: Executor) -> dict[str, Any]:
        used = self.disk_used.get(executor.container_id)
        if used is None:
            return {}
        return {"disk_used_bytes": used, "disk_limit_bytes": _disk_quota(executor)}

    def limitation(self, container_id: str) -> Limitation | None:
        return self.isolator.limitation(container_id)

    def _process_exited(self, pid: int, wait_status: int) -> None:
        executor = self.by_pid.pop(pid, None)
        if executor is not None:
            self.agent.state.executor_exited(executor, wait_status)
        else:
            self.early_exits[pid] = wait_status

    # ------------------------------------------------------------------ recovered executors

    def adopt(self, container_id: str, cgroup: str) -> None:
        adopt = getattr(self.isolator, "adopt", None)
        if adopt is not None:
            adopt(container_id, cgroup)

    def alive(self, pid: int | None, pid_start: float | None) -> bool:
        return _alive(pid, pid_start)

    def watch(self, executor: Executor) -> None:
        """A recovered executor is not our child: learn of its exit through a pidfd."""
        assert executor.pid is not None
        if not _alive(executor.pid, executor.pid_start):  # (ended already: its pid may be another's now)
            self.agent.spawn(self._report_recovered_exit(executor), "report a recovered executor's exit")
            return
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(executor.pid)
        except OSError:
            self.agent.spawn(self._poll(executor), "watch executor")
            return

        def exited() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self.agent.spawn(self._report_recovered_exit(executor), "report a recovered executor's exit")

        loop.add_reader(fd, exited)

    async def _poll(self, executor: Executor) -> None:
        while _alive(executor.pid, executor.pid_start):
            await asyncio.sleep(1.0)
        await self._report_recovered_exit(executor)

    async def _report_recovered_exit(self, executor: Executor) -> None:
        """A command task the agent ran is reaped by the zygote of the agent before us, which then
        writes its exit file: give it a moment (a zygote that is gone too writes none)."""
        if executor.in_agent:
            for _ in range(40):
                if os.path.exists(self._exit_file(executor.container_id)):
                    break
                await asyncio.sleep(0.05)
        self.agent.state.recovered_executor_exited(executor)


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


def _link_volumes(executor: Executor, work_dir: str) -> None:
    """Each persistent volume of the container at its container_path in the sandbox."""
    for link, directory in volumes.links(executor.directory, work_dir, executor.total_resources()):
        os.makedirs(directory, exist_ok=True)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(directory, link)


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


def _disk_quota(executor: Executor) -> int:
    """Bytes of the executor's `disk` resources, its tasks' included (0: none)."""
    return int(executor.total_resources().scalar("disk") * 2**20)
