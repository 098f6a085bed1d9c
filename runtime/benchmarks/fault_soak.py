"""A fault-injection soak in the style of Jepsen: a steady workload while a nemesis strikes, then a checker.

A 3-server ZooKeeper ensemble, 3 masters and 3 agents on 127.0.0.1 (soak/cluster.py) run three
frameworks in their own processes: two with pymesos (soak/framework.py), one on pymesos's default
FrameworkInfo and one checkpointing with a 20 s failover_timeout, and one with Corral's scheduler
SDK on its defaults (soak/sdk_framework.py); and Corral's Spark dispatcher runs one small
supervised PySpark application after another (soak/spark_workload.py).  They keep short and long
tasks in flight while the seeded nemesis (soak/nemesis.py) kills and pauses masters, agents,
ZooKeeper servers (rarely two of three), the checkpointing scheduler (within and past its
failover_timeout) and the dispatcher, one fault at a time.  A poller reads the endpoints of every
master, agent and the dispatcher.  At the end everything is healed, the frameworks finish their
tasks, a fresh framework checks that the offers add up to the agents' totals, and the checker
(soak/checker.py) proves Mesos's guarantees over the whole history.

    python runtime/benchmarks/fault_soak.py --minutes 5 --seed 1 [--json history.json]
    python runtime/benchmarks/fault_soak.py --check history.json   # the checker and report again, on a saved run

Prints the faults by kind, the tasks and their terminal states, every violation with the history
that shows it, the longest time without a leader and without offers; the last line is
`soak: N tasks, N terminal, 0 lost, 0 duplicated, 0 violations` when all holds (exit 0, else 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "soak"))
from checker import Verdict, check  # noqa: E402
from cluster import Cluster, get_json  # noqa: E402
from nemesis import Nemesis  # noqa: E402
from spark_workload import SparkWorkload  # noqa: E402
from support.sparkkit import Dispatcher  # noqa: E402

ENDPOINTS = ["/state", "/metrics/snapshot", "/master/tasks", "/health", "/roles"]
AGENT_ENDPOINTS = ["/state", "/health", "/monitor/statistics"]
DISPATCHER_ENDPOINTS = ["/api/v1/state", "/health"]
FRAMEWORKS = ("default", "checkpoint", "sdk")
AGENT_BUDGET = 3.0  # the masters' agent_ping_timeout x max_agent_ping_timeouts (soak/cluster.py's MASTER_FLAGS)
LEADER_DETECTION = 4.0  # a leader's end to the poller seeing the next: the 2 s ZooKeeper session and the election


class Poller(threading.Thread):
    """Reads the endpoints of every master, agent and the dispatcher twice a second: records 5xx answers
    and the leaderless gaps."""

    def __init__(self, cluster: Cluster, dispatcher: Dispatcher) -> None:
        super().__init__(daemon=True)
        self.cluster, self.dispatcher = cluster, dispatcher
        self.records: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.longest_leaderless = 0.0
        self.leader_id: str | None = None
        self.reregistered: dict[str, float | None] = {}  # agent id -> its last re-registration, as the leader saw it
        self.safe_mode_entries: dict[str, tuple[float, float]] = {}  # master -> (its count, when seen)

    def run(self) -> None:
        leaderless_since: float | None = None
        while not self.stopping.wait(0.5):
            led = False
            for master in list(self.cluster.masters):
                if not master.alive():
                    continue
                for path in ENDPOINTS:
                    status, body = self._get(f"{master.address}{path}")
                    if path == "/state" and status == 200 and body and body.get("elected"):
                        led = True
                        self._observe_agents(body)
                    if path == "/metrics/snapshot" and status == 200 and body:
                        self._observe_safe_mode(master.address, body)
            for agent in self.cluster.agents:
                for path in AGENT_ENDPOINTS:
                    self._get(f"127.0.0.1:{agent.port}{path}")
            for path in DISPATCHER_ENDPOINTS:
                self._get(f"{self.dispatcher.address}{path}")
            now = time.time()
            if led:
                if leaderless_since is not None:
                    self.longest_leaderless = max(self.longest_leaderless, now - leaderless_since)
                    self.records.append({"kind": "observed", "fault": "leader_changed (none for a while)",
                                         "t": leaderless_since, "healed": now})
                leaderless_since = None
            elif leaderless_since is None:
                leaderless_since = now

    def _observe_agents(self, state: dict[str, Any]) -> None:
        """An agent that re-registered with the same leader had lost its connection: it went away, whether the
        nemesis made it or the machine's load did (a loaded 2-core machine stalls processes for seconds)."""
        leader, before = state.get("id"), self.reregistered
        self.reregistered = {s["id"]: s.get("reregistered_time") for s in state.get("slaves", [])}
        if leader != self.leader_id:
            if self.leader_id is not None:  # (an injected kill or pause, or a ZooKeeper session the load let expire)
                now = time.time()
                self.records.append({"kind": "observed", "fault": "leader_changed", "t": now - LEADER_DETECTION, "healed": now})
            self.leader_id = leader  # (agents re-register with every new leader: that is not their going away)
            return
        for agent_id, when in self.reregistered.items():
            if when and before.get(agent_id) not in (None, when):
                self.records.append({"kind": "observed", "fault": "agent reconnected to its leader", "t": when - AGENT_BUDGET,
                                     "healed": when, "agent_ids": [agent_id]})

    def _observe_safe_mode(self, address: str, metrics: dict[str, Any]) -> None:
        """A master that went into safe mode since the last look lost its ZooKeeper quorum, if only for a
        moment: its offers were rescinded, as with an injected quorum loss (the count, not the gauge: a
        moment between two looks shows too)."""
        now, entries = time.time(), metrics.get("master/safe_mode_entries")
        before, seen_at = self.safe_mode_entries.get(address, (None, now))
        if isinstance(entries, (int, float)):
            self.safe_mode_entries[address] = (entries, now)
            if before is not None and entries > before:
                self.records.append({"kind": "observed", "fault": "zk_safe_mode (a master lost its quorum)",
                                     "t": seen_at - 1, "healed": now})

    def _get(self, url: str) -> tuple[int, Any]:
        status, body = get_json(f"http://{url}")
        if status >= 500:
            self.records.append({"kind": "http", "t": time.time(), "url": url, "status": status, "body": str(body)[:300]})
        return status, body


