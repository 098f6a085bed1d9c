"""Nested container sessions: a command run inside a running task's container, as `task exec` does.

A session (LAUNCH_NESTED_CONTAINER_SESSION) is what Mesos calls a DEBUG nested container: it
joins the parent container's cgroups, so the parent's limits hold it too, runs in the parent's
sandbox as the parent's user, and gets a pseudo-terminal when the call asks for `tty_info`.  A
parent that runs its task in an image (ContainerInfo DOCKER or MESOS with an image) gets the
command through the image tool's `exec` instead, so that it sees the image's files.

Its output is published to every subscriber as ProcessIO records (the launching call's stream
and any ATTACH_CONTAINER_OUTPUT); its input comes from one ATTACH_CONTAINER_INPUT at a time.
The session ends when its process exits; its exit status stays for WAIT_CONTAINER.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pwd
import signal
import struct
import sys
import termios
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

from corral.agent import enter
from corral.agent.session_calls import SessionLaunch, output_record
from corral.executor import image_run

if TYPE_CHECKING:
    from corral.agent.isolators import Isolator
    from corral.agent.model import Executor
    from corral.agent.state import AgentState

logger = logging.getLogger(__name__)

KEPT_EXITS = 1000  # exit statuses of ended sessions kept for WAIT_CONTAINER
OUTPUT_AFTER_EXIT = 1.0  # seconds to drain output once the process exited (a child may hold the pipe)
CHUNK = 65536


class SessionConflict(Exception):
    """The call collides with another: an id already in use, or a second input attachment."""


class SessionHost(Protocol):
    @property
    def state(self) -> AgentState: ...

    @property
    def isolator(self) -> Isolator: ...

    @property
    def docker(self) -> str: ...


class Session:
    def __init__(self, launch: SessionLaunch, parent: Executor) -> None:
        self.launch, self.parent = launch, parent
        self.proc: asyncio.subprocess.Process | None = None
        self.tty: int | None = None  # the terminal's master side
        self.subscribers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self.input_attached = False
        self.exit_status: int | None = None
        self.ended = asyncio.Event()

    @property
    def container_id(self) -> str:
        return self.launch.container.value

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        if self.ended.is_set():
            queue.put_nowait(None)
        else:
            self.subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        if queue in self.subscribers:
            self.subscribers.remove(queue)

    def _publish(self, record: dict[str, Any] | None) -> None:
        for queue in self.subscribers:
            queue.put_nowait(record)

    # -- input -----------------------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """Write to the process's stdin (its terminal with a tty); empty data is EOF."""
        if self.tty is not None:
            while data:  # (a terminal takes EOF as the EOT byte the client sends, not as a close)
                try:
                    data = data[os.write(self.tty, data):]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
            return
        assert self.proc is not None and self.proc.stdin is not None
        if not data:
            self.proc.stdin.close()
            return
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    def resize(self, rows: int, columns: int) -> None:
        if self.tty is not None:
            _set_window(self.tty, rows, columns)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, sig)  # (its own session: the parent's processes are not in it)
            except ProcessLookupError:
                pass

    # -- the process's life ----------------------------------------------------------------

    async def start(self, argv: list[str], env: dict[str, str]) -> None:
        """Start the process (an OSError if it cannot be)."""
        if self.launch.tty:
            await self._start_with_terminal(argv, env)
        else:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                cwd=self.parent.directory, env=env, start_new_session=True)

    async def run(self) -> None:
        """Publish the process's output until it has exited, then end the session."""
        assert self.proc is not None
        pumps = [asyncio.ensure_future(self._pump_terminal())] if self.tty is not None else [
            asyncio.ensure_future(self._pump(self.proc.stdout, "STDOUT")),
            asyncio.ensure_future(self._pump(self.proc.stderr, "STDERR"))]
        code = await self.proc.wait()
        await asyncio.wait(pumps, timeout=OUTPUT_AFTER_EXIT)
        for pump in pumps:
            pump.cancel()
        if self.tty is not None:
            asyncio.get_running_loop().remove_reader(self.tty)
            os.close(self.tty)
            self.tty = None
        self._end(code << 8 if code >= 0 else -code)  # (a wait status, as Mesos reports exit_status)

    async def _start_with_terminal(self, argv: list[str], env: dict[str, str]) -> None:
        master, child_side = os.openpty()
        try:
            if self.launch.window:
                _set_window(master, *self.launch.window)
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=child_side, stdout=child_side, stderr=child_side, cwd=self.parent.directory, env=env,
                start_new_session=True)
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(child_side)
        os.set_blocking(master, False)
        self.tty = master

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        assert stream is not None
        while data := await stream.read(CHUNK):
            self._publish(output_record(name, data))

    async def _pump_terminal(self) -> None:
        assert self.tty is not None
        fd, done = self.tty, asyncio.Event()

        def readable() -> None:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: every process holding the terminal has gone
                data = b""
            if data:
                self._publish(output_record("STDOUT", data))
            else:
                asyncio.get_running_loop().remove_reader(fd)
                done.set()

        asyncio.get_running_loop().add_reader(fd, readable)
        await done.wait()

    def _end(self, wait_status: int) -> None:
        self.exit_status = wait_status
        self._publish(None)
        self.subscribers.clear()
        self.ended.set()


