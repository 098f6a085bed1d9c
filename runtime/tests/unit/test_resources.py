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