def final_offers(cluster: Cluster) -> dict[str, Any]:
    """What a fresh framework is offered once every task has ended, beside each agent's total."""
    from pymesos import MesosSchedulerDriver, Scheduler

    deadline = time.monotonic() + 60
    while (leader := cluster.leader()) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if leader is None:
        return {"kind": "unhealthy", "t": time.time(), "what": "no leading master to make the final offers"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # executors finish after their tasks
        _, state = get_json(f"http://{leader.address}/state")
        if state and all(not any(s["used_resources"].get(n) for n in ("cpus", "mem")) for s in state["slaves"]):
            break
        time.sleep(0.5)
    if not state:
        return {"kind": "unhealthy", "t": time.time(), "what": f"the leader {leader.address} did not answer /state"}
    totals = {s["id"]: {n: s["resources"][n] for n in ("cpus", "mem")} for s in state["slaves"] if s.get("active")}
    offered: dict[str, dict[str, float]] = {}
    lock = threading.Lock()

    class Collector(Scheduler):
        def resourceOffers(self, driver, offers):
            for offer in offers:
                with lock:
                    got = offered.setdefault(offer["agent_id"]["value"], {"cpus": 0.0, "mem": 0.0})
                    for r in offer["resources"]:
                        if r["name"] in got:
                            got[r["name"]] = round(got[r["name"]] + r["scalar"]["value"], 3)
                driver.declineOffer(offer["id"], {"refuse_seconds": 600})

    driver = MesosSchedulerDriver(Collector(), {"user": "root", "name": "soak-final"}, cluster.zk_url, use_addict=False)
    driver.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and set(offered) != set(totals):
        time.sleep(0.2)
    time.sleep(1)
    driver.stop()
    driver.join()
    return {"kind": "final_offers", "t": time.time(),
            "agents": {a: (offered.get(a, {"cpus": 0.0, "mem": 0.0}), totals[a]) for a in totals}}


def leftovers(cluster: Cluster) -> list[dict[str, Any]]:
    """Each task still on an agent once every framework has finished (after final_offers waited for the
    resources to come back): one that never ended."""
    out = []
    for agent in cluster.agents:
        _, state = get_json(f"http://127.0.0.1:{agent.port}/state")
        for framework in (state or {}).get("frameworks", []):
            for executor in framework.get("executors", []):
                for task in executor.get("tasks", []) + executor.get("queued_tasks", []):
                    out.append({"kind": "leftover", "t": time.time(), "task": task["id"], "agent": agent.index,
                                "state": task["state"], "framework_id": framework["id"]})
    return out


def read_history(cluster: Cluster) -> list[dict[str, Any]]:
    out = []
    with open(cluster.history) as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # (a line a SIGKILL cut short)
    for marker in cluster.runs.iterdir():
        for _ in marker.read_text().splitlines():
            out.append({"kind": "run", "t": marker.stat().st_mtime, "task": marker.name})
    return out


def longest_gap(times: list[float]) -> float:
    times = sorted(times)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def report(verdict: Verdict, leaderless: float, offerless: float) -> None:
    print("faults injected:")
    for fault, count in sorted(verdict.faults.items()):
        print(f"  {fault:<40} {count:>4}")
    print(f"tasks launched: {verdict.tasks} (a provisional TASK_LOST superseded by the agent's update: {verdict.superseded})")
    for state, count in sorted(verdict.terminal.items()):
        print(f"  {state:<40} {count:>4}")
    if verdict.applications:
        print("Spark applications: " + ", ".join(f"{n} {state}" for state, n in sorted(verdict.applications.items())))
    if verdict.observed:
        print("seen by the poller, injected or not (they explain losses as faults do):")
        for what, count in sorted(verdict.observed.items()):
            print(f"  {what:<40} {count:>4}")
    print(f"longest time without a leader: {leaderless:.1f} s; without offers (default framework): {offerless:.1f} s")
    for v in verdict.violations:
        print(f"VIOLATION [{v.rule}] {v.task or ''}: {v.detail}")
        for record in v.excerpt[-8:]:
            print("    " + json.dumps(record, sort_keys=True))
    print(verdict.summary())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--json", help="Write the whole history here (for replay)")
    parser.add_argument("--work-dir", help="Keep the cluster's files here (default: a temporary directory)")
    parser.add_argument("--check", metavar="HISTORY_JSON", help="Check a history written by --json again, and report")
    args = parser.parse_args()
    if args.check:
        with open(args.check) as fh:
            return 1 if judge(json.load(fh)) else 0
    root = Path(args.work_dir or tempfile.mkdtemp(prefix="corral-soak-"))
    rng = random.Random(args.seed)
    cluster = Cluster(root, args.agents, args.seed)
    records: list[dict[str, Any]] = []
    spark = SparkWorkload(root, cluster.zk_url)
    poller = Poller(cluster, spark.dispatcher)
    try:
        cluster.start()
        for kind in FRAMEWORKS:
            cluster.start_framework(kind)
        spark.start()
        poller.start()
        nemesis = Nemesis(cluster, spark, rng)
        started = time.time()
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(3, 8))
            records += nemesis.strike()
            records += nemesis.revive_crashed()
        ended = time.time()
        records += nemesis.revive_crashed()
        bad = cluster.wait_healthy(90, lambda: [] if spark.subscribed() else ["the Spark dispatcher (not subscribed)"])
        records += [{"kind": "unhealthy", "t": time.time(), "what": what} for what in bad]
        time.sleep(5)
        for proc in cluster.frameworks.values():
            proc.send_signal(signal.SIGUSR1)
        spark.finish()
        for kind, proc in cluster.frameworks.items():
            try:
                if proc.wait(180) != 0:
                    records.append({"kind": "unhealthy", "t": time.time(), "what": f"framework {kind} exited with "
                                    f"status {proc.returncode} (see framework-{kind}.log)"})
            except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
                records.append({"kind": "unhealthy", "t": time.time(), "what": f"framework {kind} did not finish"})
        poller.stopping.set()
        records.append(final_offers(cluster))
        records += leftovers(cluster)
        records += poller.records
    finally:
        poller.stopping.set()
        spark.stop()
        cluster.stop()
    history = read_history(cluster) + spark.history() + records
    offers = [r["t"] for r in history if r["kind"] == "offer" and r["framework"] == "default" and started <= r["t"] <= ended]
    run = {"seed": args.seed, "minutes": args.minutes, "leaderless": poller.longest_leaderless,
           "offerless": longest_gap(offers), "history": history}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(run, fh)
    violations = judge(run)
    if violations or args.work_dir:
        print(f"(the cluster's logs are in {root})", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if violations else 0


def judge(run: dict[str, Any]) -> int:
    """Check a run's history and print the report; the number of violations."""
    verdict = check(run["history"])
    report(verdict, run["leaderless"], run["offerless"])
    return len(verdict.violations)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
