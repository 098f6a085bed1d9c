"""One full allocation round of the DRF allocator, in process.

Mirrors Mesos's HierarchicalAllocator_BENCHMARK_Test.AddAndUpdateSlave set-up:
frameworks in role "*", agents with `cpus:2;mem:1024;disk:4096;ports:[31000-32000]`,
each agent with a slice (`cpus:1;mem:128;disk:1024;ports:[...]`) already used by
one framework, round-robin.  Times adding the agents and one `allocate()` over
all of them, and prints a table.

Peer: Mesos's C++ allocator takes about 1.06 s per round at 10,000 agents x
1,000 frameworks (its published benchmark); Corral's target there is < 0.5 s.

`--quota` adds, side by side, the same round with frameworks spread over 10
roles, half of them with quota (a guarantee and a limit each) and every tenth
agent holding a static reservation for one of them; the row before it is the
same role layout without quota or reservations.  Target with quota: <= 0.3 s.

Each row is the median of `--repeat` rounds, with their spread.

    python runtime/benchmarks/allocator_round.py [--agents 1000,10000] [--frameworks 1,100,1000] [--quota] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from corral.allocator import AllocatorOptions
from corral.allocator.hierarchical import HierarchicalAllocator
from corral.allocator.quota import QuotaConfig
from corral.resources import Resources

AGENT = Resources.parse("cpus:2;mem:1024;disk:4096;ports:[31000-32000]")
USED = Resources.parse("cpus:1;mem:128;disk:1024;ports:[31126-31510,31512-31623,31810-31852,31854-31964]")
MESOS_REFERENCE_S = {(10_000, 1_000): 1.06}
ROLES = 10


def one_round(agents: int, frameworks: int, layout: str = "star") -> tuple[float, float, int]:
    """`layout`: "star" (every framework in "*"), "roles" (10 roles) or "quota" (10 roles, quota, reservations)."""
    alloc = HierarchicalAllocator(AllocatorOptions(seed=1))
    role_of = (lambda f: "*") if layout == "star" else (lambda f: f"r{f % ROLES}")
    for f in range(frameworks):
        alloc.add_framework(f"f{f}", [role_of(f)])
    if layout == "quota":
        share = agents * 2 / ROLES  # each role's fair part of the cluster's CPUs
        for r in range(0, ROLES, 2):
            alloc.update_quota(QuotaConfig(f"r{r}", guarantees={"cpus": share / 4}, limits={"cpus": share, "mem": share * 512}))
    reserved = {r: Resources.parse("cpus:0.5;mem:128", default_role=f"r{r}") for r in range(ROLES)}
    t0 = time.perf_counter()
    for a in range(agents):
        total = AGENT + reserved[a // 10 % ROLES] if layout == "quota" and a % 10 == 0 else AGENT
        f = a % frameworks
        alloc.add_agent(f"a{a}", total, used={f"f{f}": {role_of(f): USED}})
    added = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    offers = alloc.allocate()
    elapsed = time.perf_counter() - t0
    return added, elapsed, len(offers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1000,10000")
    parser.add_argument("--frameworks", default="1,100,1000")
    parser.add_argument("--quota", action="store_true", help="Also the 10-role layout without and with quota and reservations")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Rounds per row, the layouts interleaved so that a noisy neighbour hits them alike")
    args = parser.parse_args()
    layouts = ["star", "roles", "quota"] if args.quota else ["star"]
    print(f"{'agents':>7} {'frameworks':>10} {'layout':>7} {'add agents s':>12} {'round s (median)':>16} "
          f"{'min-max':>11} {'offers':>7} {'Mesos C++ s':>11}")
    for agents in map(int, args.agents.split(",")):
        for frameworks in map(int, args.frameworks.split(",")):
            runs: dict[str, list[tuple[float, float, int]]] = {layout: [] for layout in layouts}
            for _ in range(args.repeat):
                for layout in layouts:
                    runs[layout].append(one_round(agents, frameworks, layout))
            for layout in layouts:
                added = statistics.median(r[0] for r in runs[layout])
                rounds = [r[1] for r in runs[layout]]
                ref = MESOS_REFERENCE_S.get((agents, frameworks)) if layout == "star" else None
                print(f"{agents:>7} {frameworks:>10} {layout:>7} {added:>12.3f} {statistics.median(rounds):>16.3f} "
                      f"{min(rounds):>5.3f}-{max(rounds):.3f} {runs[layout][0][2]:>7} {ref if ref else '-':>11}")


if __name__ == "__main__":
    main()
