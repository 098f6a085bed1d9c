import re

import pytest

from corral.resources import Reservation, ResourceError, Resources, parse_min_allocatable, subtract_ranges


def test_parse_text_form_with_reservations_ranges_and_sets():
    r = Resources.parse("cpus:4;mem:8192;cpus(ads):2;ports:[31000-32000];zones:{a,b}")
    assert r.scalar("cpus") == 6
    assert r.get("cpus") == 4.0
    assert r.get("cpus", Reservation("ads")) == 2.0
    assert r.ranges("ports") == ((31000, 32000),)
    assert r.get("zones") == frozenset({"a", "b"})
    assert r.reservation_roles() == {"ads"}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("cpus", "cannot parse 'cpus'"),
        ("cpus:four", "'four' is not a number"),
        ("cpus:-1", ">= 0"),
        ("ports:[5-1]", "begin > end"),
        ("ports:[1-2", "unterminated"),
        ("cpus(/bad):1", "must not start or end with '/'"),
        ("mem:1;mem:[1-2]", "two different types"),
        ("[{]", "invalid JSON"),
    ],
)
def test_bad_resource_strings_name_the_problem(text, fragment):
    with pytest.raises(ResourceError, match="resources") as err:
        Resources.parse(text)
    assert fragment in str(err.value)


def test_json_round_trip_and_validation():
    r = Resources.parse("cpus:1.5;ports:[1-3,7-9];cpus(ads):2")
    data = r.to_json(allocation_role="ads")
    assert {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "role": "*", "allocation_info": {"role": "ads"}} in data
    assert Resources.from_json(data) == r
    with pytest.raises(ResourceError, match=r"resources\[0\].scalar.value"):
        Resources.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": "x"}}])
    with pytest.raises(ResourceError, match=r"resources\[0\].type"):
        Resources.from_json([{"name": "cpus", "type": "TEXT"}])


def test_arithmetic_and_containment():
    total = Resources.parse("cpus:4;mem:4096;ports:[31000-31009]")
    task = Resources.parse("cpus:2;mem:1024;ports:[31002-31003]")
    left = total - task
    assert left == Resources.parse("cpus:2;mem:3072;ports:[31000-31001,31004-31009]")
    assert total.contains(task) and not task.contains(total)
    assert left + task == total
    assert (Resources.parse("cpus:0.1") + Resources.parse("cpus:0.2")).scalar("cpus") == 0.3


def test_subtract_ranges_cases():
    assert subtract_ranges(((1, 10),), ((3, 4), (8, 20))) == ((1, 2), (5, 7))
    assert subtract_ranges(((1, 2), (5, 6)), ((0, 100),)) == ()


def test_allocatable_to_includes_ancestor_reservations():
    r = Resources.parse("cpus:1;cpus(eng):2;cpus(ops):4")
    assert r.allocatable_to("eng/backend").scalar("cpus") == 3
    assert r.allocatable_to("dev").scalar("cpus") == 1


def test_min_allocatable_alternatives():
    alts = parse_min_allocatable("cpus:0.01|mem:32")
    assert [a.to_text() for a in alts] == ["cpus:0.01", "mem:32"]


def test_legacy_dict_for_state():
    d = Resources.parse("cpus:2;mem:512;ports:[1-2,5-5]").legacy_dict()
    assert d == {"cpus": 2.0, "mem": 512.0, "disk": 0.0, "gpus": 0.0, "ports": "[1-2, 5-5]"}


def test_a_refined_reservation_stack_round_trips_and_pops():
    from corral.master import reservations

    data = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2},
             "reservations": [{"type": "STATIC", "role": "eng"},
                              {"type": "DYNAMIC", "role": "eng/ads", "principal": "ops", "labels": {"labels": [{"key": "k", "value": "v"}]}}]}]
    refined = Resources.from_json(data)
    assert refined.to_json(refinement=True)[0]["reservations"] == data[0]["reservations"]
    assert refined.reservation_roles() == {"eng/ads"}
    assert refined.pop_reservation() == Resources.parse("cpus(eng):2")
    # RESERVE pushes onto what is there, UNRESERVE pops it back.
    have = Resources.parse("cpus(eng):3;mem:64")
    source, converted = reservations.reserve(refined, have, "eng/ads", "ops")
    assert (source, converted) == (Resources.parse("cpus(eng):2"), refined)
    assert reservations.unreserve(refined, have - source + converted) == (refined, source)


@pytest.mark.parametrize("reservations_json, message", [
    ([{"type": "DYNAMIC", "role": "eng"}, {"type": "DYNAMIC", "role": "dev"}], "must be a descendant of the role it refines"),
    ([{"type": "STATIC", "role": "eng"}, {"type": "STATIC", "role": "eng/a"}], "a refined reservation must be DYNAMIC"),
    ([{"type": "DYNAMIC", "role": "*"}], "cannot reserve to *"),
])
def test_bad_reservation_stacks_are_named(reservations_json, message):
    with pytest.raises(ResourceError, match=re.escape(message)):
        Resources.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "reservations": reservations_json}])


@pytest.mark.parametrize("request_text, role, principal, message", [
    ("cpus(dev):1", "dev", None, "does not carry a DYNAMIC reservation"),
    ("cpus:1", "dev", None, "does not carry a DYNAMIC reservation"),
])
def test_invalid_reserve_operations_are_named(request_text, role, principal, message):
    from corral.master import reservations

    with pytest.raises(ValueError, match=message):
        reservations.reserve(Resources.parse(request_text), Resources.parse("cpus:4"), role, principal)


def test_reserve_checks_role_principal_and_availability():
    from corral.master import reservations

    dynamic = Resources.from_json([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
                                    "reservations": [{"type": "DYNAMIC", "role": "dev", "principal": "p"}]}])
    with pytest.raises(ValueError, match="allocated to role 'ads'"):
        reservations.reserve(dynamic, Resources.parse("cpus:4"), "ads", "p")
    with pytest.raises(ValueError, match="principal 'p' is not the principal that reserves \\('q'\\)"):
        reservations.reserve(dynamic, Resources.parse("cpus:4"), "dev", "q")
    with pytest.raises(ValueError, match="is not available"):
        reservations.reserve(dynamic, Resources.parse("cpus:0.5"), "dev", "p")
    with pytest.raises(ValueError, match="is not dynamically reserved"):
        reservations.unreserve(Resources.parse("cpus(dev):1"), Resources.parse("cpus(dev):1"))
