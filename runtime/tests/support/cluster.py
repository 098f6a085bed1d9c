"""Real `corral master` / `corral agent` processes on 127.0.0.1 (the gen_cluster pattern).

`Cluster` starts a master and agents as `python -m corral.cli.main` processes, each
logging to a file under the test's tmp_path; `wait_for` polls for what a test expects;
`free_port`, `http_json` and `http_error` are the small tools around them.  Timers are
shortened through flags so that health checks and retries happen within seconds;
nothing in the tests measures wall-clock speed.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from corral.cli.local import kill_processes_in
from corral.protocol import sandbox

FAST_MASTER = [
    "--allocation_interval", "0.2", "--heartbeat_interval", "1",
    "--agent_ping_timeout", "0.5", "--max_agent_ping_timeouts", "4",
]
FAST_AGENT = ["--status_update_retry_interval", "1", "--registration_backoff", "0.5"]


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 (the sockets are held until all are bound)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the thing we wait for may not answer yet
            last_error = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def http_json(url: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers={"Content-Type": "application/json", **(headers or {})})
    if data is not None:
        request.data = data if isinstance(data, bytes) else json.dumps(data).encode()
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
        return json.loads(body) if body else None


def http_error(url: str, data: Any, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """POST and return (status, body text) of an error response."""
    try:
        http_json(url, data, headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    raise AssertionError(f"{url} accepted {data!r}")


class Daemon:
    def __init__(self, kind: str, args: list[str], log: Path, port: int) -> None:
        self.kind, self.args, self.log, self.port = kind, args, log, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "corral.cli.main", self.kind, *self.args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.daemons: list[Daemon] = []
        self.master: Daemon | None = None

    def start_master(self, *extra: str) -> Daemon:
        port = free_port()
        args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(self.root / "master"), *FAST_MASTER, *extra]
        self.master = Daemon("master", args, self.root / "master.log", port).start()
        self.daemons.append(self.master)
        wait_for(lambda: urllib.request.urlopen(f"http://{self.master.address}/health", timeout=1).status == 200,
                 what="the master to answer /health")
        return self.master

    def add_agent(self, resources: str = "cpus:2;mem:1024;disk:1024", *extra: str, name: str | None = None, wait: bool = True) -> Daemon:
        assert self.master is not None
        index = sum(1 for d in self.daemons if d.kind == "agent")
        name = name or f"agent-{index}"
        port = free_port()
        args = ["--master", self.master.address, "--ip", "127.0.0.1", "--port", str(port),
                "--work_dir", str(self.root / name), "--resources", resources, *FAST_AGENT, *extra]
        agent = Daemon("agent", args, self.root / f"{name}.log", port).start()
        self.daemons.append(agent)
        if wait:
            wait_for(lambda: any(a["port"] == port and a["active"] for a in self.state()["slaves"]),
                     what=f"{name} to register")
        return agent

    def state(self) -> dict[str, Any]:
        assert self.master is not None
        return http_json(f"http://{self.master.address}/state")

    def agent_id(self, agent: Daemon) -> str:
        return next(a["id"] for a in self.state()["slaves"] if a["port"] == agent.port)

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.kill(signal.SIGTERM)
        kill_processes_in(str(self.root))

    def logs(self) -> str:
        return "\n".join(f"===== {d.log.name}\n{d.log.read_text(errors='replace')[-6000:]}" for d in self.daemons if d.log.exists())


def sandbox_of(cluster: Cluster, task_id: str) -> tuple[str, str]:
    """(agent host:port, sandbox directory) of a task, found the way `corral logs` finds it."""
    place = sandbox.place_of(cluster.state(), task_id)
    return place.agent_address, sandbox.sandbox_in(http_json(f"http://{place.agent_address}/state"), place, task_id)


def read_sandbox_file(agent_address: str, path: str) -> str:
    query = urllib.parse.urlencode({"path": path, "offset": 0})
    return http_json(f"http://{agent_address}/files/read?{query}")["data"]
