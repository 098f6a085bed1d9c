"""`corral local`: a master and N agents on this machine, in one command (like mesos-local).

Each daemon is its own process (so they use every core), with its log in
`<work_dir>/logs/`.  The command waits until every agent has registered,
prints where to look, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import click

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGTERM if `corral local` itself dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def stop_processes(procs: list[subprocess.Popen], grace: float) -> None:
    """SIGTERM each process, the last started first; SIGKILL those still running after `grace` seconds."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def kill_processes_in(root: str) -> None:
    """Executors outlive their agents by design: kill every process working below `root`
    (what ran from a finished cluster's sandboxes)."""
    import psutil

    for proc in psutil.process_iter(["cwd"]):
        try:
            if (proc.info["cwd"] or "").startswith(root) and proc.pid != os.getpid():
                proc.kill()
        except psutil.Error:
            pass


def wait_until(check, timeout: float, what: str, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise click.ClickException(f"{what}: a daemon exited with status {proc.returncode} (see its log)")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise click.ClickException(f"timed out waiting for {what}")


class LocalCluster:
    def __init__(self, agents: int, ip: str, port: int, work_dir: str, resources: str | None,
                 attributes: list[str], master_args: list[str], agent_args: list[str]) -> None:
        self.agents = agents
        self.ip = ip
        self.port = port or free_port(ip)
        self.work_dir = os.path.abspath(work_dir)
        self.resources = resources
        self.attributes = attributes
        self.master_args = master_args
        self.agent_args = agent_args
        self.procs: list[subprocess.Popen] = []
        self._started: list[tuple[str, list[str]]] = []  # (name, flags) of each of procs
        self.agent_ports: list[int] = []

    @property
    def master(self) -> str:
        return f"{self.ip}:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        logs = os.path.join(self.work_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        log = open(os.path.join(logs, f"{name}.log"), "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli.main", *args], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        log.close()
        self.procs.append(proc)
        self._started.append((name, args))
        return proc

    def restart(self, name: str) -> None:
        """SIGKILL one daemon ("master", "agent-<i>") and start it again with the same flags and work_dir."""
        index = [started[0] for started in self._started].index(name)
        proc = self.procs.pop(index)
        proc.kill()
        proc.wait()
        self._spawn(*self._started.pop(index))

    def start(self, timeout: float = 60.0) -> None:
        self._spawn("master", ["master", "--ip", self.ip, "--port", str(self.port),
                               "--work_dir", os.path.join(self.work_dir, "master"), *self.master_args])
        wait_until(lambda: urllib.request.urlopen(f"http://{self.master}/health", timeout=1).status == 200,
                   timeout, "the master", self.procs)
        for i in range(self.agents):
            port = free_port(self.ip)
            self.agent_ports.append(port)
            args = ["agent", "--master", self.master, "--ip", self.ip, "--port", str(port),
                    "--work_dir", os.path.join(self.work_dir, f"agent-{i}"), *self.agent_args]
            if self.resources:
                args += ["--resources", self.resources]
            if i < len(self.attributes):
                args += ["--attributes", self.attributes[i]]
            self._spawn(f"agent-{i}", args)
        wait_until(lambda: self._registered_agents() >= self.agents, timeout, f"{self.agents} agents to register", self.procs)

    def _registered_agents(self) -> int:
        try:
            return get_json(f"http://{self.master}/state")["activated_slaves"]
        except urllib.error.HTTPError as exc:
            if exc.code not in (401, 403):
                raise
        # The master's /state wants credentials (--authenticate_http_readonly): ask the
        # agents instead; an agent knows its id once the master has registered it.
        registered = 0
        for port in self.agent_ports:
            try:
                registered += bool(get_json(f"http://{self.ip}:{port}/state").get("id"))
            except OSError:
                pass
        return registered

    def stop(self) -> None:
        stop_processes(self.procs, 10)


def register(group: click.Group) -> None:
    @group.command("local")
    @click.option("--agents", default=2, show_default=True, type=click.IntRange(1, 64), help="Number of agents")
    @click.option("--ip", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5050, show_default=True, type=click.IntRange(0, 65535), help="Master port (0: any free one)")
    @click.option("--work_dir", "--work-dir", "work_dir", default=".corral/local", show_default=True)
    @click.option("--resources", default=None, help="Resources of each agent (default: detected)")
    @click.option("--attributes", multiple=True, help="Attributes of agent i (repeat per agent)")
    @click.option("--master-arg", "master_args", multiple=True, help="Extra flag for the master, e.g. --master-arg=--weights=a=2")
    @click.option("--agent-arg", "agent_args", multiple=True, help="Extra flag for every agent")
    @click.option("--pid_file", "--pid-file", "pid_file", default=None, help="Write this process's PID here")
    def local(agents, ip, port, work_dir, resources, attributes, master_args, agent_args, pid_file) -> None:
        """Run a master and N agents on this machine until interrupted."""
        cluster = LocalCluster(agents, ip, port, work_dir, resources, list(attributes), list(master_args), list(agent_args))
        stop = {"now": False}

        def on_signal(*_: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            cluster.start()
            if pid_file:
                with open(pid_file, "w") as fh:
                    fh.write(str(os.getpid()))
            click.echo(f"Corral is up: master http://{cluster.master} with {agents} agents")
            click.echo(f"  state:  corral state --master {cluster.master}")
            click.echo(f"  a task: corral run --master {cluster.master} --command 'echo hello'")
            click.echo(f"  logs:   {os.path.join(cluster.work_dir, 'logs')}")
            sys.stdout.flush()
            while not stop["now"]:
                if any(p.poll() is not None for p in cluster.procs):
                    raise click.ClickException("a daemon exited unexpectedly; see the logs in " + os.path.join(cluster.work_dir, "logs"))
                time.sleep(0.2)
        finally:
            cluster.stop()
            if pid_file and os.path.exists(pid_file):
                os.unlink(pid_file)
