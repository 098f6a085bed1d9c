"""Quota limits and guarantees in the hierarchical allocator (Mesos 1.9 semantics)."""

from __future__ import annotations

import random

import pytest

from corral.allocator.quota import QuotaBook, QuotaConfig, validate_config
from corral.resources import Resources
from support.fakes import FakeClock
from test_allocator import check_invariants, make

R = Resources.parse


def held_by_role(alloc, role):
    total: dict[str, float] = {}
    for fid in list(alloc._frameworks):
        for by_role in alloc.allocation_of(fid).values():
            for r, res in by_role.items():
                if r == role or r.startswith(role + "/"):
                    for name, value in res.scalar_quantities().items():
                        total[name] = total.get(name, 0.0) + value
    return total


def test_a_limit_caps_the_role_and_its_descendants():
    alloc = make()
    for i in range(4):
        alloc.add_agent(f"a{i}", R("cpus:4;mem:4096"))
    alloc.add_framework("dev", ["dev"])
    alloc.add_framework("dev-child", ["dev/batch"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 6}))
    alloc.allocate()
    assert held_by_role(alloc, "dev")["cpus"] == pytest.approx(6)
    assert alloc.consumed_quota("dev")["cpus"] == pytest.approx(6)
    # Nothing more comes, however often the allocator runs.
    assert alloc.allocate() == []
    check_invariants(alloc)


def test_a_limit_shrinks_an_offer_instead_of_skipping_the_agent():
    alloc = make()
    alloc.add_agent("a", R("cpus:4;mem:4096;ports:[31000-31010]"))
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 1.5, "mem": 1000}))
    [offer] = alloc.allocate()
    assert offer.resources.scalar("cpus") == 1.5 and offer.resources.scalar("mem") == 1000
    assert offer.resources.ranges("ports") == ((31000, 31010),)  # not quota'd
    check_invariants(alloc)


def test_a_guarantee_holds_headroom_back_from_a_greedy_role():
    alloc = make(weights={"greedy": 100})
    for i in range(4):
        alloc.add_agent(f"a{i}", R("cpus:2;mem:2048"))
    alloc.add_framework("greedy", ["greedy"])
    alloc.update_quota(QuotaConfig("prod", guarantees={"cpus": 3}))
    alloc.allocate()
    # Without a framework in "prod" the guarantee is still held, as in Mesos.
    assert held_by_role(alloc, "greedy")["cpus"] == pytest.approx(5)
    alloc.add_framework("prod", ["prod"])
    alloc.allocate()
    assert held_by_role(alloc, "prod")["cpus"] == pytest.approx(3)
    check_invariants(alloc)


def test_a_satisfied_guarantee_frees_the_headroom():
    alloc = make()
    alloc.add_agent("a", R("cpus:4;mem:4096"))
    alloc.add_agent("b", R("cpus:4;mem:4096"))
    alloc.add_framework("prod", ["prod"])
    alloc.update_quota(QuotaConfig("prod", guarantees={"cpus": 2}))
    alloc.allocate()
    # prod gets everything (its guarantee plus the surplus above no other guarantee).
    assert held_by_role(alloc, "prod")["cpus"] == pytest.approx(8)
    check_invariants(alloc)


def test_reservations_count_toward_consumption_allocated_or_not_and_are_always_offered():
    alloc = make()
    alloc.add_agent("a", R("cpus(dev):3;cpus:4;mem:1024"))
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 5}))
    assert alloc.consumed_quota("dev") == {"cpus": 3}  # nothing allocated yet (Mesos 1.9)
    [offer] = alloc.allocate()
    assert offer.resources.reserved("dev").scalar("cpus") == 3  # not charged twice: room for 2 more
    assert offer.resources.unreserved().scalar("cpus") == 2
    assert alloc.consumed_quota("dev")["cpus"] == 5
    alloc.recover_resources("f", "a", "dev", offer.resources)
    assert alloc.consumed_quota("dev") == {"cpus": 3}
    alloc.remove_agent("a")
    assert alloc.consumed_quota("dev") == {}


def test_a_role_over_its_limit_by_its_reservations_is_offered_them_and_nothing_else():
    alloc = make()
    alloc.add_agent("a", R("cpus(dev):3;cpus:4;mem:1024"))
    alloc.add_agent("b", R("cpus:4;mem:1024"))
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 2}))
    offers = alloc.allocate()
    assert {o.agent_id: o.resources.scalar("cpus") for o in offers} == {"a": 3, "b": 0}  # (b: its mem alone)
    assert all(o.resources.unreserved().scalar("cpus") == 0 for o in offers)


def test_converted_reservations_move_the_consumption():
    alloc = make()
    alloc.add_agent("a", R("cpus:4;mem:1024"))
    reserved = Resources.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
                                     "reservations": [{"type": "DYNAMIC", "role": "dev"}]}])
    alloc.convert_resources("a", R("cpus:1"), reserved)
    assert alloc.consumed_quota("dev") == {"cpus": 1}
    alloc.convert_resources("a", reserved, R("cpus:1"))
    assert alloc.consumed_quota("dev") == {}


def test_removing_a_quota_lifts_the_limit():
    alloc = make()
    alloc.add_agent("a", R("cpus:4;mem:4096"))
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 1}))
    alloc.allocate()
    alloc.update_quota(QuotaConfig("dev"))
    assert alloc.quotas() == {}
    [more] = alloc.allocate()
    assert more.resources.scalar("cpus") == 3


