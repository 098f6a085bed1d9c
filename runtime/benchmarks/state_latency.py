"""`/state` and GET_STATE latency, and the dashboard's load time, with 1,000 agents and 10,000 tasks.

A real `corral master` process; 1,000 simulated agents speaking the agent
protocol from this one process (each a REGISTER stream that answers RUN_TASK
with TASK_RUNNING and PING with PONG, as a real agent does, but runs
nothing); a framework on the scheduler SDK that launches 10 tasks per agent.
Once the master counts 10,000 running tasks it times, over HTTP from here:

- `GET /state` and the operator call GET_STATE (and GET_TASKS, GET_AGENTS):
  median, p95 and size, sequential requests on a cluster that stays busy
  (agents ping, the allocator runs);
- the dashboard in headless Chromium (Debian's, via Playwright): from
  navigation until it shows 1,000 agents and 10,000 live tasks (3 fresh loads);
- the same answers built and encoded in process, from a `MasterState` driven
  directly (no HTTP, no other processes): what the master itself spends.

Target: GET_STATE under 200 ms.

    python runtime/benchmarks/state_latency.py [--agents 1000] [--tasks-per-agent 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import json
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

import psutil

from simulated_agents import SimulatedCluster

from corral.leader.detector import StandaloneMasterDetector
from corral.resources import Resources
from corral.scheduler import SchedulerClient

TASK = Resources.parse("cpus:0.1;mem:32")
AGENT_RESOURCES = Resources.parse("cpus:16;mem:65536;disk:100000;ports:[31000-32000]")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def launch_tasks(master: str, total: int, per_agent: int) -> None:
    """Launch `total` sleeping tasks, at most `per_agent` per agent; returns once all are acknowledged running."""
    info = {"user": getpass.getuser(), "name": "state-latency", "failover_timeout": 3600}
    launched = running = 0
    per_agent_count: dict[str, int] = {}
    async with SchedulerClient(master, info, reconnect=False) as client:
        async for event in client.events():
            if event["type"] == "OFFERS":
                for offer in event["offers"]["offers"]:
                    agent = offer["agent_id"]["value"]
                    offered = Resources.from_json(offer["resources"])
                    tasks = []
                    while launched < total and per_agent_count.get(agent, 0) < per_agent and offered.contains(TASK):
                        tasks.append({"name": f"t{launched}", "task_id": {"value": f"t{launched}"}, "agent_id": offer["agent_id"],
                                      "resources": TASK.to_json(), "command": {"value": "sleep 3600"}})
                        launched += 1
                        per_agent_count[agent] = per_agent_count.get(agent, 0) + 1
                        offered = offered - TASK
                    if tasks:
                        await client.accept([offer["id"]], tasks, refuse_seconds=3600)
                    else:
                        await client.decline([offer["id"]], refuse_seconds=3600)
            elif event["type"] == "UPDATE" and event["update"]["status"]["state"] == "TASK_RUNNING":
                running += 1
                if running == total:
                    await asyncio.sleep(1.0)  # let the last acknowledgements go out while still subscribed
                    return  # leaving without TEARDOWN (failover_timeout keeps the framework and its tasks)


def in_process(agents: int, per_agent: int, n: int) -> dict[str, dict[str, float]]:
    """The same cluster driven through `MasterState` directly: build + encode times without HTTP or other load."""
    import msgspec

    from corral.allocator import AllocatorOptions, load_allocator_class
    from corral.master import metrics, operator, views
    from corral.master.state import MasterOptions, MasterState
    from corral.resources import DEFAULT_MIN_ALLOCATABLE, parse_min_allocatable

    class Sink:
        def send(self, event: dict[str, Any]) -> None:
            pass

        def close(self) -> None:
            pass

    allocator = load_allocator_class("drf")(AllocatorOptions(weights={}, min_allocatable=parse_min_allocatable(DEFAULT_MIN_ALLOCATABLE)),
                                            clock=time.monotonic)
    state = MasterState(MasterOptions(), allocator)
    sims = []
    for i in range(agents):
        info = {"hostname": f"sim-{i:04d}", "port": 20000 + i, "ip": "127.0.0.1", "resources": AGENT_RESOURCES.to_json(),
                "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": f"r{i % 20}"}}]}
        sims.append(state.register_agent(info, AGENT_RESOURCES, Sink()))
    framework = state.subscribe({"user": "bench", "name": "state-latency", "failover_timeout": 3600}, None, Sink())
    launched = 0
    for offer in state.allocate():
        tasks = [{"name": f"t{launched + k}", "task_id": {"value": f"t{launched + k}"}, "agent_id": {"value": offer.agent_id},
                  "resources": TASK.to_json(), "command": {"value": "sleep 3600"}} for k in range(per_agent)]
        launched += per_agent
        state.accept(framework, [offer.id], [{"type": "LAUNCH", "launch": {"task_infos": tasks}}], 3600)
    for agent in sims:
        for framework_id, tasks in agent.tasks.items():
            for task_id in list(tasks):
                status = {"task_id": {"value": task_id}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR", "agent_id": {"value": agent.id},
                          "timestamp": time.time(), "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}
                state.status_update(agent, {"framework_id": {"value": framework_id}, "status": status, "latest_state": "TASK_RUNNING"})
    encoder = msgspec.json.Encoder()
    fake_master = type("FakeMaster", (), {"state": state, "leading": True, "safe_mode": False})()
    out = {}
    for name, build in [("/state", lambda: views.state(state, {}, state.master_info)),
                        ("GET_STATE", lambda: {"type": "GET_STATE", "get_state": operator.get_state(state, raw=True)}),
                        ("/metrics/snapshot", lambda: metrics.snapshot(fake_master))]:
        out[name] = timed(lambda: len(encoder.encode(build())), n)
    return out


def timed(fn, n: int) -> dict[str, float]:
    samples, size = [], 0
    for _ in range(n):
        start = time.perf_counter()
        size = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))],
            "min_ms": samples[0], "max_ms": samples[-1], "bytes": size, "n": n}


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        return len(response.read())


def post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return len(response.read())


def dashboard_load(url: str, agents: int, tasks: int, loads: int) -> dict[str, float] | str:
    chromium = os.environ.get("CORRAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "skipped: Playwright is not installed (scripts/setup-webui.sh)"
    if not os.access(chromium, os.X_OK):
        return f"skipped: no Chromium at {chromium} (scripts/setup-webui.sh)"
    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                                                   "--disable-background-networking", "--disable-component-update"])
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_function(
                """([agents, tasks]) => {
                    const a = document.querySelector('[data-testid=agents-count]');
                    const t = document.querySelector('[data-testid=tasks-live]');
                    return a && t && Number(a.textContent) === agents && Number(t.textContent) === tasks;
                }""", arg=[agents, tasks], timeout=120_000, polling=20)
            samples.append((time.perf_counter() - start) * 1000)
            context.close()
        browser.close()
    samples.sort()
    return {"median_ms": statistics.median(samples), "min_ms": samples[0], "max_ms": samples[-1], "n": loads}


async def build_cluster(master: str, agents: int, per_agent: int) -> SimulatedCluster:
    sim = SimulatedCluster(StandaloneMasterDetector(master), agents, resources=AGENT_RESOURCES)
    await sim.start()
    deadline = time.monotonic() + 120
    while sim.registered < agents:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sim.registered} of {agents} simulated agents registered")
        await asyncio.sleep(0.1)
    await asyncio.wait_for(launch_tasks(master, agents * per_agent, per_agent), 600)
    return sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tasks-per-agent", type=int, default=10)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per endpoint")
    parser.add_argument("--loads", type=int, default=3, help="timed dashboard loads")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # (late acknowledgements of the departed framework are expected)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    total = args.agents * args.tasks_per_agent
    work = tempfile.mkdtemp(prefix="corral-state-latency-")
    port = free_port()
    master = f"127.0.0.1:{port}"
    log = open(os.path.join(work, "master.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "corral.cli.main", "master", "--ip", "127.0.0.1", "--port", str(port),
                             "--work_dir", os.path.join(work, "master"), "--agent_ping_timeout", "30", "--log_level", "WARNING"],
                            stdout=log, stderr=subprocess.STDOUT)
    # The simulated agents and the framework live on an event loop in a thread of their own, so that
    # the agents keep answering pings while the main thread times requests.
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    results: dict[str, Any] = {"agents": args.agents, "tasks": total}
    sim: SimulatedCluster | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(f"http://{master}/health") == 0:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        started = time.perf_counter()
        sim = asyncio.run_coroutine_threadsafe(build_cluster(master, args.agents, args.tasks_per_agent), loop).result()
        results["setup_seconds"] = time.perf_counter() - started
        snapshot = json.loads(urllib.request.urlopen(f"http://{master}/metrics/snapshot").read())
        assert snapshot["master/tasks_running"] == total, snapshot["master/tasks_running"]
        assert snapshot["master/slaves_active"] == args.agents
        base = f"http://{master}"
        results["/state"] = timed(lambda: get(base + "/state"), args.requests)
        results["GET_STATE"] = timed(lambda: post(base + "/api/v1", {"type": "GET_STATE"}), args.requests)
        results["GET_TASKS"] = timed(lambda: post(base + "/api/v1", {"type": "GET_TASKS"}), args.requests)
        results["GET_AGENTS"] = timed(lambda: post(base + "/api/v1", {"type": "GET_AGENTS"}), args.requests)
        results["/metrics/snapshot"] = timed(lambda: get(base + "/metrics/snapshot"), args.requests)
        results["dashboard"] = dashboard_load(base, args.agents, total, args.loads)
        results["in_process"] = in_process(args.agents, args.tasks_per_agent, args.requests)
        results["master_rss_mb"] = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        if sim is not None:
            asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        proc.terminate()
        proc.wait(30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.agents} agents, {total} running tasks (set up in {results['setup_seconds']:.1f} s); master RSS {results['master_rss_mb']:.0f} MB")
    print(f"{'endpoint':<20} {'median':>10} {'p95':>10} {'min':>10} {'size':>10}")
    for name in ("/state", "GET_STATE", "GET_TASKS", "GET_AGENTS", "/metrics/snapshot"):
        r = results[name]
        print(f"{name:<20} {r['median_ms']:>8.1f}ms {r['p95_ms']:>8.1f}ms {r['min_ms']:>8.1f}ms {r['bytes'] / 1e6:>8.2f}MB")
    dash = results["dashboard"]
    if isinstance(dash, dict):
        print(f"{'dashboard load':<20} {dash['median_ms']:>8.0f}ms {'':>10} {dash['min_ms']:>8.0f}ms   "
              f"(navigation until {args.agents:,} agents and {total:,} tasks are shown; {dash['n']} loads)")
    else:
        print(f"dashboard load: {dash}")
    print("in process (MasterState driven directly; building and encoding the answer, no HTTP):")
    for name, r in results["in_process"].items():
        print(f"  {name:<18} {r['median_ms']:>8.1f}ms {r['p95_ms']:>8.1f}ms {r['min_ms']:>8.1f}ms {r['bytes'] / 1e6:>8.2f}MB")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    verdict = "meets" if results["GET_STATE"]["median_ms"] < 200 else "MISSES"
    print(f"GET_STATE median {results['GET_STATE']['median_ms']:.0f} ms {verdict} the 200 ms target")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
