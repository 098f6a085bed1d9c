"""End-to-end task throughput: `corral local` with 4 agents, 1,000 trivial command tasks.

A framework written with Corral's scheduler SDK accepts every offer with as
many `true` tasks as fit and acknowledges every update.  Prints tasks/s
(first ACCEPT to last TASK_FINISHED) and the median and p99 latency from
the ACCEPT that launched a task to its TASK_RUNNING.

Reference points (not measured here): Kubernetes' scheduler-throughput SLO
threshold is 100 pods/s; Mesos 1.7 launched 1,000 containers on one agent in
about 30 s.  Pass --slurm to also time the same 1,000 jobs on a single-host
Slurm (slurmctld + slurmd must be running; `sbatch` on PATH) in the same run.

    python runtime/benchmarks/task_throughput.py [--tasks 1000] [--agents 4]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

from corral.cli.local import LocalCluster
from corral.resources import Resources
from corral.scheduler import SchedulerClient

TASK = Resources.parse("cpus:0.05;mem:8")


async def run_framework(master: str, total: int) -> dict[str, float]:
    accepted_at: dict[str, float] = {}
    running_at: dict[str, float] = {}
    finished: set[str] = set()
    finished_at: dict[str, float] = {}
    next_id = 0
    first_accept = last_finish = 0.0
    info = {"user": getpass.getuser(), "name": "throughput", "failover_timeout": 0}
    async with SchedulerClient(master, info, reconnect=False) as client:
        async for event in client.events():
            kind = event["type"]
            if kind == "OFFERS":
                for offer in event["offers"]["offers"]:
                    offered = Resources.from_json(offer["resources"])
                    tasks = []
                    while next_id < total and offered.contains(TASK):
                        task_id = f"t{next_id}"
                        next_id += 1
                        tasks.append({
                            "name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                            "resources": TASK.to_json(), "command": {"value": "true"},
                        })
                        offered = offered - TASK
                    if tasks:
                        now = time.perf_counter()
                        first_accept = first_accept or now
                        for t in tasks:
                            accepted_at[t["task_id"]["value"]] = now
                        await client.accept([offer["id"]], tasks, refuse_seconds=0)
                    else:
                        await client.decline([offer["id"]], refuse_seconds=3600)
            elif kind == "UPDATE":
                status = event["update"]["status"]
                task_id, state = status["task_id"]["value"], status["state"]
                if state == "TASK_RUNNING":
                    running_at.setdefault(task_id, time.perf_counter())
                elif state == "TASK_FINISHED":
                    finished.add(task_id)
                    finished_at[task_id] = time.perf_counter()
                    last_finish = time.perf_counter()
                    if len(finished) == total:
                        await client.teardown()
                        break
                elif state != "TASK_STAGING":
                    raise RuntimeError(f"task {task_id} ended {state}: {status.get('message')}")
    latencies = sorted(running_at[t] - accepted_at[t] for t in running_at)
    in_flight = sum(finished_at[t] - accepted_at[t] for t in finished_at) / (last_finish - first_accept)
    return {
        "tasks_per_second": total / (last_finish - first_accept),
        "latency_median_ms": statistics.median(latencies) * 1000,
        "latency_p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "wall_seconds": last_finish - first_accept,
        "mean_in_flight": in_flight,
    }


def cpu_seconds(cluster: LocalCluster) -> dict[str, float]:
    """CPU used so far by the master, the agents, and the executors with their tasks.

    Executors are children of each agent's zygote, which reaps them, so their
    time shows up in the zygote's children_* counters.
    """
    out = {"master": 0.0, "agents": 0.0, "executors+tasks": 0.0}
    for i, proc in enumerate(cluster.procs):
        p = psutil.Process(proc.pid)
        t = p.cpu_times()
        out["master" if i == 0 else "agents"] += t.user + t.system
        for child in p.children():
            c = child.cpu_times()
            out["agents"] += c.user + c.system  # the zygote itself
            out["executors+tasks"] += c.children_user + c.children_system
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["framework"] = usage.ru_utime + usage.ru_stime
    return out


def slurm_peer(total: int) -> float | None:
    if not shutil.which("sbatch"):
        print("slurm: sbatch not found; skipping the peer", file=sys.stderr)
        return None
    start = time.perf_counter()
    for _ in range(total):
        subprocess.run(["sbatch", "--quiet", "--wrap", "true", "-o", "/dev/null"], check=True)
    while subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip():
        time.sleep(0.05)
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--isolation", choices=["auto", "cgroups", "posix"], default="auto",
                        help="the agents' isolation (auto: cgroups where writable)")
    parser.add_argument("--slurm", action="store_true", help="also time the same jobs on Slurm")
    args = parser.parse_args()
    work_dir = tempfile.mkdtemp(prefix="corral-bench-")
    cluster = LocalCluster(args.agents, "127.0.0.1", 0, work_dir, "cpus:2;mem:2048;disk:1024", [], [],
                           ["--isolation", args.isolation])
    try:
        cluster.start()
        before = cpu_seconds(cluster)
        result = asyncio.run(run_framework(cluster.master, args.tasks))
        time.sleep(1)  # let the last executors exit and be reaped
        after = cpu_seconds(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    print(f"corral: {args.tasks} tasks on {args.agents} agents ({os.cpu_count()} cores, {args.isolation} isolation)")
    print(f"  throughput            {result['tasks_per_second']:8.1f} tasks/s   (target >= 100)")
    print(f"  tasks in flight       {result['mean_in_flight']:8.1f} on average")
    print(f"  ACCEPT->RUNNING p50   {result['latency_median_ms']:8.1f} ms")
    print(f"  ACCEPT->RUNNING p99   {result['latency_p99_ms']:8.1f} ms")
    print("  CPU per task (ms):     " + ", ".join(f"{k} {1000 * (after[k] - before[k]) / args.tasks:.1f}" for k in after))
    print("  reference: Kubernetes scheduler SLO 100 pods/s; Mesos 1.7 ~33 containers/s on one agent")
    if args.slurm:
        rate = slurm_peer(args.tasks)
        if rate is not None:
            print(f"slurm (same machine):   {rate:8.1f} jobs/s")


if __name__ == "__main__":
    main()
