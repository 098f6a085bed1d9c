"""The soak's cluster: a 3-server ZooKeeper ensemble, 3 masters and agents on 127.0.0.1, and the
workload's framework processes, each of which the nemesis can kill, pause and start again
(the Spark dispatcher is soak/spark_workload.py's)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from support.cluster import Daemon, free_port  # noqa: E402
from corral.cli.local import kill_processes_in  # noqa: E402
from support.zookeeper import ZooKeeperEnsemble  # noqa: E402

MASTER_FLAGS = ["--zk_session_timeout", "2", "--agent_reregister_timeout", "20", "--agent_ping_timeout", "0.5",
                "--max_agent_ping_timeouts", "6", "--allocation_interval", "0.2", "--heartbeat_interval", "1"]
AGENT_FLAGS = ["--status_update_retry_interval", "1", "--registration_backoff", "0.5"]
AGENT_RESOURCES = "cpus:2;mem:4096;disk:0"  # (a Spark application's master, driver and worker take ~2.5 GB)
# The workload's framework processes by kind: pymesos on its defaults, pymesos checkpointing, Corral's SDK.
FRAMEWORK_SCRIPTS = {"default": "framework.py", "checkpoint": "framework.py", "sdk": "sdk_framework.py"}


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """(status, JSON body) of a GET; (status, text) of an error answer; (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")  # (the reason the endpoint gives)
    except (OSError, ValueError):
        return 0, None


class Agent:
    def __init__(self, index: int, root: Path, zk_url: str) -> None:
        self.index, self.root, self.zk_url = index, root, zk_url
        self.port = free_port()
        self.generation = 0  # a new work_dir is a new agent to the master
        self.daemon: Daemon | None = None

    @property
    def work_dir(self) -> Path:
        return self.root / f"agent-{self.index}.{self.generation}"

    def start(self, fresh: bool = False) -> None:
        if fresh:
            self.generation += 1
        args = ["--master", self.zk_url, "--ip", "127.0.0.1", "--port", str(self.port), "--work_dir", str(self.work_dir),
                "--resources", AGENT_RESOURCES, *AGENT_FLAGS]
        self.daemon = Daemon("agent", args, self.root / f"agent-{self.index}.log", self.port).start()


class Cluster:
    def __init__(self, root: Path, agents: int, seed: int) -> None:
        self.root = root
        self.seed = seed
        self.zookeeper = ZooKeeperEnsemble(root, size=3)
        self.zk_url = self.zookeeper.url("/soak")
        self.masters: list[Daemon] = []
        self.agents = [Agent(i, root, self.zk_url) for i in range(agents)]
        self.frameworks: dict[str, subprocess.Popen] = {}
        self.history = root / "frameworks.jsonl"
        self.runs = root / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)

    # -- bring-up ---------------------------------------------------------------------------

    def start(self) -> None:
        self.zookeeper.start()
        for i in range(3):
            port = free_port()
            args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(self.root / f"master-{i}"),
                    "--zk", self.zk_url, *MASTER_FLAGS]
            self.masters.append(Daemon("master", args, self.root / f"master-{i}.log", port).start())
        for agent in self.agents:
            agent.start()
        self.wait_healthy(60)

    def crashed_frameworks(self) -> list[tuple[str, str]]:
        """(kind, the end of its log) of each framework process that exited on its own."""
        out = []
        for kind, proc in self.frameworks.items():
            if proc.poll() is not None and proc.returncode != 0:
                log = (self.root / f"framework-{kind}.log").read_text(errors="replace")
                out.append((kind, log[-1500:]))
        return out

    def start_framework(self, kind: str, incarnation: int = 0, framework_id: str | None = None) -> None:
        argv = [sys.executable, str(HERE / FRAMEWORK_SCRIPTS[kind]), "--master", self.zk_url,
                "--history", str(self.history), "--runs", str(self.runs), "--incarnation", str(incarnation),
                "--seed", str(self.seed)]
        if FRAMEWORK_SCRIPTS[kind] == "framework.py":
            argv += ["--kind", kind]
        if framework_id:
            argv += ["--framework-id", framework_id]
        log = open(self.root / f"framework-{kind}.log", "ab")
        self.frameworks[kind] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        log.close()

    # -- what is there ------------------------------------------------------------------------

    def leader(self) -> Daemon | None:
        for master in self.masters:
            if master.alive():
                status, state = get_json(f"http://{master.address}/state")
                if status == 200 and state and state.get("elected"):
                    return master
        return None

    def agent_ids(self) -> dict[int, set[str]]:
        """Agent index → the ids the leader knows it by (one per work_dir generation)."""
        out: dict[int, set[str]] = {a.index: set() for a in self.agents}
        leader = self.leader()
        if leader is None:
            return out
        _, state = get_json(f"http://{leader.address}/state")
        by_port = {a.port: a.index for a in self.agents}
        for slave in (state or {}).get("slaves", []):
            if slave.get("port") in by_port:
                out[by_port[slave["port"]]].add(slave["id"])
        return out

    def unhealthy(self) -> list[str]:
        """What is not up: each master, agent and ZooKeeper server must answer."""
        bad = [f"ZooKeeper server {i}" for i in range(3) if not self.zookeeper.serving(i)]
        for i, master in enumerate(self.masters):
            if not master.alive() or get_json(f"http://{master.address}/health")[0] != 200:
                bad.append(f"master {i}")
        leader = self.leader()
        if leader is None:
            bad.append("no leading master")
        else:
            _, state = get_json(f"http://{leader.address}/state")
            active = {s["port"] for s in (state or {}).get("slaves", []) if s.get("active")}
            bad += [f"agent {a.index} (not registered)" for a in self.agents if a.port not in active]
        return bad

    def wait_healthy(self, timeout: float, *more: Callable[[], list[str]]) -> list[str]:
        """What is still unhealthy after up to `timeout` s: a process the last fault restarted, or one
        reconnecting to a leader the last fault elected, is given the time to come back. `more` are
        further checks of the same kind (the Spark dispatcher's subscription)."""
        deadline = time.monotonic() + timeout
        while True:
            bad = self.unhealthy() + [what for check in more for what in check()]
            if not bad or time.monotonic() > deadline:
                return bad
            time.sleep(0.5)

    # -- the end ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Everything the soak started goes, however it ends: a daemon too slow to exit on SIGTERM (a loaded
        machine) is killed, and what is left under the root (executors that outlived their agents, and
        their tasks: they run in sandboxes below it) is killed last."""
        try:
            for proc in self.frameworks.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for daemon in [a.daemon for a in self.agents if a.daemon is not None] + self.masters:
                _continue(daemon)
                try:
                    daemon.kill(signal.SIGTERM)
                except subprocess.TimeoutExpired:
                    daemon.kill(signal.SIGKILL)
            self.zookeeper.stop()
        finally:
            kill_processes_in(str(self.root))


def _continue(daemon: Daemon) -> None:
    if daemon.proc is not None and daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGCONT)
