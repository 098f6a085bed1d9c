"""One master carrying 10,000 agents: registration, allocation, GET_STATE and /state, memory, and a failover.

Starts a real ZooKeeper server and two `corral master --zk` processes (a leader
and a standby, with the master's default ping settings), then N simulated
agents (`simulated_agents.py`: the real agent protocol, running nothing) in W
worker processes of their own, which find the leader through ZooKeeper as
real agents do.  A framework on the scheduler SDK, on its default
FrameworkInfo apart from a failover_timeout, launches one task per agent.
Printed:

- registration: from the first REGISTER until the leader counts all N agents;
- the leader's allocation rounds (`allocator/mesos/allocation_run_ms`) while the
  framework holds the cluster, and the time from its SUBSCRIBE until it has
  been offered every agent;
- GET_STATE and `/state` (sequential requests, median and p95; answers to
  unchanged state come from the master's cache) and the leader's RSS;
- failover: the leader is SIGKILLed; the time until the standby leads, until
  every agent has re-registered with it, and until every task is back.

Targets (issue 15): registration within 60 s, a round under 0.3 s, GET_STATE
under 200 ms, `/state` under 500 ms.  Mesos was tested with 50,000 emulated
agents (the master's own scale tests); there is no peer to run beside this here.

    python runtime/benchmarks/agent_scale.py [--agents 10000] [--workers 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.cluster import free_port  # noqa: E402
from support.zookeeper import ZooKeeperEnsemble  # noqa: E402

from corral.resources import Resources  # noqa: E402
from corral.scheduler import SchedulerClient  # noqa: E402

TASK = Resources.parse("cpus:0.1;mem:32")


# -- the worker processes ------------------------------------------------------------


async def worker(zk_url: str, first: int, count: int) -> None:
    """`count` simulated agents until stdin closes; prints how many are registered, and where, twice a second."""
    from corral.leader.detector import detector_for
    from simulated_agents import SimulatedCluster

    detector = detector_for(zk_url)
    cluster = SimulatedCluster(detector, count, first_index=first)
    await cluster.start()
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: closed.set() if not os.read(sys.stdin.fileno(), 1024) else None)
    while not closed.is_set():
        where: dict[str, int] = {}
        for agent in cluster.agents:
            if agent.master:
                where[agent.master] = where.get(agent.master, 0) + 1
        tasks = sum(len(agent.tasks) for agent in cluster.agents)
        print(json.dumps({"registered": where, "tasks": tasks}), flush=True)
        try:
            await asyncio.wait_for(closed.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
    await cluster.stop()
    await detector.close()


class Workers:
    """The worker processes, and the sum of what they last reported."""

    def __init__(self, zk_url: str, agents: int, processes: int, log_dir: Path) -> None:
        self.reports: dict[int, dict[str, Any]] = {}
        self.procs: list[asyncio.subprocess.Process] = []
        self._args = (zk_url, agents, processes, log_dir)
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        zk_url, agents, processes, log_dir = self._args
        share = -(-agents // processes)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
        for i in range(processes):
            count = min(share, agents - i * share)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", zk_url, str(i * share), str(count),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_dir / f"worker-{i}.log", "wb"), env=env)
            self.procs.append(proc)
            self._readers.append(asyncio.ensure_future(self._read(i, proc)))

    async def _read(self, i: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            self.reports[i] = json.loads(line)

    def registered_with(self, address: str) -> int:
        return sum(report["registered"].get(address, 0) for report in self.reports.values())

    @property
    def tasks(self) -> int:
        return sum(report["tasks"] for report in self.reports.values())

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        for reader in self._readers:
            reader.cancel()


# -- the masters ------------------------------------------------------------------------


class Master:
    def __init__(self, root: Path, zk_url: str, index: int, session_timeout: float) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = open(root / f"master-{index}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli.main", "master", "--ip", "127.0.0.1", "--port", str(self.port),
             "--work_dir", str(root / f"master-{index}"), "--zk", zk_url, "--zk_session_timeout", str(session_timeout),
             "--log_level", "WARNING"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def get(self, path: str, timeout: float = 60) -> bytes:
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=timeout) as response:
            return response.read()

    def post(self, path: str, body: dict[str, Any]) -> bytes:
        request = urllib.request.Request(f"http://{self.address}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()

    def metrics(self) -> dict[str, float]:
        return json.loads(self.get("/metrics/snapshot"))

    def leading(self) -> bool:
        try:
            return self.metrics().get("master/elected") == 1.0
        except OSError:
            return False

    def answers(self) -> bool:
        try:
            self.metrics()
            return True
        except OSError:
            return False

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


async def wait_for(what: str, check, timeout: float, every: float = 0.1) -> float:
    """Seconds until `check()` holds (checked every `every` s); RuntimeError naming `what` after `timeout`."""
    start = time.perf_counter()
    while not await asyncio.to_thread(check):
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(every)
    return time.perf_counter() - start


# -- the framework -------------------------------------------------------------------------


class Framework:
    """One task per agent, then declines (default filters) for as long as it runs; counts what it was offered."""

    def __init__(self, zk_url: str, agents: int) -> None:
        self.client = SchedulerClient(zk_url, {"user": getpass.getuser(), "name": "agent-scale", "failover_timeout": 3600})
        self.agents = agents
        self.offered: set[str] = set()
        self.launched_on: set[str] = set()
        self.running: set[str] = set()
        self.subscribed_at = 0.0
        self.all_offered_after: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.__aenter__()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        self.subscribed_at = time.perf_counter()
        async for event in self.client.events():
            kind = event["type"]
            if kind == "OFFERS":
                launches, declines = [], []
                for offer in event["offers"]["offers"]:
                    agent = offer["agent_id"]["value"]
                    self.offered.add(agent)
                    if agent not in self.launched_on and Resources.from_json(offer["resources"]).contains(TASK):
                        self.launched_on.add(agent)
                        task = {"name": f"t-{agent}", "task_id": {"value": f"t-{agent}"}, "agent_id": offer["agent_id"],
                                "resources": TASK.to_json(), "command": {"value": "sleep 3600"}}
                        launches.append(self.client.accept([offer["id"]], [task]))
                    else:
                        declines.append(offer["id"])
                if self.all_offered_after is None and len(self.offered) >= self.agents:
                    self.all_offered_after = time.perf_counter() - self.subscribed_at
                if declines:
                    launches.append(self.client.decline(declines))
                await asyncio.gather(*launches)
            elif kind == "UPDATE":
                status = event["update"]["status"]
                if status["state"] == "TASK_RUNNING":
                    self.running.add(status["task_id"]["value"])
                else:
                    self.running.discard(status["task_id"]["value"])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()


# -- the run -----------------------------------------------------------------------------


def timed(fn, n: int) -> dict[str, float]:
    samples, size = [], 0
    for _ in range(n):
        start = time.perf_counter()
        size = len(fn())
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "min_ms": samples[0], "max_ms": samples[-1], "bytes": size, "n": n}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="corral-agent-scale-"))
    zk = ZooKeeperEnsemble(root / "zk", size=1).start()
    zk_url = zk.url("/corral")
    masters = [Master(root, zk_url, 0, args.zk_session_timeout)]
    out: dict[str, Any] = {"agents": args.agents, "workers": args.workers, "zk_session_timeout": args.zk_session_timeout}
    workers = Workers(zk_url, args.agents, args.workers, root)
    framework = Framework(zk_url, args.agents)
    finished = False
    try:
        await wait_for("the first master leads", masters[0].leading, 60)
        masters.append(Master(root, zk_url, 1, args.zk_session_timeout))  # the standby, started once the first one leads
        await wait_for("the standby answers", masters[1].answers, 60)
        leader, standby = masters
        await workers.start()
        out["registration_s"] = await wait_for(
            f"{args.agents} agents register", lambda: leader.metrics()["master/slaves_connected"] >= args.agents, 300, 0.2)
        print(f"registration: {args.agents} agents in {out['registration_s']:.1f} s", flush=True)

        await framework.start()
        await wait_for(f"{args.agents} tasks run", lambda: len(framework.running) >= args.agents, 600, 0.2)
        out["tasks_running_after_s"] = time.perf_counter() - framework.subscribed_at
        out["all_offered_after_s"] = framework.all_offered_after
        await asyncio.sleep(args.hold)  # rounds while the cluster is held, with declines on default filters
        metrics = leader.metrics()
        out["allocation_run_ms"] = {k.rsplit("/", 1)[1]: v for k, v in metrics.items()
                                    if k.startswith("allocator/mesos/allocation_run_ms/")}
        print(f"tasks: {args.agents} running {out['tasks_running_after_s']:.1f} s after SUBSCRIBE "
              f"(every agent offered after {out['all_offered_after_s']:.1f} s)", flush=True)

        out["GET_STATE"] = await asyncio.to_thread(timed, lambda: leader.post("/api/v1", {"type": "GET_STATE"}), args.requests)
        out["/state"] = await asyncio.to_thread(timed, lambda: leader.get("/state"), args.requests)
        out["GET_AGENTS"] = await asyncio.to_thread(timed, lambda: leader.post("/api/v1", {"type": "GET_AGENTS"}), args.requests)
        out["/metrics/snapshot"] = await asyncio.to_thread(timed, lambda: leader.get("/metrics/snapshot"), args.requests)
        out["leader_rss_mb"] = leader.rss_mb()
        out["standby_rss_mb"] = standby.rss_mb()
        out["workers_rss_mb"] = sum(psutil.Process(p.pid).memory_info().rss for p in workers.procs) / 2**20

        killed = time.perf_counter()
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        out["failover_leads_s"] = await wait_for("the standby leads", standby.leading, 120, 0.05)
        out["failover_agents_s"] = await wait_for(
            f"{args.agents} agents re-register with the new leader",
            lambda: workers.registered_with(standby.address) >= args.agents, 300, 0.05) + out["failover_leads_s"]
        out["failover_master_counts_s"] = time.perf_counter() - killed
        assert standby.metrics()["master/slaves_connected"] >= args.agents
        out["failover_tasks_s"] = await wait_for(
            f"{args.agents} tasks running at the new leader",
            lambda: standby.metrics()["master/tasks_running"] >= args.agents, 300, 0.2) + out["failover_master_counts_s"]
        out["standby_rss_after_mb"] = standby.rss_mb()
        out["load_average"] = os.getloadavg()[0]
        finished = True
    finally:
        await framework.stop()
        await workers.stop()
        for master in masters:
            master.stop()
        zk.stop()
        if finished:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"agent scale: stopped; the logs are in {root}", file=sys.stderr)
    return out


def report(out: dict[str, Any]) -> None:
    n = out["agents"]
    print(f"\n{n:,} simulated agents in {out['workers']} processes, one task each; ZooKeeper, a leader and a standby")
    print(f"  registration of all            {out['registration_s']:8.1f} s      target < 60 s")
    run_ms = out["allocation_run_ms"]
    print(f"  allocation round (leader)      p50 {run_ms.get('p50', 0):.0f} ms, p90 {run_ms.get('p90', 0):.0f} ms, "
          f"max {run_ms.get('max', 0):.0f} ms over {run_ms.get('count', 0):.0f} rounds   target < 300 ms")
    print(f"  every agent offered            {out['all_offered_after_s']:8.1f} s after SUBSCRIBE")
    for name, target in (("GET_STATE", 200), ("/state", 500), ("GET_AGENTS", None), ("/metrics/snapshot", None)):
        r = out[name]
        goal = f"target < {target} ms" if target else ""
        print(f"  {name:<18} median {r['median_ms']:7.0f} ms  p95 {r['p95_ms']:7.0f} ms  {r['bytes'] / 1e6:6.1f} MB   {goal}")
    print(f"  leader RSS {out['leader_rss_mb']:.0f} MB, standby {out['standby_rss_mb']:.0f} MB (after failover "
          f"{out['standby_rss_after_mb']:.0f} MB), the agents' processes {out['workers_rss_mb']:.0f} MB")
    print(f"  failover (SIGKILL of the leader, ZooKeeper session timeout {out['zk_session_timeout']:g} s): "
          f"the standby leads after {out['failover_leads_s']:.1f} s, "
          f"all {n:,} agents re-registered after {out['failover_agents_s']:.1f} s, "
          f"all tasks running again after {out['failover_tasks_s']:.1f} s")
    print(f"  load average at the end {out['load_average']:.1f} on {os.cpu_count()} cores")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4, help="processes the simulated agents run in")
    parser.add_argument("--hold", type=float, default=15.0, help="seconds of allocation rounds before they are read")
    parser.add_argument("--requests", type=int, default=10, help="timed requests per endpoint")
    parser.add_argument("--zk_session_timeout", type=float, default=10.0, help="the masters' (Mesos's default: 10 s)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # (the masters and workers inherit it)
    out = asyncio.run(run(args))
    report(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
