"""The built-in command executor (like `mesos-executor`) and default executor.

One process per executor.  A command task on the host does not come here: the
agent plays its command executor itself (agent/command_tasks.py); this one
runs command tasks in a container image (executor/image_run.py) and task groups.  It subscribes to its agent over the v1 executor
HTTP API, runs the command of each task it is given (LAUNCH: one command
task; LAUNCH_GROUP: a task group, the job of Mesos's default executor) in its
own process group, reports TASK_RUNNING and the terminal state, and kills
tasks with SIGTERM, then SIGKILL after the grace period.

It uses the standard library only (plus Corral's RecordIO decoder) so that
it starts fast; the agent normally forks it from a pre-started zygote.
Diagnostics go to `executor.log` in the sandbox so that the task's own
stdout and stderr stay clean.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from corral.executor import image_run
from corral.executor.oom_watch import OomWatch
from corral.protocol.recordio import Decoder

# Keep this module's imports to the bare standard library: every module the
# zygote holds makes each forked executor more expensive (no typing, no
# dataclasses, no http.client with its ssl and email imports).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

DEFAULT_KILL_GRACE = 3.0
PATH = "/api/v1/executor"
TOKEN_ENV = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
# What the agent gives this executor but its tasks must not inherit.
PRIVATE_ENV = (TOKEN_ENV, "LIBPROCESS_SSL_KEY_FILE", "LIBPROCESS_SSL_CERT_FILE")


class HTTPError(OSError):
    pass


def _log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} executor: {message}\n")
    sys.stderr.flush()


class RunningTask:
    __slots__ = ("task", "process", "kill_requested", "grace", "terminal_sent", "group", "container", "oom_watch")

    def __init__(self, task: dict[str, Any], grace: float, group: list[str]) -> None:
        self.task = task
        self.process: subprocess.Popen | None = None
        self.container: str | None = None  # the name of its image container (executor/image_run.py)
        self.oom_watch: OomWatch | None = None  # for an image container
        self.kill_requested = False
        self.grace = grace
        self.terminal_sent = False
        self.group = group

    @property
    def task_id(self) -> str:
        return self.task["task_id"]["value"]


class _HTTP:
    """The little HTTP/1.1 the executor needs: POST JSON, read a (chunked) reply."""

    def __init__(self, host: str, port: int, timeout: float | None, tls: Any = None, authorization: str = "") -> None:
        self.host, self.port = host, port
        self.authorization = authorization
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the agent closed the connection")
        self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def post(self, body: bytes) -> tuple[int, dict[str, str]]:
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\n{self.authorization}Content-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        status = int(self._line().split()[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                return status, headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    def body(self, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return self._exactly(int(headers["content-length"]))
        return b"".join(self.chunks())

    def chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self._line().split(b";")[0], 16)
            if size == 0:
                self._line()
                return
            data = self._exactly(size)
            self._exactly(2)
            yield data


class AgentClient:
    """The executor side of the v1 executor API."""

    def __init__(self, endpoint: str, framework_id: str, executor_id: str, env: dict[str, str] | None = None) -> None:
        host, _, port = endpoint.rpartition(":")
        self.host, self.port = host, int(port)
        self.framework_id = framework_id
        self.executor_id = executor_id
        env = env or {}
        token = env.get(TOKEN_ENV)
        self.authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        self.tls = _tls_context(env)
        self._lock = threading.Lock()
        self._conn: _HTTP | None = None

    def _call(self, call: dict[str, Any]) -> bytes:
        return json.dumps(
            {"framework_id": {"value": self.framework_id}, "executor_id": {"value": self.executor_id}, **call}
        ).encode()

    def subscribe(self, unacknowledged_tasks: list[dict[str, Any]], unacknowledged_updates: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        conn = _HTTP(self.host, self.port, timeout=None, tls=self.tls, authorization=self.authorization)
        try:
            body = self._call(
                {
                    "type": "SUBSCRIBE",
                    "subscribe": {"unacknowledged_tasks": unacknowledged_tasks, "unacknowledged_updates": unacknowledged_updates},
                }
            )
            status, headers = conn.post(body)
            if status != 200:
                raise HTTPError(f"SUBSCRIBE failed: HTTP {status} {conn.body(headers)[:200]!r}")
            decoder = Decoder()
            for data in conn.chunks():
                for record in decoder.feed(data):
                    yield json.loads(record)
        finally:
            conn.close()

    def post(self, call: dict[str, Any]) -> None:
        """POST a call on one kept-alive connection (reopened once if the agent closed it)."""
        body = self._call(call)
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = _HTTP(self.host, self.port, timeout=30, tls=self.tls, authorization=self.authorization)
                    status, headers = self._conn.post(body)
                    text = self._conn.body(headers)
                    break
                except OSError:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        if status // 100 != 2:
            raise HTTPError(f"{call['type']} failed: HTTP {status} {text[:300]!r}")


class CommandExecutor:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.client = AgentClient(env["MESOS_AGENT_ENDPOINT"], env["MESOS_FRAMEWORK_ID"], env["MESOS_EXECUTOR_ID"], env)
        self.executor_id = env["MESOS_EXECUTOR_ID"]
        self.sandbox = env.get("MESOS_SANDBOX") or os.getcwd()
        self.tasks: dict[str, RunningTask] = {}
        self.capabilities: set[str] = set()
        self.framework_user = ""
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.launched_any = False
        self.acknowledged: set[str] = set()  # tasks with at least one acknowledged update

    # -- main loop ---------------------------------------------------------------

    def run(self) -> int:
        recovery_timeout = _duration(self.env.get("MESOS_RECOVERY_TIMEOUT", "15mins"))
        checkpoint = self.env.get("MESOS_CHECKPOINT") == "1"
        disconnected_at: float | None = None
        while not self.done.is_set():
            try:
                for event in self.client.subscribe(self._unacknowledged_tasks(), []):
                    disconnected_at = None
                    self.handle(event)
                    if self.done.is_set():
                        break
            except (OSError, ValueError) as exc:
                _log(f"connection to the agent failed: {exc}")
            if self.done.is_set():
                break
            # The agent went away: wait for it to come back if checkpointing, else give up.
            now = time.monotonic()
            disconnected_at = disconnected_at or now
            if not checkpoint or now - disconnected_at > recovery_timeout:
                _log("agent unreachable; killing tasks and exiting")
                self.kill_all(grace=0)
                return 1
            time.sleep(1.0)
        return 0

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            framework = event["subscribed"].get("framework_info", {})
            self.capabilities = {c.get("type") for c in framework.get("capabilities", []) if isinstance(c, dict)}
            self.framework_user = framework.get("user", "")
            _log(f"subscribed to agent {event['subscribed'].get('agent_info', {}).get('id', {}).get('value')}")
        elif kind == "LAUNCH":
            self.launch([event["launch"]["task"]])
        elif kind == "LAUNCH_GROUP":
            self.launch(event["launch_group"]["task_group"]["tasks"])
        elif kind == "KILL":
            kill = event["kill"]
            grace = _grace((kill.get("kill_policy") or {}))
            self.kill(kill["task_id"]["value"], grace)
        elif kind == "SHUTDOWN":
            _log("shutdown requested by the agent")
            self.kill_all(grace=_duration(self.env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs")) * 0.8)
            self.done.set()
        elif kind == "ERROR":
            _log(f"error from the agent: {event.get('error', {}).get('message')}")
        elif kind == "ACKNOWLEDGED":
            with self.lock:
                self.acknowledged.add(event["acknowledged"]["task_id"]["value"])
        # MESSAGE and HEARTBEAT need nothing here.

    # -- tasks -------------------------------------------------------------------

    def launch(self, tasks: list[dict[str, Any]]) -> None:
        group = [t["task_id"]["value"] for t in tasks] if len(tasks) > 1 else []
        launched = []
        # Every task of a group is known before the first starts: one that ends at once must
        # not find the group's others missing and take the executor down with it.
        with self.lock:
            for task in tasks:
                grace = _grace(task.get("kill_policy") or {})
                running = RunningTask(task, DEFAULT_KILL_GRACE if grace is None else grace, group)
                self.tasks[running.task_id] = running
                launched.append(running)
            self.launched_any = True
        for running in launched:
            task = running.task
            if running.kill_requested:  # (a task of its group failed to start)
                self.finish(running, "TASK_KILLED", "Another task of its group failed", None)
                continue
            try:
                running.process = self._spawn(running)
            except (OSError, ValueError, KeyError) as exc:
                self.finish(running, "TASK_FAILED", f"Failed to launch the command: {exc}", "REASON_COMMAND_EXECUTOR_FAILED")
                continue
            self.update(running, "TASK_RUNNING", None, executor_pid=os.getpid())
            threading.Thread(target=self._wait, args=(running,), daemon=True).start()
            limit = (task.get("max_completion_time") or {}).get("nanoseconds")
            if limit is not None:
                timer = threading.Timer(limit / 1e9, self._expire, args=(running,))
                timer.daemon = True
                timer.start()

    def _spawn(self, running: RunningTask) -> subprocess.Popen:
        task = running.task
        command = task["command"]
        env = {k: v for k, v in self.env.items() if k not in PRIVATE_ENV}
        env["MESOS_TASK_ID"] = task["task_id"]["value"]
        own = {var["name"]: var.get("value", "") for var in (command.get("environment") or {}).get("variables", [])}
        env.update(own)
        if image_run.image_name(task.get("container")) is not None:
            tool = self.env.get("CORRAL_DOCKER")
            if not tool:
                raise ValueError("the agent runs no container images (--containerizers without docker)")
            container_id = os.path.basename(self.sandbox)  # (the sandbox is .../runs/<container id>)
            running.container = image_run.container_name(running.task_id, container_id)
            # The agent linked each persistent volume into the sandbox; the container gets its directory.
            persistent = [(os.path.realpath(os.path.join(self.sandbox, path)), path)
                          for path in image_run.persistent_volume_paths(task)
                          if os.path.islink(os.path.join(self.sandbox, path))]
            argv = image_run.run_argv(task, tool, running.container, container_id, self.sandbox,
                                      {**own, "MESOS_TASK_ID": env["MESOS_TASK_ID"]}, persistent,
                                      bridge=self.env["CORRAL_DOCKER_BRIDGE"],
                                      host_ip=self.env["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)[0])
            with open(os.path.join(self.sandbox, "stdout"), "ab") as out, open(os.path.join(self.sandbox, "stderr"), "ab") as err:
                process = subprocess.Popen(argv, cwd=self.sandbox, env=env, start_new_session=True,
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            running.oom_watch = OomWatch(tool, running.container, lambda: process.poll() is None)
            return process
        if command.get("shell", True):
            argv = ["/bin/sh", "-c", command["value"]]
        else:
            arguments = list(command.get("arguments") or [])
            program = command.get("value") or arguments[0]
            argv = arguments or [program]
            argv = [program] + argv[1:]
        user = command.get("user") or self.framework_user
        kwargs: dict[str, Any] = {}
        if user and os.geteuid() == 0 and user != "root":
            import pwd

            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                raise ValueError(f"user '{user}' does not exist on this agent") from None
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
            env.setdefault("HOME", entry.pw_dir)
        with open(os.path.join(self.sandbox, "stdout"), "ab") as out, open(os.path.join(self.sandbox, "stderr"), "ab") as err:
            return subprocess.Popen(
                argv, cwd=self.sandbox, env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, **kwargs,
            )

    def _wait(self, running: RunningTask) -> None:
        assert running.process is not None
        code = running.process.wait()
        oom = None
        if running.oom_watch is not None:
            running.oom_watch.join(2.0)
            oom = running.oom_watch.killed
        if running.kill_requested:
            self.finish(running, "TASK_KILLED", "Command terminated by a kill request", None)
        elif code == 0:
            self.finish(running, "TASK_FINISHED", "Command exited with status 0", None)
        elif oom is not None:
            # (the agent reports it as its own memory limitation, as Mesos's memory isolator does)
            used = {"name": "mem", "type": "SCALAR", "scalar": {"value": oom[1] / 2**20}}
            self.finish(running, "TASK_FAILED", f"The container's memory limit ({oom[0]} bytes) was exceeded",
                        "REASON_CONTAINER_LIMITATION_MEMORY", limitation={"resources": [used]})
        elif code < 0:
            self.finish(running, "TASK_FAILED", f"Command terminated with signal {signal.Signals(-code).name}", "REASON_COMMAND_EXECUTOR_FAILED")
        else:
            self.finish(running, "TASK_FAILED", f"Command exited with status {code}", "REASON_COMMAND_EXECUTOR_FAILED")

    def _expire(self, running: RunningTask) -> None:
        if running.terminal_sent or running.process is None or running.process.poll() is not None:
            return
        _log(f"task {running.task_id} reached its max_completion_time")
        self._stop(running, 0)
        running.process.wait()
        self.finish(running, "TASK_FAILED", "Task reached its max_completion_time", "REASON_MAX_COMPLETION_TIME_REACHED")

    def kill(self, task_id: str, grace: float | None) -> None:
        with self.lock:
            running = self.tasks.get(task_id)
        if running is None or running.terminal_sent:
            return
        if running.kill_requested:
            return
        running.kill_requested = True
        if grace is None:
            grace = running.grace
        if "TASK_KILLING_STATE" in self.capabilities:
            self.update(running, "TASK_KILLING", None)
        process = running.process
        if process is None or process.poll() is not None:
            return
        self._stop(running, grace)

    def _stop(self, running: RunningTask, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace`: to the process group, or through the container tool."""
        process = running.process
        assert process is not None
        if running.container is not None:
            argv = [self.env["CORRAL_DOCKER"], "stop", "-t", str(max(0, round(grace))), running.container]
            threading.Thread(target=subprocess.run, args=(argv,), kwargs={"capture_output": True}, daemon=True).start()
            return
        _signal_group(process, signal.SIGTERM)
        if grace <= 0:
            _signal_group(process, signal.SIGKILL)
            return
        timer = threading.Timer(grace, _signal_group, args=(process, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def kill_all(self, grace: float) -> None:
        with self.lock:
            ids = [t for t, r in self.tasks.items() if not r.terminal_sent]
        for task_id in ids:
            self.kill(task_id, grace)
        deadline = time.monotonic() + grace + 2
        while time.monotonic() < deadline:
            with self.lock:
                if all(r.terminal_sent for r in self.tasks.values()):
                    return
            time.sleep(0.05)

    # -- updates -----------------------------------------------------------------

    def finish(self, running: RunningTask, state: str, message: str, reason: str | None,
               limitation: dict[str, Any] | None = None) -> None:
        with self.lock:
            if running.terminal_sent:
                return
            running.terminal_sent = True
        self.update(running, state, message, reason=reason, limitation=limitation)
        if running.group and state in ("TASK_FAILED", "TASK_KILLED"):
            # Default executor semantics: one task of a group failing takes the group down.
            for other in running.group:
                if other != running.task_id:
                    self.kill(other, None)
        with self.lock:
            if self.launched_any and all(r.terminal_sent for r in self.tasks.values()):
                self.done.set()

    def update(self, running: RunningTask, state: str, message: str | None, reason: str | None = None, executor_pid: int | None = None,
               limitation: dict[str, Any] | None = None) -> None:
        status: dict[str, Any] = {
            "task_id": {"value": running.task_id},
            "executor_id": {"value": self.executor_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
            "timestamp": time.time(),
        }
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        if executor_pid is not None:
            status["container_status"] = {"executor_pid": executor_pid}
        if limitation is not None:
            status["limitation"] = limitation
        for attempt in range(60):
            try:
                self.client.post({"type": "UPDATE", "update": {"status": status}})
                return
            except OSError as exc:
                if attempt == 0:
                    _log(f"could not send {state} for {running.task_id}: {exc}; retrying")
                time.sleep(min(1.0, 0.05 * 2**attempt))
        _log(f"giving up sending {state} for {running.task_id}")

    def _unacknowledged_tasks(self) -> list[dict[str, Any]]:
        """Tasks launched here with no acknowledged update yet (sent when re-subscribing)."""
        with self.lock:
            return [r.task for t, r in self.tasks.items() if t not in self.acknowledged]


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _grace(kill_policy: dict[str, Any]) -> float | None:
    nanos = (kill_policy.get("grace_period") or {}).get("nanoseconds")
    return None if nanos is None else max(0.0, nanos / 1e9)


def _duration(text: str) -> float:
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1, "mins": 60, "hrs": 3600, "days": 86400, "weeks": 604800}
    for unit, scale in sorted(units.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


def _tls_context(env: dict[str, str]) -> Any:
    """TLS to the agent when it serves HTTPS (LIBPROCESS_SSL_* from the agent, as Mesos passes them)."""
    if env.get("LIBPROCESS_SSL_ENABLED", "").lower() not in ("1", "true"):
        return None
    import ssl  # only when needed: every import costs each forked executor

    if env.get("LIBPROCESS_SSL_VERIFY_CERT", "true").lower() in ("0", "false"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=env.get("LIBPROCESS_SSL_CA_FILE") or None)
    if env.get("LIBPROCESS_SSL_CERT_FILE") and env.get("LIBPROCESS_SSL_KEY_FILE"):
        ctx.load_cert_chain(env["LIBPROCESS_SSL_CERT_FILE"], env["LIBPROCESS_SSL_KEY_FILE"])
    return ctx


def main() -> int:
    executor = CommandExecutor(dict(os.environ))
    try:
        return executor.run()
    finally:
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
