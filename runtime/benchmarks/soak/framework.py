"""One framework of the soak's workload, in its own process so that the nemesis can kill it.

A pymesos scheduler that keeps a few tasks in flight (mostly short, some long) and appends every
subscription, offer, launch and status update it sees to a JSON-lines history.  `--kind default`
uses pymesos's default FrameworkInfo; `--kind checkpoint` checkpoints, with a short
failover_timeout, and comes back with `--framework-id` after the nemesis kills it.  SIGUSR1 asks it
to finish: it stops launching, reconciles until each of its tasks has ended, tears down and exits.

    python runtime/benchmarks/soak/framework.py --kind default --master zk://... --history H --runs DIR
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any

from pymesos import MesosSchedulerDriver, Scheduler

from checker import TERMINAL

FAILOVER_TIMEOUT = 20.0  # the checkpointing framework's: short enough for the nemesis to outlast it
IN_FLIGHT = 4
CPUS, MEM = 0.1, 32


class History:
    def __init__(self, path: str, framework: str, incarnation: int) -> None:
        self.fh = open(path, "a", buffering=1)
        self.framework, self.incarnation = framework, incarnation
        self.lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> None:
        record = {"t": time.time(), "kind": kind, "framework": self.framework, "incarnation": self.incarnation, **fields}
        with self.lock:
            self.fh.write(json.dumps(record) + "\n")


class SoakScheduler(Scheduler):
    def __init__(self, history: History, runs: str, rng: random.Random, known: dict[str, bool]) -> None:
        self.history, self.runs, self.rng = history, runs, rng
        self.live = {task for task, ended in known.items() if not ended}  # tasks not yet seen to end
        self.count = 0
        self.framework_id: str | None = None
        self.finishing = False
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]
        self.history.write("subscribed", framework_id=framework_id["value"])
        with self.lock:
            live = sorted(self.live)
        if live:  # a new incarnation (or a new leader) asks what became of what it knows
            driver.reconcileTasks([{"task_id": {"value": t}} for t in live])

    def reregistered(self, driver, master_info):  # (pymesos, when it subscribed with the framework's id)
        self.registered(driver, {"value": driver.framework_id}, master_info)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            agent_id = offer["agent_id"]["value"]
            self.history.write("offer", agent_id=agent_id)
            cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
            mem = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "mem")
            tasks = []
            with self.lock:
                while (not self.finishing and len(self.live) < IN_FLIGHT
                       and cpus >= CPUS - 1e-9 and mem >= MEM - 1e-9):
                    tasks.append(self._task(agent_id))
                    cpus, mem = cpus - CPUS, mem - MEM
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})

    def _task(self, agent_id: str) -> dict[str, Any]:
        self.count += 1
        task_id = f"{self.history.framework}-{self.history.incarnation}-{self.count}"
        seconds = self.rng.uniform(8, 20) if self.rng.random() < 0.2 else self.rng.uniform(0.2, 1.5)
        self.live.add(task_id)
        self.history.write("launch", task=task_id, agent_id=agent_id, seconds=round(seconds, 2), framework_id=self.framework_id)
        marker = os.path.join(self.runs, task_id)
        return {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": CPUS}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": MEM}}],
                "command": {"value": f"echo run >> {marker}; sleep {seconds:.2f}"}}

    def statusUpdate(self, driver, status):
        task_id = status["task_id"]["value"]
        self.history.write("update", task=task_id, state=status["state"], uuid=status.get("uuid"),
                           reason=status.get("reason"), source=status.get("source"),
                           message=status.get("message", "")[:200], agent_id=(status.get("agent_id") or {}).get("value"))
        if status["state"] in TERMINAL:
            with self.lock:
                self.live.discard(task_id)

    def error(self, driver, message):
        self.history.write("error", message=message)


def known_tasks(path: str, framework_id: str) -> dict[str, bool]:
    """The tasks launched under `framework_id` in the history so far: task → whether it was seen to end."""
    out: dict[str, bool] = {}
    if not os.path.exists(path):
        return out
    with open(path) as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # (a line cut short by a SIGKILL)
            if record["kind"] == "launch" and record.get("framework_id") == framework_id:
                out.setdefault(record["task"], False)
            elif record["kind"] == "update" and record["state"] in TERMINAL and record["task"] in out:
                out[record["task"]] = True
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["default", "checkpoint"], required=True)
    parser.add_argument("--master", required=True)
    parser.add_argument("--history", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--incarnation", type=int, default=0)
    parser.add_argument("--framework-id")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    history = History(args.history, args.kind, args.incarnation)
    known = known_tasks(args.history, args.framework_id) if args.framework_id else {}
    scheduler = SoakScheduler(history, args.runs, random.Random(f"{args.seed}-{args.kind}-{args.incarnation}"), known)
    info: dict[str, Any] = {"user": getpass.getuser(), "name": f"soak-{args.kind}"}
    if args.kind == "checkpoint":
        info.update(checkpoint=True, failover_timeout=FAILOVER_TIMEOUT)
    if args.framework_id:  # (back after the nemesis, or a crash, killed this framework's scheduler)
        info["id"] = {"value": args.framework_id}
    finish = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: finish.set())
    driver = MesosSchedulerDriver(scheduler, info, args.master, use_addict=False)
    driver.start()
    next_reconcile = time.monotonic() + 5
    deadline = None
    while True:
        time.sleep(0.5)
        if finish.is_set() and deadline is None:
            with scheduler.lock:
                scheduler.finishing = True
            deadline = time.monotonic() + 120
        with scheduler.lock:
            live = sorted(scheduler.live)
        if deadline is not None and not live:
            break
        if deadline is not None and time.monotonic() > deadline:
            history.write("error", message=f"finishing: {len(live)} tasks never ended")
            break
        if live and time.monotonic() >= next_reconcile:  # what a careful framework does now and then
            next_reconcile = time.monotonic() + (1 if deadline is not None else 5)
            try:
                driver.reconcileTasks([{"task_id": {"value": t}} for t in live])
            except (RuntimeError, OSError) as exc:  # (pymesos raises while it has no master: try later)
                history.write("error", message=f"reconcile: {exc}"[:200])
    history.write("finished")
    driver.stop()  # (a teardown: the soak is over for this framework)
    driver.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