class Sessions:
    """The sessions of this agent's containers, live and recently ended."""

    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.live: dict[str, Session] = {}
        self.exits: OrderedDict[str, int] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def launch(self, launch: SessionLaunch) -> tuple[Session, asyncio.Queue[dict[str, Any] | None]]:
        """Start a session; its first subscriber (the launching call's output) is returned with it."""
        assert launch.container.parent is not None
        parent = self._running(launch.container.parent)
        if launch.container.value in self.live or launch.container.value in self.exits or self._executor(launch.container.value):
            raise SessionConflict(f"Container '{launch.container.value}' already exists on this agent")
        argv = await self._argv(parent, launch)
        session = Session(launch, parent)
        queue = session.subscribe()
        await session.start(argv, self._env(parent, launch))
        self.live[session.container_id] = session
        task = asyncio.ensure_future(self._run(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        logger.info("Nested container %s in %s: %s%s", session.container_id, parent.container_id, " ".join(argv[-len(launch.argv):]),
                    " (with a terminal)" if launch.tty else "")
        return session, queue

    async def _run(self, session: Session) -> None:
        try:
            await session.run()
        finally:
            if not session.ended.is_set():  # (cancelled: the agent stops)
                session.kill()
                session._end(signal.SIGKILL)
            self.live.pop(session.container_id, None)
            self.exits[session.container_id] = session.exit_status or 0
            while len(self.exits) > KEPT_EXITS:
                self.exits.popitem(last=False)

    def find(self, container_id: str) -> Session:
        session = self.live.get(container_id)
        if session is None:
            raise LookupError(f"Container '{container_id}' is not a running nested container of this agent")
        return session

    async def wait(self, container_id: str) -> int:
        if container_id in self.exits:
            return self.exits[container_id]
        session = self.live.get(container_id)
        if session is None:
            raise LookupError(f"Container '{container_id}' is not a nested container of this agent"
                              + (" (an executor's container: only nested containers are waited for here)"
                                 if self._executor(container_id) else ""))
        await session.ended.wait()
        return session.exit_status or 0

    def kill(self, container_id: str, sig: int) -> None:
        self.find(container_id).kill(sig)

    def parent_gone(self, container_id: str) -> None:
        """An executor's container was destroyed: so are the sessions nested in it (as in Mesos)."""
        for session in list(self.live.values()):
            if session.parent.container_id == container_id:
                session.kill()

    async def close(self) -> None:
        for session in list(self.live.values()):
            session.kill()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- what a session runs -----------------------------------------------------------------

    def _executor(self, container_id: str) -> Executor | None:
        for fw in self.host.state.frameworks.values():
            for executor in fw.executors.values():
                if executor.container_id == container_id:
                    return executor
        return None

    def _running(self, container_id: str) -> Executor:
        executor = self._executor(container_id)
        if executor is None or executor.pid is None:
            raise LookupError(f"Container '{container_id}' is not a running container of this agent")
        return executor

    async def _argv(self, parent: Executor, launch: SessionLaunch) -> list[str]:
        """The command, entering the parent: through the image tool into its image container, or
        into its cgroups (enter.py) as its user."""
        image_container = await self._image_container(parent)
        if image_container is not None:
            flags = ["-i"] + (["-t"] if launch.tty else []) + (["--user", launch.user] if launch.user else [])
            env = [f"--env={k}={v}" for k, v in sorted(launch.environment.items())]
            return [self.host.docker, "exec", *flags, *env, image_container, *launch.argv]
        uid = gid = ""
        user = launch.user or _user_of(parent, self.host.state)
        if user and os.geteuid() == 0 and user != "root":
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                raise ValueError(f"user '{user}' does not exist on this agent") from None
            uid, gid = str(entry.pw_uid), str(entry.pw_gid)
        cgroups = "\n".join(self.host.isolator.cgroup_paths(parent.container_id))
        return [sys.executable, "-I", "-S", enter.__file__, cgroups, "tty" if launch.tty else "pipe", uid, gid, "--",
                *launch.argv]

    async def _image_container(self, parent: Executor) -> str | None:
        if not any(image_run.image_name(t.info.get("container")) for t in parent.tasks.values()):
            return None
        listed = await asyncio.create_subprocess_exec(
            self.host.docker, "ps", "-q", "--filter", f"label={image_run.LABEL}={parent.container_id}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        ids = (await listed.communicate())[0].decode().split()
        if not ids:
            raise LookupError(f"Container '{parent.container_id}' runs its task in an image, and that is not running (yet)")
        return ids[0]

    def _env(self, parent: Executor, launch: SessionLaunch) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "MESOS_"))}
        env.update({"MESOS_SANDBOX": parent.directory, "MESOS_CONTAINER_ID": launch.container.value})
        if launch.tty:
            env.setdefault("TERM", "xterm")
        env.update(launch.environment)
        return env


def _user_of(executor: Executor, state: AgentState) -> str | None:
    """The parent's user: its command's, else its framework's (as the command executor runs tasks)."""
    for source in [executor.info] + [t.info for t in executor.tasks.values()]:
        user = (source.get("command") or {}).get("user")
        if isinstance(user, str) and user:
            return user
    fw = state.frameworks.get(executor.framework_id)
    user = fw.info.get("user") if fw is not None else None
    return user if isinstance(user, str) and user else None


def _set_window(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
