"""One full allocation round of the DRF allocator, in process.

Mirrors Mesos's HierarchicalAllocator_BENCHMARK_Test.AddAndUpdateSlave set-up:
frameworks in role "*", agents with `cpus:2;mem:1024;disk:4096;ports:[31000-32000]`,
each agent with a slice (`cpus:1;mem:128;disk:1024;ports:[...]`) already used by
one framework, round-robin.  Times adding the agents and one `allocate()` over
all of them, and prints a table.

Peer: Mesos's C++ allocator takes about 1.06 s per round at 10,000 agents x
1,000 frameworks (its published benchmark); Corral's target there is < 0.5 s.

    python runtime/benchmarks/allocator_round.py [--agents 1000,10000] [--frameworks 1,100,1000]
"""

from __future__ import annotations

import argparse
import gc
import time

from corral.allocator import AllocatorOptions
from corral.allocator.hierarchical import HierarchicalAllocator
from corral.resources import Resources

AGENT = Resources.parse("cpus:2;mem:1024;disk:4096;ports:[31000-32000]")
USED = Resources.parse("cpus:1;mem:128;disk:1024;ports:[31126-31510,31512-31623,31810-31852,31854-31964]")
MESOS_REFERENCE_S = {(10_000, 1_000): 1.06}


def one_round(agents: int, frameworks: int) -> tuple[float, float, int]:
    alloc = HierarchicalAllocator(AllocatorOptions(seed=1))
    for f in range(frameworks):
        alloc.add_framework(f"f{f}", ["*"])
    t0 = time.perf_counter()
    for a in range(agents):
        alloc.add_agent(f"a{a}", AGENT, used={f"f{a % frameworks}": {"*": USED}})
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
    args = parser.parse_args()
    print(f"{'agents':>7} {'frameworks':>10} {'add agents s':>12} {'round s':>8} {'offers':>7} {'Mesos C++ s':>11}")
    for agents in map(int, args.agents.split(",")):
        for frameworks in map(int, args.frameworks.split(",")):
            added, elapsed, offers = one_round(agents, frameworks)
            ref = MESOS_REFERENCE_S.get((agents, frameworks))
            print(f"{agents:>7} {frameworks:>10} {added:>12.3f} {elapsed:>8.3f} {offers:>7} {ref if ref else '-':>11}")


if __name__ == "__main__":
    main()
