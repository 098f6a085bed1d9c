"""Task throughput, Corral beside Slurm in one run: 1,000 trivial tasks, then 1,000 trivial jobs.

Corral: `corral local` with 4 agents; a framework written with Corral's
scheduler SDK accepts every offer with as many `true` tasks as fit and
acknowledges every update.  Each task asks for 1/100 of the cluster's CPUs,
so at most 100 are in flight.  Prints tasks/s (first ACCEPT to last
TASK_FINISHED), the median and p99 latency from the ACCEPT that launched a
task to its TASK_RUNNING, and the CPU per task of the master, the agents
(with their zygotes), the tasks (and any executors) and the framework.

Slurm, the peer (slurm_peer.py): Debian's slurm-wlm 22.05 installed and
started by the benchmark itself, four emulated nodes on this host declaring 100
CPUs in all (as many jobs in flight as Corral's tasks), tuned for throughput;
1,000 `sbatch --wrap` jobs submitted one by one.

Targets (issue 15): >= 300 tasks/s, >= 4x Slurm, <= 5 ms of CPU per task,
p99 ACCEPT->RUNNING < 100 ms with 100 in flight.  With `true` tasks the
cluster is CPU-bound (every core busy), so the first phase's latency is
mostly queueing; a second phase runs half as many tasks of 0.5-1.5 s with
100 in flight, and prints the latency of the launch path itself: for the
first 100 (launched at once by the first offers) and for the rest (launched
as tasks end).  Last, one run of as many `true` tasks as the first phase's while
an agent and then the master are SIGKILLed and restarted mid-burst: every task
the framework's ACCEPT launched must end exactly once (it raises otherwise).

    python runtime/benchmarks/task_throughput.py [--tasks 1000] [--agents 4] [--runs 3] [--no-slurm] [--no-faults]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from typing import Callable

import psutil

from corral.cli.local import LocalCluster
from corral.resources import Resources
from corral.scheduler import CALL_ERRORS, SchedulerClient

AGENT_CPUS = 2.0
IN_FLIGHT = 100  # tasks the cluster fits at once
# The second phase's tasks last 0.5-1.5 s (1 s on average, drawn from a fixed seed): 100 in
# flight then launch ~100 tasks/s, which leaves the CPUs room, so its latency is the launch
# path's and not a queue's. Equal durations would keep relaunching the first wave as a wave.
PACED_TASK_SECONDS = (0.5, 1.5)


async def run_framework(master: str, total: int, task: Resources, command: Callable[[int], str]) -> dict[str, float]:
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
                    while next_id < total and offered.contains(task):
                        task_id = f"t{next_id}"
                        next_id += 1
                        tasks.append({
                            "name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                            "resources": task.to_json(), "command": {"value": command(next_id - 1)},
                        })
                        offered = offered - task
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
    latency = {t: running_at[t] - accepted_at[t] for t in running_at}
    # The first IN_FLIGHT tasks are launched at once, by the first offers: a wave whose last
    # launches wait for the CPU the others take.  The rest are launched as tasks end.
    first_wave = [latency[t] for t in latency if int(t[1:]) < IN_FLIGHT]
    after = [latency[t] for t in latency if int(t[1:]) >= IN_FLIGHT]
    in_flight = sum(finished_at[t] - accepted_at[t] for t in finished_at) / (last_finish - first_accept)
    return {
        "tasks_per_second": total / (last_finish - first_accept),
        "latency_median_ms": _percentile(list(latency.values()), 0.5),
        "latency_p99_ms": _percentile(list(latency.values()), 0.99),
        "first_wave_median_ms": _percentile(first_wave, 0.5),
        "first_wave_p99_ms": _percentile(first_wave, 0.99),
        "after_median_ms": _percentile(after, 0.5),
        "after_p99_ms": _percentile(after, 0.99),
        "wall_seconds": last_finish - first_accept,
        "mean_in_flight": in_flight,
    }


TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


async def run_through_faults(cluster: LocalCluster, total: int, task: Resources,
                             terminal: dict[str, set[str]]) -> dict[str, int]:
    """`total` trivial tasks while an agent and then the master are SIGKILLed and restarted mid-burst,
    by a framework written as Mesos asks: checkpointing, a failover_timeout, re-subscribing, an
    explicit reconciliation after each re-subscription (again every 2 s for the tasks still open: a
    master that has just failed over does not answer for tasks it does not know while agents it
    recovered have yet to re-register), a launch whose ACCEPT failed made again.
    Returns how each accepted task ended; raises if one ended twice or never."""
    # `terminal`: each accepted task -> the distinct terminal states it reached
    ends: dict[str, int] = {}  # how tasks ended: state and reason -> how many
    finished = 0
    next_id = 0
    faults = [(total // 3, "agent-1"), (2 * total // 3, "master")]
    info = {"user": getpass.getuser(), "name": "throughput-faults", "failover_timeout": 300, "checkpoint": True}
    subscriptions = 0
    unsure: set[str] = set()  # open when the framework re-subscribed

    async def reconcile_until_sure() -> None:
        while True:
            unsure.difference_update([t for t in unsure if terminal[t]])
            if unsure:
                await _try(client.reconcile(sorted(unsure)))
            await asyncio.sleep(2)

    async with SchedulerClient(cluster.master, info) as client:
        reconciler = asyncio.ensure_future(reconcile_until_sure())
        async for event in client.events():
            kind = event["type"]
            if kind == "SUBSCRIBED":
                subscriptions += 1
                if subscriptions > 1:
                    unsure.update(t for t, states in terminal.items() if not states)
            elif kind == "OFFERS":
                for offer in event["offers"]["offers"]:
                    offered = Resources.from_json(offer["resources"])
                    tasks = []
                    room = total - finished - sum(not s for s in terminal.values())  # (what is neither done nor in flight)
                    while len(tasks) < room and offered.contains(task):
                        task_id = f"t{next_id}"
                        next_id += 1
                        tasks.append({"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
                                      "resources": task.to_json(), "command": {"value": "true"}})
                        offered = offered - task
                    if tasks and await _try(client.accept([offer["id"]], tasks, refuse_seconds=0)):
                        for t in tasks:
                            terminal[t["task_id"]["value"]] = set()
                    elif not tasks:
                        await _try(client.decline([offer["id"]], refuse_seconds=3600))
            elif kind == "UPDATE":
                status = event["update"]["status"]
                task_id, state = status["task_id"]["value"], status["state"]
                if state in TERMINAL and task_id in terminal:
                    if not terminal[task_id]:
                        finished += state == "TASK_FINISHED"
                        ended = f"{state} {status.get('reason', '')}".strip()
                        ends[ended] = ends.get(ended, 0) + 1
                        if state != "TASK_FINISHED":  # to be launched again: offers declined meanwhile are wanted
                            await _try(client.revive())
                    terminal[task_id].add(state)
                while faults and finished >= faults[0][0]:
                    cluster.restart(faults.pop(0)[1])
                if finished == total:
                    reconciler.cancel()
                    await client.teardown()
                    break
    twice = {t: s for t, s in terminal.items() if len(s) > 1}
    if twice:
        raise RuntimeError(f"tasks that reached two terminal states: {twice}")
    return {"accepted": len(terminal), "subscriptions": subscriptions, **ends}


async def _try(call) -> bool:
    """A call the master may not answer while it is down: False if it failed (its launches never began)."""
    try:
        await call
        return True
    except CALL_ERRORS:
        return False


def local_cluster(agents: int, isolation: str) -> tuple[LocalCluster, str, Resources]:
    """A `corral local` cluster in a new work_dir (not started) and a task of 1/IN_FLIGHT of its CPUs."""
    work_dir = tempfile.mkdtemp(prefix="corral-bench-")
    cluster = LocalCluster(agents, "127.0.0.1", 0, work_dir, f"cpus:{AGENT_CPUS:g};mem:2048;disk:1024", [], [],
                           ["--isolation", isolation])
    return cluster, work_dir, Resources.parse(f"cpus:{agents * AGENT_CPUS / IN_FLIGHT:g};mem:8")


def faults_run(tasks: int, agents: int, isolation: str) -> dict[str, int]:
    cluster, work_dir, task = local_cluster(agents, isolation)
    try:
        cluster.start()
        terminal: dict[str, set[str]] = {}
        try:
            result = asyncio.run(asyncio.wait_for(run_through_faults(cluster, tasks, task, terminal), 300))
        except asyncio.TimeoutError:
            never = sorted((t for t, states in terminal.items() if not states), key=lambda t: int(t[1:]))
            raise RuntimeError(f"after 5 minutes, {len(never)} accepted tasks had not ended: {never[:20]}"
                               f" (logs in {work_dir})") from None
    finally:
        cluster.stop()
    shutil.rmtree(work_dir, ignore_errors=True)  # (kept when the run failed: its logs tell why)
    return result


def _percentile(seconds: list[float], q: float) -> float:
    """in milliseconds"""
    ordered = sorted(seconds)
    return ordered[int(q * (len(ordered) - 1))] * 1000


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


def corral_run(tasks: int, agents: int, isolation: str, command: Callable[[int], str] = lambda _: "true") -> dict[str, float]:
    cluster, work_dir, task = local_cluster(agents, isolation)
    try:
        cluster.start()
        before = cpu_seconds(cluster)
        result = asyncio.run(run_framework(cluster.master, tasks, task, command))
        time.sleep(1)  # let the last tasks exit and be reaped
        after = cpu_seconds(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    for k in after:
        result[f"cpu_{k}_ms"] = 1000 * (after[k] - before[k]) / tasks
    result["cpu_ms"] = sum(result[f"cpu_{k}_ms"] for k in after)
    return result


def spread(values: list[float]) -> str:
    """median (min-max) of several runs"""
    return f"{statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each system")
    parser.add_argument("--isolation", choices=["auto", "cgroups", "posix"], default="auto",
                        help="the agents' isolation (auto: cgroups where writable)")
    parser.add_argument("--no-slurm", action="store_true", help="leave the Slurm peer out")
    parser.add_argument("--no-faults", action="store_true", help="leave out the run through an agent's and the master's SIGKILL")
    args = parser.parse_args()
    corral: list[dict[str, float]] = []
    paced: list[dict[str, float]] = []
    slurm: list[dict[str, float]] = []
    if not args.no_slurm:
        import slurm_peer  # (beside this file)

        slurm_peer.ensure_installed()
    for _ in range(args.runs):
        corral.append(corral_run(args.tasks, args.agents, args.isolation))
        durations = random.Random(0)
        paced.append(corral_run(args.tasks // 2, args.agents, args.isolation,
                                lambda _: f"sleep {durations.uniform(*PACED_TASK_SECONDS):.2f}"))
        if not args.no_slurm:
            slurm.append(slurm_peer.measure(args.tasks, args.agents, IN_FLIGHT, array=False))
    faults = {} if args.no_faults else faults_run(args.tasks, args.agents, args.isolation)
    col = lambda rows, key: [r[key] for r in rows]  # noqa: E731
    print(f"{args.tasks} tasks, {args.runs} runs of each, {os.cpu_count()} cores: median (min-max)")
    print(f"corral ({args.agents} agents, {args.isolation} isolation, at most {IN_FLIGHT} in flight)")
    print(f"  throughput            {spread(col(corral, 'tasks_per_second'))} tasks/s   (target >= 300)")
    print(f"  ACCEPT->RUNNING p50   {spread(col(corral, 'latency_median_ms'))} ms")
    print(f"  ACCEPT->RUNNING p99   {spread(col(corral, 'latency_p99_ms'))} ms   (target < 100)")
    print(f"  tasks in flight       {spread(col(corral, 'mean_in_flight'))} on average")
    print(f"  CPU per task          {spread(col(corral, 'cpu_ms'))} ms   (target <= 5)")
    for part in ("master", "agents", "executors+tasks", "framework"):
        print(f"    {part:<19} {spread(col(corral, f'cpu_{part}_ms'))} ms")
    low, high = PACED_TASK_SECONDS
    print(f"corral, {args.tasks // 2} tasks of `sleep {low:g}-{high:g}`: {IN_FLIGHT} in flight without saturating the CPUs")
    print(f"  throughput            {spread(col(paced, 'tasks_per_second'))} tasks/s")
    print(f"  ACCEPT->RUNNING p50   {spread(col(paced, 'latency_median_ms'))} ms")
    print(f"  ACCEPT->RUNNING p99   {spread(col(paced, 'latency_p99_ms'))} ms   (target < 100)")
    print(f"    the first {IN_FLIGHT}, at once: p50 {spread(col(paced, 'first_wave_median_ms'))}, "
          f"p99 {spread(col(paced, 'first_wave_p99_ms'))} ms")
    print(f"    the rest, as tasks end: p50 {spread(col(paced, 'after_median_ms'))}, "
          f"p99 {spread(col(paced, 'after_p99_ms'))} ms")
    print(f"  tasks in flight       {spread(col(paced, 'mean_in_flight'))} on average")
    if faults:
        ended = ", ".join(f"{state} {n}" for state, n in sorted(faults.items()) if state.startswith("TASK_"))
        print(f"corral, {args.tasks} tasks through faults: agent-1 SIGKILLed and restarted after a third of them finished, "
              f"the master after two thirds")
        print(f"  accepted {faults['accepted']}, each ended once: {ended}; the framework subscribed {faults['subscriptions']} times")
    if slurm:
        print(f"slurm 22.05 ({slurm[0]['emulation']}, one-by-one sbatch)")
        print(f"  throughput            {spread(col(slurm, 'jobs_per_second'))} jobs/s")
        print(f"  CPU per job (daemons) {spread(col(slurm, 'cpu_ms_per_job'))} ms")
        ratios = [c["tasks_per_second"] / s["jobs_per_second"] for c, s in zip(corral, slurm)]
        print(f"corral / slurm          {spread(ratios)} x   (target >= 4, each run against the Slurm run beside it)")


if __name__ == "__main__":
    main()
