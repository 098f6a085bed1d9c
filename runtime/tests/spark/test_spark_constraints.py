"""spark.mesos.constraints parsing and matching (Spark's MesosSchedulerUtils semantics)."""

from __future__ import annotations

import pytest

from corral.attributes import Attributes
from corral.spark.constraints import ConstraintError, format_constraints, matches, parse_constraints


def attrs(text: str) -> list[dict]:
    return Attributes.parse(text).to_json()


def test_parse() -> None:
    assert parse_constraints("os:debian;rack:r1,r2;gpu") == {
        "os": frozenset({"debian"}), "rack": frozenset({"r1", "r2"}), "gpu": frozenset()}
    assert parse_constraints(" os : debian ; ") == {"os": frozenset({"debian"})}
    assert parse_constraints("") == {}
    assert format_constraints(parse_constraints("rack:r2,r1;gpu")) == "gpu;rack:r1,r2"


@pytest.mark.parametrize("text, fragment", [
    ("os:debian;os:ubuntu", "given twice"),
    (":debian", "attribute name"),
    ("rack:r1,,r2", "empty value"),
    ("rack:r 1", "letters, digits"),
])
def test_bad_constraints_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ConstraintError, match=fragment) as err:
        parse_constraints(text)
    assert "spark.mesos.constraints" in str(err.value)


def test_text_set_scalar_range_and_presence() -> None:
    agent = attrs("os:debian;rack:r1;cores:8;zones:{a,b};slots:[10-20]")
    assert matches(parse_constraints("os:debian;rack:r1,r2"), agent)
    assert not matches(parse_constraints("rack:r2,r3"), agent)
    assert matches(parse_constraints("cores:4"), agent)  # some listed value <= the agent's
    assert not matches(parse_constraints("cores:16"), agent)
    assert matches(parse_constraints("zones:a"), agent)
    assert not matches(parse_constraints("zones:a,c"), agent)
    assert matches(parse_constraints("slots:15"), agent)
    assert not matches(parse_constraints("slots:25"), agent)
    assert matches(parse_constraints("zones"), agent)  # presence
    assert not matches(parse_constraints("gpu"), agent)
    assert matches({}, [])
