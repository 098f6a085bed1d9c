"""Attribute constraints in `spark.mesos.constraints` syntax, matched against offers.

`os:debian;rack:r1,r2;gpu` means: the agent's `os` attribute is `debian`, its
`rack` is `r1` or `r2`, and it has a `gpu` attribute (any value).  As in Spark's
MesosSchedulerUtils: a TEXT attribute matches when its value is one of those
listed, a SCALAR one when some listed number is <= its value, a RANGES one when
some listed integer lies in a range, a SET one when the listed values are a
subset of it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from corral.attributes import Attributes

Constraints = dict[str, frozenset[str]]

_LABEL = re.compile(r"^[A-Za-z0-9_/.\-]+$")


class ConstraintError(ValueError):
    pass


def parse_constraints(text: str, where: str = "spark.mesos.constraints") -> Constraints:
    """Parse `name:v1,v2;name2:v3;name3` (whitespace around parts is ignored)."""
    out: Constraints = {}
    if text is None:
        return out
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, values = part.partition(":")
        name = name.strip()
        if not name or not _LABEL.match(name):
            raise ConstraintError(f"{where}: '{part}' does not start with an attribute name (letters, digits, _ / . -)")
        if name in out:
            raise ConstraintError(f"{where}: attribute '{name}' is given twice")
        items = [v.strip() for v in values.split(",")] if sep else []
        if sep and values.strip() and any(not v for v in items):
            raise ConstraintError(f"{where}: '{part}' has an empty value in its list")
        for value in items:
            if value and not _LABEL.match(value):
                raise ConstraintError(f"{where}: value '{value}' of '{name}' may only hold letters, digits, _ / . -")
        out[name] = frozenset(v for v in items if v)
    return out


def format_constraints(constraints: Mapping[str, Iterable[str]]) -> str:
    return ";".join(f"{k}:{','.join(sorted(v))}" if v else k for k, v in sorted(constraints.items()))


def attribute_map(attributes: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Mesos JSON attributes (`[{"name", "type", "text"|"scalar"|"ranges"|"set"}]`) by name."""
    return {a["name"]: a for a in attributes if isinstance(a, Mapping) and "name" in a}


def matches(constraints: Constraints, attributes: Iterable[Mapping[str, Any]]) -> bool:
    if not constraints:
        return True
    by_name = attribute_map(attributes)
    return all(_matches_one(values, by_name.get(name)) for name, values in constraints.items())


def _matches_one(required: frozenset[str], attribute: Mapping[str, Any] | None) -> bool:
    if attribute is None:
        return False
    if not required:
        return True
    kind = attribute.get("type")
    if kind == "TEXT":
        return (attribute.get("text") or {}).get("value") in required
    if kind == "SCALAR":
        value = (attribute.get("scalar") or {}).get("value")
        return value is not None and any(_number(v) is not None and _number(v) <= value for v in required)
    if kind == "RANGES":
        ranges = (attribute.get("ranges") or {}).get("range") or []
        wanted = [int(v) for v in required if v.lstrip("-").isdigit()]
        return any(r.get("begin", 0) <= w <= r.get("end", -1) for w in wanted for r in ranges)
    if kind == "SET":
        return required <= set((attribute.get("set") or {}).get("item") or [])
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def describe_attributes(attributes: Iterable[Mapping[str, Any]]) -> str:
    """`rack=r1,os=debian` for messages (each value written by `corral.attributes`)."""
    texts = Attributes.from_json(attributes).texts()
    return ",".join(f"{name}={value}" for name, value in texts.items()) or "no attributes"
