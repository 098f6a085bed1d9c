"""Pure allocator tests: no event loop, no sockets, an injected clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from corral.allocator import AllocatorOptions, load_allocator_class
from corral.allocator.hierarchical import HierarchicalAllocator, PriorityAllocator
from corral.allocator.sorter import DRFSorter
from corral.resources import Resources
from support.fakes import FakeClock

R = Resources.parse


def make(cls=HierarchicalAllocator, weights=None, clock=None, **kw):
    return cls(AllocatorOptions(weights=weights or {}, seed=7, **kw), clock or FakeClock(1000.0))


def check_invariants(alloc: HierarchicalAllocator) -> None:
    """available + everything allocated on an agent == its total."""
    for agent_id, agent in alloc._agents.items():
        held = Resources()
        for fw in alloc._frameworks.values():
            for res in fw.allocations.get(agent_id, {}).values():
                held = held + res
        assert (agent.available + held).scalar_quantities() == pytest.approx(agent.total.scalar_quantities())


def run_tasks(alloc, demands, rounds=200):
    """Frameworks accept one task per offer (if it fits) and decline the rest.

    A framework whose task does not fit declines with a long filter, so the
    simulation ends when nobody can place another task.
    """
    launched = {fid: 0 for fid in demands}
    for _ in range(rounds):
        allocations = alloc.allocate()
        if not allocations:
            break
        for a in allocations:
            need = demands[a.framework_id]
            if a.resources.contains(need):
                launched[a.framework_id] += 1
                alloc.recover_resources(a.framework_id, a.agent_id, a.role, a.resources - need, refuse_seconds=0)
            else:
                alloc.recover_resources(a.framework_id, a.agent_id, a.role, a.resources, refuse_seconds=3600)
        check_invariants(alloc)
    return launched


def test_drf_paper_example():
    # 9 CPUs, 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPU, 1 GB>.
    alloc = make(min_allocatable=[])
    alloc.add_agent("a1", R("cpus:9;mem:18432"))
    alloc.add_framework("A", ["*"])
    alloc.add_framework("B", ["*"])
    launched = run_tasks(alloc, {"A": R("cpus:1;mem:4096"), "B": R("cpus:3;mem:1024")})
    assert launched == {"A": 3, "B": 2}


def test_seed_example_remainder_goes_to_the_second_framework():
    # Agent 4 CPU/4 GB; framework 1 launches <2,1GB> and <1,2GB>; <1,1GB> is offered to framework 2.
    clock = FakeClock(1000.0)
    alloc = make(clock=clock)
    alloc.add_agent("agent1", R("cpus:4;mem:4096"))
    alloc.add_framework("fw1", ["*"])
    alloc.add_framework("fw2", ["*"])
    alloc.deactivate_framework("fw2")
    [first] = alloc.allocate()
    assert (first.framework_id, first.resources) == ("fw1", R("cpus:4;mem:4096"))
    alloc.activate_framework("fw2")
    used = R("cpus:2;mem:1024") + R("cpus:1;mem:2048")
    alloc.recover_resources("fw1", "agent1", "*", first.resources - used, refuse_seconds=5)
    [second] = alloc.allocate()
    assert (second.framework_id, second.resources) == ("fw2", R("cpus:1;mem:1024"))
    check_invariants(alloc)


def test_weights_scale_shares():
    alloc = make(weights={"ads": 2, "dev": 1}, min_allocatable=[])
    for i in range(3):
        alloc.add_agent(f"a{i}", R("cpus:4;mem:4096"))
    alloc.add_framework("f-ads", ["ads"])
    alloc.add_framework("f-dev", ["dev"])
    launched = run_tasks(alloc, {"f-ads": R("cpus:1;mem:1"), "f-dev": R("cpus:1;mem:1")})
    assert launched == {"f-ads": 8, "f-dev": 4}


def test_hierarchical_roles_share_at_each_level():
    # eng/{backend,frontend} together get as much as ops.
    alloc = make(min_allocatable=[])
    for i in range(4):
        alloc.add_agent(f"a{i}", R("cpus:4;mem:4096"))
    for fid, role in [("be", "eng/backend"), ("fe", "eng/frontend"), ("ops", "ops")]:
        alloc.add_framework(fid, [role])
    one = R("cpus:1;mem:1")
    launched = run_tasks(alloc, {"be": one, "fe": one, "ops": one})
    assert launched == {"be": 4, "fe": 4, "ops": 8}
    shares = {r.role: r.share for r in alloc.roles()}
    assert shares["eng/backend"] == pytest.approx(0.25)
    assert shares["ops"] == pytest.approx(0.5)


def test_role_and_its_child_compete_through_a_virtual_leaf():
    s = DRFSorter()
    s.add_total({"cpus": 10})
    for client in ("eng", "eng/backend", "ops"):
        s.add(client)
        s.activate(client)
    s.allocated("eng", {"cpus": 3})
    s.allocated("ops", {"cpus": 2})
    assert list(s.sort()) == ["ops", "eng/backend", "eng"]
    s.remove("eng/backend")
    assert list(s.sort()) == ["ops", "eng"]
    assert s.allocation("eng") == {"cpus": 3}


def test_static_reservations_go_only_to_their_role_and_descendants():
    alloc = make()
    alloc.add_agent("a1", R("cpus:1;mem:512;cpus(ads):2;mem(ads):512"))
    alloc.add_framework("dev", ["dev"])
    [a] = alloc.allocate()
    assert a.framework_id == "dev" and a.resources == R("cpus:1;mem:512")
    alloc.add_framework("ads-child", ["ads/video"])
    [b] = alloc.allocate()
    assert b.framework_id == "ads-child" and b.role == "ads/video"
    assert b.resources == R("cpus(ads):2;mem(ads):512")
    check_invariants(alloc)


def test_unreserved_and_reserved_split_between_roles_in_order():
    # dev sorts first (ads already uses something), takes the unreserved part;
    # the reservation then goes to ads through the restricted second walk.
    alloc = make()
    alloc.add_framework("dev", ["dev"])
    alloc.add_framework("ads", ["ads"])
    alloc.add_agent("a0", R("cpus:1;mem:64"), used={"ads": {"ads": R("cpus:1;mem:64")}})
    alloc.add_agent("a1", R("cpus:2;mem:256;cpus(ads):2;mem(ads):256"))
    got = {a.framework_id: a.resources for a in alloc.allocate(["a1"])}
    assert got == {"dev": R("cpus:2;mem:256"), "ads": R("cpus(ads):2;mem(ads):256")}


def test_refuse_seconds_filter_expires_with_the_clock():
    clock = FakeClock(1000.0)
    alloc = make(clock=clock)
    alloc.add_agent("a1", R("cpus:2;mem:1024"))
    alloc.add_framework("f", ["*"])
    [a] = alloc.allocate()
    alloc.recover_resources("f", "a1", "*", a.resources, refuse_seconds=5)
    assert alloc.allocate() == []
    clock.now += 4.9
    assert alloc.allocate() == []
    clock.now += 0.2
    assert [x.framework_id for x in alloc.allocate()] == ["f"]


def test_filter_only_covers_what_was_refused():
    alloc = make()
    alloc.add_agent("a1", R("cpus:1;mem:512"))
    alloc.add_framework("f", ["*"])
    [a] = alloc.allocate()
    alloc.recover_resources("f", "a1", "*", a.resources, refuse_seconds=60)
    alloc.update_agent("a1", R("cpus:2;mem:512"))  # more appears: no longer a subset of the refusal
    [b] = alloc.allocate()
    assert b.resources == R("cpus:2;mem:512")


def test_declined_offer_goes_to_the_next_framework():
    alloc = make()
    alloc.add_agent("a1", R("cpus:2;mem:1024"))
    alloc.add_framework("f1", ["*"])
    alloc.add_framework("f2", ["*"])
    [a] = alloc.allocate()
    alloc.recover_resources(a.framework_id, "a1", "*", a.resources, refuse_seconds=5)
    [b] = alloc.allocate()
    assert b.framework_id != a.framework_id


def test_suppress_and_revive():
    alloc = make()
    alloc.add_agent("a1", R("cpus:2;mem:1024"))
    alloc.add_framework("f", ["*"])
    alloc.suppress("f")
    assert alloc.allocate() == []
    alloc.revive("f")
    assert len(alloc.allocate()) == 1


def test_revive_clears_filters():
    alloc = make()
    alloc.add_agent("a1", R("cpus:2;mem:1024"))
    alloc.add_framework("f", ["*"])
    [a] = alloc.allocate()
    alloc.recover_resources("f", "a1", "*", a.resources, refuse_seconds=3600)
    assert alloc.allocate() == []
    alloc.revive("f", ["*"])
    assert len(alloc.allocate()) == 1


def test_multi_role_framework_gets_offers_per_role():
    alloc = make()
    alloc.add_agent("a1", R("cpus:1;mem:512;cpus(b):1;mem(b):512"))
    alloc.add_framework("f", ["a", "b"])
    got = {a.role: a.resources for a in alloc.allocate()}
    assert got["b"].reserved("b") == R("cpus(b):1;mem(b):512")
    assert set(got) == {"a", "b"}


def test_min_allocatable_resources():
    alloc = make(min_allocatable=[R("cpus:1;mem:64")])
    alloc.add_agent("a1", R("cpus:0.5;mem:1024"))
    alloc.add_framework("f", ["*"])
    assert alloc.allocate() == []
    alloc.update_agent("a1", R("cpus:1;mem:1024"))
    assert len(alloc.allocate()) == 1


def test_priority_allocator_serves_the_heavier_role_first():
    alloc = make(PriorityAllocator, weights={"prod": 10, "batch": 1}, min_allocatable=[])
    for i in range(3):
        alloc.add_agent(f"a{i}", R("cpus:2;mem:2048"))
    alloc.add_framework("batch", ["batch"])
    alloc.add_framework("prod", ["prod"])
    launched = run_tasks(alloc, {"prod": R("cpus:1;mem:1"), "batch": R("cpus:1;mem:1")})
    assert launched == {"prod": 6, "batch": 0}


def test_used_resources_of_known_frameworks_count_against_shares():
    alloc = make()
    alloc.add_framework("busy", ["*"])
    alloc.add_framework("idle", ["*"])
    alloc.add_agent("a1", R("cpus:4;mem:4096"), used={"busy": {"*": R("cpus:3;mem:3072")}})
    [a] = alloc.allocate()
    assert a.framework_id == "idle" and a.resources == R("cpus:1;mem:1024")


def test_remove_framework_and_agent_keep_books_straight():
    alloc = make()
    alloc.add_agent("a1", R("cpus:2;mem:1024"))
    alloc.add_agent("a2", R("cpus:2;mem:1024"))
    alloc.add_framework("f", ["*"])
    alloc.allocate()
    alloc.remove_framework("f")
    assert alloc.available("a1") == R("cpus:2;mem:1024")
    alloc.add_framework("g", ["*"])
    assert len(alloc.allocate()) == 2
    alloc.remove_agent("a2")
    check_invariants(alloc)
    assert alloc.allocation_of("g").keys() == {"a1"}


def test_load_allocator_class_errors():
    assert load_allocator_class("drf") is HierarchicalAllocator
    assert load_allocator_class("corral.allocator.hierarchical:PriorityAllocator") is PriorityAllocator
    with pytest.raises(ValueError, match=r"must be drf, priority or package.module:Class \(got 'fair'\)"):
        load_allocator_class("fair")
    with pytest.raises(ValueError, match="cannot import module"):
        load_allocator_class("no.such.module:X")
    with pytest.raises(ValueError, match="not a subclass"):
        load_allocator_class("corral.resources:Resources")


# -- the incremental sorter agrees with a brute-force sort ---------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "alloc", "unalloc", "total", "deact", "weights"]),
        st.sampled_from(["a", "b", "a/x", "a/y", "c/d/e", "c", "b/z"]),
        st.integers(1, 5),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_sorter_order_matches_brute_force(operations):
    s = DRFSorter()
    s.add_total({"cpus": 20, "mem": 100})
    alloc: dict[str, dict[str, float]] = {}
    weights: dict[str, float] = {}
    active: set[str] = set()
    for op, client, n in operations:
        if op == "add" and client not in alloc:
            s.add(client)
            s.activate(client)
            alloc[client] = {}
            active.add(client)
        elif op == "remove" and client in alloc:
            s.remove(client)
            del alloc[client]
            active.discard(client)
        elif op == "alloc" and client in alloc:
            q = {"cpus": n * 0.5, "mem": n * 3}
            s.allocated(client, q)
            for k, v in q.items():
                alloc[client][k] = alloc[client].get(k, 0) + v
        elif op == "unalloc" and client in alloc and alloc[client]:
            q = dict(alloc[client])
            s.unallocated(client, q)
            alloc[client] = {}
        elif op == "total":
            s.add_total({"cpus": n})
        elif op == "deact" and client in active:
            s.deactivate(client)
            active.discard(client)
        elif op == "weights":
            weights[client] = float(n)
            s.update_weights(weights)
        assert list(s.sort()) == brute_force_order(s, alloc, weights, active)


def brute_force_order(s, alloc, weights, active):
    total = s._total

    def share(q):
        return max([v / total[k] for k, v in q.items() if total.get(k)] or [0.0])

    def subtree(path):
        agg: dict[str, float] = {}
        for c, q in alloc.items():
            if c == path or c.startswith(path + "/"):
                for k, v in q.items():
                    agg[k] = agg.get(k, 0) + v
        return agg

    def walk(prefix):
        names = set()
        for c in alloc:
            if prefix == "" or c.startswith(prefix + "/"):
                rest = c[len(prefix) + 1 :] if prefix else c
                names.add(rest.split("/")[0])
        entries = []
        for name in names:
            path = f"{prefix}/{name}" if prefix else name
            has_children = any(c.startswith(path + "/") for c in alloc)
            entries.append((share(subtree(path)) / weights.get(path, 1.0), name, path, has_children))
        if prefix and prefix in alloc:  # the virtual leaf of a client with descendants
            entries.append((share(alloc[prefix]) / weights.get(prefix, 1.0), ".", prefix, False))
        out = []
        for _, _, path, has_children in sorted(entries, key=lambda e: (e[0], e[1])):
            if has_children:
                out.extend(walk(path))
            elif path in active:
                out.append(path)
        return out

    return walk("")


def test_random_workload_keeps_invariants():
    rng = random.Random(3)
    clock = FakeClock(1000.0)
    alloc = make(clock=clock, weights={"r1": 2})
    for i in range(20):
        alloc.add_agent(f"a{i}", R(f"cpus:{rng.randint(1, 8)};mem:{rng.randint(1, 8) * 512};cpus(r2):1"))
    for i in range(6):
        alloc.add_framework(f"f{i}", [f"r{i % 3}"])
    for _ in range(50):
        for a in alloc.allocate():
            keep = a.resources if rng.random() < 0.3 else Resources()
            alloc.recover_resources(a.framework_id, a.agent_id, a.role, a.resources - keep, refuse_seconds=rng.choice([0, 1, 5]))
        clock.now += 1
        if rng.random() < 0.2:
            fid = f"f{rng.randrange(6)}"
            for agent_id, by_role in alloc.allocation_of(fid).items():
                for role, res in by_role.items():
                    alloc.recover_resources(fid, agent_id, role, res)
        check_invariants(alloc)


def test_only_gpu_aware_frameworks_are_offered_anything_of_a_gpu_agent():
    alloc = make()
    alloc.add_agent("gpu", R("cpus:4;mem:4096;gpus:2"))
    alloc.add_agent("plain", R("cpus:4;mem:4096"))
    alloc.add_framework("default", ["*"])
    alloc.add_framework("gpu-aware", ["*"], capabilities=["MULTI_ROLE", "GPU_RESOURCES"])
    got = {(a.framework_id, a.agent_id) for a in alloc.allocate()}
    assert ("default", "gpu") not in got and ("gpu-aware", "gpu") in got
    assert {a for _, a in got} == {"gpu", "plain"}
    check_invariants(alloc)


def test_a_framework_that_gains_gpu_resources_on_failover_sees_gpu_agents():
    alloc = make()
    alloc.add_agent("gpu", R("cpus:4;mem:4096;gpus:1"))
    alloc.add_framework("f", ["*"])
    assert alloc.allocate() == []
    alloc.update_framework("f", ["*"], capabilities=["GPU_RESOURCES"])
    [allocation] = alloc.allocate()
    assert allocation.resources.scalar("gpus") == 1
    check_invariants(alloc)