def test_books_stay_straight_when_agents_and_frameworks_leave():
    rng = random.Random(5)
    alloc = make()
    alloc.update_quota(QuotaConfig("r0", guarantees={"cpus": 4}, limits={"cpus": 10}))
    alloc.update_quota(QuotaConfig("r1", limits={"mem": 8192}))
    for i in range(10):
        alloc.add_agent(f"a{i}", R(f"cpus:{rng.randint(1, 4)};mem:{rng.randint(1, 4) * 1024}"))
    for i in range(6):
        alloc.add_framework(f"f{i}", [f"r{i % 3}", f"r{i % 3}/sub"])
    for step in range(40):
        for a in alloc.allocate():
            keep = a.resources if rng.random() < 0.5 else Resources()
            alloc.recover_resources(a.framework_id, a.agent_id, a.role, a.resources - keep)
        assert held_by_role(alloc, "r0").get("cpus", 0) <= 10 + 1e-9
        assert held_by_role(alloc, "r1").get("mem", 0) <= 8192 + 1e-9
        for role in ("r0", "r1"):
            assert alloc.consumed_quota(role) == pytest.approx({k: v for k, v in held_by_role(alloc, role).items() if v})
        if step % 7 == 3:
            alloc.remove_agent(f"a{step % 10}")
            alloc.add_agent(f"a{step % 10}", R("cpus:2;mem:2048"))
        if step % 11 == 5:
            alloc.remove_framework("f0")
            alloc.add_framework("f0", ["r0", "r0/sub"])
        check_invariants(alloc)


@pytest.mark.parametrize(
    "config, message",
    [
        (QuotaConfig("dev", guarantees={"cpus": 4}, limits={"cpus": 2}), "is not contained within"),
        (QuotaConfig("dev/sub", limits={"cpus": 2}), "nested role 'dev/sub' is not supported"),
        (QuotaConfig("", limits={"cpus": 2}), "Invalid 'QuotaConfig.role'"),
        (QuotaConfig("dev", limits={"cpus": -1}), "QuotaConfig.limits"),
        (QuotaConfig("dev", guarantees={"mem": float("nan")}), "QuotaConfig.guarantees"),
        (QuotaConfig("dev", limits={"mem": 2.0**50}), "larger than"),
    ],
)
def test_invalid_configs_are_named(config, message):
    error = validate_config(config)
    assert error is not None and message in error


def test_quota_on_star_and_a_default_config_are_valid():
    assert validate_config(QuotaConfig("*", limits={"cpus": 1})) is None
    book = QuotaBook()
    book.update(QuotaConfig("dev", limits={"cpus": 1}))
    book.update(QuotaConfig("dev"))
    assert not book


# -- why a framework is not offered (allocator/why.py) ------------------------------------


def reasons_of(alloc, framework_id, role):
    return {r.reason: r for r in alloc.why_not(framework_id)[role]}


def test_why_not_names_each_reason_with_its_figures():
    clock = FakeClock(1000.0)
    alloc = make(clock=clock)
    for agent_id, total in [("full", "cpus:1;mem:512"), ("gpu", "cpus:4;mem:4096;gpus:1"), ("reserved", "cpus(other):2;mem(other):1024"),
                            ("tiny", "cpus:0.001;mem:8"), ("spare", "cpus:2;mem:1024"), ("off", "cpus:2;mem:1024"),
                            ("held", "cpus:2;mem:1024")]:
        alloc.add_agent(agent_id, R(total))
    alloc.deactivate_agent("off")
    alloc.add_framework("hog", ["other"], used={"full": {"other": R("cpus:1;mem:512")}})
    alloc.suppress("hog")
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("dev", limits={"cpus": 2, "mem": 1024}))
    [offer] = alloc.allocate()  # one agent's worth: all the limit allows
    reasons = reasons_of(alloc, "f", "dev")
    assert reasons["AGENT_FULL"].agents == sorted(["full", offer.agent_id])
    assert reasons["GPU_CAPABILITY"].agents == ["gpu"]
    assert reasons["RESERVED_FOR_OTHER_ROLES"].agents == ["reserved"]
    assert reasons["AGENT_INACTIVE"].agents == ["off"]
    assert reasons["BELOW_MIN_ALLOCATABLE"].agents == ["tiny"] and "e.g. cpus:0.001;mem:8 on tiny" in reasons["BELOW_MIN_ALLOCATABLE"].message
    assert len(reasons["QUOTA_LIMIT"].agents) == 1 and "consumes cpus:2;mem:1024 of its limit cpus:2;mem:1024" in reasons["QUOTA_LIMIT"].message
    # Declined with a filter: the limit has room again, the declined agent waits for the filter's end.
    alloc.recover_resources("f", offer.agent_id, "dev", offer.resources, refuse_seconds=600)
    reasons = reasons_of(alloc, "f", "dev")
    assert "QUOTA_LIMIT" not in reasons
    assert reasons["DECLINE_FILTER"].agents == [offer.agent_id] and reasons["DECLINE_FILTER"].until == 1600.0
    assert len(reasons["FAIR_SHARE"].agents) == 1 and "next in line" in reasons["FAIR_SHARE"].message
    assert [r.reason for r in alloc.why_not("hog")["other"]] == ["ROLE_SUPPRESSED"]
    alloc.deactivate_framework("f")
    assert [r.reason for r in alloc.why_not("f")["dev"]] == ["FRAMEWORK_INACTIVE"]


def test_why_not_reports_the_headroom_held_for_guarantees():
    alloc = make()
    alloc.add_agent("a", R("cpus:2;mem:1024"))
    alloc.add_framework("f", ["dev"])
    alloc.update_quota(QuotaConfig("prod", guarantees={"cpus": 2, "mem": 1024}))
    assert alloc.allocate() == []
    [reason] = alloc.why_not("f")["dev"]
    assert reason.reason == "QUOTA_HEADROOM" and "cpus:2;mem:1024 unsatisfied" in reason.message
