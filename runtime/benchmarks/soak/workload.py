"""What every framework of the soak does, whichever client library it is written with.

`Workload` keeps a few tasks in flight (mostly short, some long) and decides what to launch on an
offer; `History` appends what the framework sees to the shared JSON-lines history the checker
reads.  The client adapters (framework.py for pymesos, sdk_framework.py for Corral's SDK) only
translate their library's callbacks into these calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from typing import Any

from checker import TERMINAL

FAILOVER_TIMEOUT = 20.0  # the checkpointing framework's: short enough for the nemesis to outlast it
IN_FLIGHT = 4
CPUS, MEM = 0.1, 32
FINISH_SECONDS = 120  # after SIGUSR1: how long a framework waits for its tasks to end


class History:
    def __init__(self, path: str, framework: str, incarnation: int) -> None:
        self.fh = open(path, "a", buffering=1)
        self.framework, self.incarnation = framework, incarnation
        self.lock = threading.Lock()

    def write(self, kind: str, **fields: Any) -> None:
        record = {"t": time.time(), "kind": kind, "framework": self.framework, "incarnation": self.incarnation, **fields}
        with self.lock:
            self.fh.write(json.dumps(record) + "\n")


class Workload:
    """The tasks of one framework incarnation: which are live, what to launch, what each update means."""

    def __init__(self, history: History, runs: str, rng: random.Random, known: dict[str, bool]) -> None:
        self.history, self.runs, self.rng = history, runs, rng
        self.live = {task for task, ended in known.items() if not ended}  # tasks not yet seen to end
        self.count = 0
        self.framework_id: str | None = None
        self.finishing = False
        self.finish_by: float | None = None  # (monotonic) once asked to finish
        self.next_reconcile = time.monotonic() + 5
        self.lock = threading.Lock()

    def subscribed(self, framework_id: str) -> list[str]:
        """Record the subscription; the live tasks to reconcile (a new incarnation or a new leader asks)."""
        self.framework_id = framework_id
        self.history.write("subscribed", framework_id=framework_id)
        with self.lock:
            return sorted(self.live)

    def offer(self, offer: dict[str, Any]) -> list[dict[str, Any]]:
        """The TaskInfos to launch on an offer (none: decline it)."""
        agent_id = offer["agent_id"]["value"]
        self.history.write("offer", agent_id=agent_id)
        cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
        mem = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "mem")
        tasks = []
        with self.lock:
            while not self.finishing and len(self.live) < IN_FLIGHT and cpus >= CPUS - 1e-9 and mem >= MEM - 1e-9:
                tasks.append(self._task(agent_id))
                cpus, mem = cpus - CPUS, mem - MEM
        return tasks

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

    def update(self, status: dict[str, Any]) -> None:
        task_id = status["task_id"]["value"]
        self.history.write("update", task=task_id, state=status["state"], uuid=status.get("uuid"),
                           reason=status.get("reason"), source=status.get("source"),
                           message=status.get("message", "")[:200], agent_id=(status.get("agent_id") or {}).get("value"))
        if status["state"] in TERMINAL:
            with self.lock:
                self.live.discard(task_id)

    def live_tasks(self) -> list[str]:
        with self.lock:
            return sorted(self.live)

    def tick(self, finish: bool) -> tuple[bool, list[str]]:
        """Called twice a second: (whether to stop now, the live tasks to reconcile now).

        A careful framework reconciles now and then (every 5 s, every second while finishing).
        Asked to `finish`, it launches nothing more and stops once its tasks have ended, or after
        FINISH_SECONDS with the error recorded."""
        now = time.monotonic()
        if finish and self.finish_by is None:
            with self.lock:
                self.finishing = True
            self.finish_by = now + FINISH_SECONDS
        live = self.live_tasks()
        if self.finish_by is not None and not live:
            return True, []
        if self.finish_by is not None and now > self.finish_by:
            self.history.write("error", message=f"finishing: {len(live)} tasks never ended")
            return True, []
        if live and now >= self.next_reconcile:
            self.next_reconcile = now + (1 if self.finish_by is not None else 5)
            return False, live
        return False, []


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


def parse_arguments(kinds: list[str] | None = None) -> argparse.Namespace:
    """The command line every framework process of the soak takes (cluster.py's start_framework)."""
    parser = argparse.ArgumentParser()
    if kinds:
        parser.add_argument("--kind", choices=kinds, required=True)
    parser.add_argument("--master", required=True)
    parser.add_argument("--history", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--incarnation", type=int, default=0)
    parser.add_argument("--framework-id")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def workload_for(args: argparse.Namespace, kind: str) -> Workload:
    """The workload of this incarnation, knowing the tasks its framework id launched before it."""
    history = History(args.history, kind, args.incarnation)
    known = known_tasks(args.history, args.framework_id) if args.framework_id else {}
    return Workload(history, args.runs, random.Random(f"{args.seed}-{kind}-{args.incarnation}"), known)
