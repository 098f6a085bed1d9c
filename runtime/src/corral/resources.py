"""Mesos-style resources: parsing, arithmetic and the JSON wire form.

A `Resources` value maps `(name, reservation, volume)` to an amount.  The
amount is a float for SCALAR resources, a tuple of disjoint, sorted `(begin,
end)` pairs for RANGES and a frozenset for SET.  `reservation` is None for
unreserved resources, else the `Reservation` (role, type, principal) they are
reserved to.  `volume` is None except for a persistent volume (reserved disk
with a DiskInfo): a volume is used whole, never split (`contains` wants it all).

Scalars are kept at Mesos's fixed-point precision (three decimals) so that
repeated additions and subtractions do not drift.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Union

RangeList = tuple[tuple[int, int], ...]
Amount = Union[float, RangeList, frozenset]

UNRESERVED_ROLE = "*"
# Mesos's default for --min_allocatable_resources: any one alternative suffices.
DEFAULT_MIN_ALLOCATABLE = "cpus:0.01|mem:32"


class ResourceError(ValueError):
    """A resource string or JSON resource that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """The top of a resource's reservation stack; `parent` is the one it refines (Mesos's
    reservation refinement: each a reservation for a descendant role of the one below)."""

    role: str
    type: str = "STATIC"  # STATIC | DYNAMIC
    principal: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    parent: "Reservation | None" = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "role": self.role}
        if self.principal:
            out["principal"] = self.principal
        if self.labels:
            out["labels"] = {"labels": [{"key": k, "value": v} for k, v in self.labels]}
        return out

    def stack(self) -> list["Reservation"]:
        """Bottom first, as the `reservations` field lists them."""
        return (self.parent.stack() if self.parent else []) + [self]


@dataclass(frozen=True, slots=True)
class Volume:
    """A persistent volume's DiskInfo: its `persistence` id and principal, and where tasks see it."""

    persistence_id: str
    container_path: str
    principal: str | None = None
    mode: str = "RW"

    def to_json(self) -> dict[str, Any]:
        persistence: dict[str, Any] = {"id": self.persistence_id}
        if self.principal:
            persistence["principal"] = self.principal
        return {"persistence": persistence, "volume": {"container_path": self.container_path, "mode": self.mode}}


Key = tuple[str, Union[Reservation, None], Union[Volume, None]]


def _round(value: float) -> float:
    return round(value, 3)


# --------------------------------------------------------------------------- ranges


def normalize_ranges(ranges: Iterable[tuple[int, int]]) -> RangeList:
    """Sort and merge overlapping or adjacent ranges."""
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def subtract_ranges(left: RangeList, right: RangeList) -> RangeList:
    out: list[tuple[int, int]] = []
    j = 0
    for begin, end in left:
        cur = begin
        while j < len(right) and right[j][1] < cur:
            j += 1
        k = j
        while k < len(right) and right[k][0] <= end:
            rb, re_ = right[k]
            if rb > cur:
                out.append((cur, rb - 1))
            cur = max(cur, re_ + 1)
            if cur > end:
                break
            k += 1
        if cur <= end:
            out.append((cur, end))
    return tuple(out)


def ranges_contain(outer: RangeList, inner: RangeList) -> bool:
    return not subtract_ranges(inner, outer)


def format_ranges(ranges: RangeList) -> str:
    return "[" + ", ".join(f"{b}-{e}" for b, e in ranges) + "]"


# --------------------------------------------------------------------------- value


class Resources:
    """An immutable-by-convention bag of resources with Mesos arithmetic."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[Key, Amount] | None = None) -> None:
        self._items: dict[Key, Amount] = {}
        if items:
            for key, amount in items.items():
                if not _is_empty_amount(amount):
                    self._items[key] = amount

    # -- construction -------------------------------------------------------

    @classmethod
    def parse(cls, text: str, default_role: str = UNRESERVED_ROLE) -> "Resources":
        """Parse Mesos's text form (`cpus:4;mem:1024;cpus(ads):2;ports:[1-9]`) or a JSON list."""
        text = text.strip()
        if not text:
            return cls()
        if text.startswith("["):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ResourceError(f"resources: invalid JSON: {exc}") from None
            return cls.from_json(data)
        out: dict[Key, Amount] = {}
        for token in text.split(";"):
            token = token.strip()
            if not token:
                continue
            key, amount = _parse_token(token, default_role)
            out[key] = _add_amount(out.get(key), amount, f"resources: '{token}'")
        return cls(out)

    @classmethod
    def from_json(cls, data: Any, where: str = "resources") -> "Resources":
        """Build from Mesos's JSON `[Resource]`; raises ResourceError naming the field."""
        if not isinstance(data, list):
            raise ResourceError(f"{where}: expected a list of resources")
        out: dict[Key, Amount] = {}
        for i, item in enumerate(data):
            key, amount = _resource_from_json(item, f"{where}[{i}]")
            out[key] = _add_amount(out.get(key), amount, f"{where}[{i}]")
        return cls(out)

    @classmethod
    def scalars(cls, **amounts: float) -> "Resources":
        return cls({(name, None, None): _round(float(v)) for name, v in amounts.items()})

    # -- queries --------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self._items)

    def is_empty(self) -> bool:
        return not self._items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and self._items == other._items

    def __hash__(self) -> int:  # pragma: no cover - resources are not dict keys
        raise TypeError("Resources is not hashable")

    def __repr__(self) -> str:
        return f"Resources({self.to_text()!r})"

    def __str__(self) -> str:
        return self.to_text()

    def items(self) -> Iterator[tuple[Key, Amount]]:
        return iter(self._items.items())

    def names(self) -> set[str]:
        return {key[0] for key in self._items}

    def get(self, name: str, reservation: Reservation | None = None, volume: Volume | None = None) -> Amount | None:
        return self._items.get((name, reservation, volume))

    def scalar(self, name: str) -> float:
        """Total of a scalar resource across all reservations."""
        total = 0.0
        for (n, _, _), amount in self._items.items():
            if n == name and isinstance(amount, float):
                total += amount
        return _round(total)

    def scalar_quantities(self) -> dict[str, float]:
        """Scalar totals by name, reservations merged (what DRF shares are made of)."""
        out: dict[str, float] = {}
        for (name, _, _), amount in self._items.items():
            if isinstance(amount, float):
                out[name] = out.get(name, 0.0) + amount
        return out

    def ranges(self, name: str) -> RangeList:
        merged: list[tuple[int, int]] = []
        for (n, _, _), amount in self._items.items():
            if n == name and isinstance(amount, tuple):
                merged.extend(amount)
        return normalize_ranges(merged)

    def reservation_roles(self) -> set[str]:
        return {r.role for (_, r, _) in self._items if r is not None}

    def contains(self, other: "Resources") -> bool:
        items = self._items
        for key, need in other._items.items():
            have = items.get(key)
            if have is None:
                return False
            if isinstance(need, float):
                if not isinstance(have, float) or have + 1e-9 < need:
                    return False
                if key[2] is not None and have - 1e-9 > need:
                    return False  # a volume is used whole
            elif isinstance(need, tuple):
                if not isinstance(have, tuple) or not ranges_contain(have, need):
                    return False
            elif not isinstance(have, frozenset) or not need <= have:
                return False
        return True

    # -- filtering ------------------------------------------------------------

    def is_unreserved(self) -> bool:
        for key in self._items:
            if key[1] is not None:
                return False
        return True

    def has_unreserved(self) -> bool:
        for key in self._items:
            if key[1] is None:
                return True
        return False

    def unreserved(self) -> "Resources":
        if self.is_unreserved():
            return self
        return Resources({k: v for k, v in self._items.items() if k[1] is None})

    def reserved(self, role: str | None = None) -> "Resources":
        if role is None:
            return Resources({k: v for k, v in self._items.items() if k[1] is not None})
        return Resources({k: v for k, v in self._items.items() if k[1] is not None and k[1].role == role})

    def allocatable_to(self, role: str) -> "Resources":
        """Unreserved resources plus those reserved to `role` or one of its ancestors."""
        if self.is_unreserved():
            return self
        return Resources({k: v for k, v in self._items.items() if k[1] is None or is_same_or_ancestor(k[1].role, role)})

    def shrink(self, caps: Mapping[str, float], only_unreserved: bool = False) -> "Resources":
        """At most `caps[name]` of each capped scalar, reserved items kept first; the rest unchanged.

        `only_unreserved`: the caps bound the unreserved items alone (reservations pass untouched).
        """
        left = dict(caps)
        out: dict[Key, Amount] = {}
        for key, amount in sorted(self._items.items(), key=lambda item: item[0][1] is None):
            name = key[0]
            if isinstance(amount, float) and name in left and not (only_unreserved and key[1] is not None):
                take = min(amount, max(0.0, left[name]))
                left[name] -= take
                amount = _round(take)
            out[key] = amount
        return Resources(out)

    def pop_reservation(self) -> "Resources":
        """Each item with its top reservation removed: unreserved, or back to the one it refined."""
        out: dict[Key, Amount] = {}
        for (name, reservation, volume), amount in self._items.items():
            key = (name, reservation.parent if reservation is not None else None, volume)
            out[key] = _add_amount(out.get(key), amount, name)
        return Resources(out)

    def volumes(self) -> "Resources":
        """The persistent volumes alone."""
        return Resources({k: v for k, v in self._items.items() if k[2] is not None})

    def without_volumes(self) -> "Resources":
        """Each persistent volume back to the plain reserved disk it was created on."""
        out: dict[Key, Amount] = {}
        for (name, reservation, _), amount in self._items.items():
            key = (name, reservation, None)
            out[key] = _add_amount(out.get(key), amount, name)
        return Resources(out)

    # -- arithmetic -----------------------------------------------------------

    def __add__(self, other: "Resources") -> "Resources":
        if not other._items:
            return self
        if not self._items:
            return other
        out = dict(self._items)
        for key, amount in other._items.items():
            out[key] = _add_amount(out.get(key), amount, key[0])
        return Resources(out)

    def __sub__(self, other: "Resources") -> "Resources":
        if not other._items:
            return self
        if other is self:
            return Resources()
        out = dict(self._items)
        for key, amount in other._items.items():
            have = out.get(key)
            if have is None:
                continue
            left = _sub_amount(have, amount)
            if _is_empty_amount(left):
                del out[key]
            else:
                out[key] = left
        return Resources(out)

    # -- output ---------------------------------------------------------------

    def to_json(self, allocation_role: str | None = None, refinement: bool | None = None) -> list[dict[str, Any]]:
        """Mesos's JSON `[Resource]`.

        `refinement`: True gives the post-refinement format (a `reservations`
        stack, no `role`), False the pre-refinement one (`role`, plus
        `reservation` for dynamic reservations) that frameworks without the
        RESERVATION_REFINEMENT capability expect, None both (the format of
        Mesos's endpoints).
        """
        out = []
        for (name, reservation, volume), amount in sorted(self._items.items(), key=_sort_key):
            res: dict[str, Any] = {"name": name}
            if isinstance(amount, float):
                res["type"] = "SCALAR"
                res["scalar"] = {"value": amount}
            elif isinstance(amount, tuple):
                res["type"] = "RANGES"
                res["ranges"] = {"range": [{"begin": b, "end": e} for b, e in amount]}
            else:
                res["type"] = "SET"
                res["set"] = {"item": sorted(amount)}
            if refinement is not True:
                res["role"] = UNRESERVED_ROLE if reservation is None else reservation.role
                if reservation is not None and reservation.type == "DYNAMIC":
                    res["reservation"] = {"principal": reservation.principal} if reservation.principal else {}
            if refinement is not False and reservation is not None:
                res["reservations"] = [r.to_json() for r in reservation.stack()]
            if volume is not None:
                res["disk"] = volume.to_json()
            if allocation_role is not None:
                res["allocation_info"] = {"role": allocation_role}
            out.append(res)
        return out

    def to_text(self) -> str:
        parts = []
        for (name, reservation, volume), amount in sorted(self._items.items(), key=_sort_key):
            label = name if reservation is None else f"{name}({reservation.role})"
            if volume is not None:
                label += f"[{volume.persistence_id}:{volume.container_path}]"
            if isinstance(amount, float):
                parts.append(f"{label}:{_fmt_scalar(amount)}")
            elif isinstance(amount, tuple):
                parts.append(f"{label}:{format_ranges(amount).replace(', ', ',')}")
            else:
                parts.append(f"{label}:{{{','.join(sorted(amount))}}}")
        return ";".join(parts)

    def legacy_dict(self) -> dict[str, Any]:
        """The `{"cpus": 2.0, "ports": "[31000-32000]"}` form of Mesos's /state."""
        out: dict[str, Any] = {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
        for name, value in self.scalar_quantities().items():
            out[name] = _round(value)
        for name in {n for (n, _, _), a in self._items.items() if isinstance(a, tuple)}:
            out[name] = format_ranges(self.ranges(name))
        for (name, _, _), amount in self._items.items():
            if isinstance(amount, frozenset):
                out[name] = "{" + ",".join(sorted(amount)) + "}"
        return out


def _base(key: Key) -> Key:
    """The key as the agent's flags give it: no volume, no dynamic reservation (down to the static
    one, or unreserved)."""
    name, reservation, _ = key
    while reservation is not None and reservation.type == "DYNAMIC":
        reservation = reservation.parent
    return (name, reservation, None)


def with_checkpointed(total: Resources, checkpointed: Resources) -> Resources:
    """`total` with its dynamic reservations and volumes replaced by `checkpointed` (what the master
    last asked this agent to checkpoint).  What the total cannot hold (its flags changed) is left out."""
    out = Resources()
    for key, amount in total.items():
        out = out + Resources({_base(key): amount})
    for key, amount in checkpointed.items():
        source, reserved = Resources({_base(key): amount}), Resources({key: amount})
        if out.contains(source):
            out = out - source + reserved
    return out


def checkpointed_part(resources: Resources) -> Resources:
    """What the master changed of an agent's flags: its dynamic reservations and persistent volumes,
    which the agent checkpoints and advertises again after a restart."""
    return Resources({k: v for k, v in resources.items() if _base(k) != k})


def safe_resources(data: Any) -> Resources:
    """Resources from their JSON form, or none if that form is invalid (for data already accepted once)."""
    try:
        return Resources.from_json(data)
    except ResourceError:
        return Resources()


# --------------------------------------------------------------------------- roles


def is_same_or_ancestor(ancestor: str, role: str) -> bool:
    return role == ancestor or role.startswith(ancestor + "/")


_ROLE_COMPONENT = re.compile(r"^[^/\s\x00-\x1f\x7f]+$")


def validate_role(role: str) -> str | None:
    """Mesos's role name rules; returns an error message or None."""
    if role == UNRESERVED_ROLE:
        return None
    if not role:
        return "role name must not be empty"
    if role.startswith("/") or role.endswith("/"):
        return f"role '{role}' must not start or end with '/'"
    for part in role.split("/"):
        if part in (".", "..", "*") or part.startswith("-") or not _ROLE_COMPONENT.match(part):
            return f"role '{role}' has an invalid component '{part}'"
    return None


# --------------------------------------------------------------------------- helpers


def _sort_key(item: tuple[Key, Amount]) -> tuple[str, str, str]:
    (name, reservation, volume), _ = item
    return (name, "" if reservation is None else reservation.role, "" if volume is None else volume.persistence_id)


def _fmt_scalar(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _is_empty_amount(amount: Amount) -> bool:
    if isinstance(amount, float):
        return amount <= 0.0
    return not amount


def _add_amount(have: Amount | None, add: Amount, where: str) -> Amount:
    if have is None:
        return add
    if isinstance(have, float) and isinstance(add, float):
        return _round(have + add)
    if isinstance(have, tuple) and isinstance(add, tuple):
        return normalize_ranges(have + add)
    if isinstance(have, frozenset) and isinstance(add, frozenset):
        return have | add
    raise ResourceError(f"{where}: resource given with two different types")


def _sub_amount(have: Amount, sub: Amount) -> Amount:
    if isinstance(have, float) and isinstance(sub, float):
        return _round(max(0.0, have - sub))
    if isinstance(have, tuple) and isinstance(sub, tuple):
        return subtract_ranges(have, sub)
    if isinstance(have, frozenset) and isinstance(sub, frozenset):
        return have - sub
    return have


_TOKEN = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(?:\(([^)]*)\))?\s*:\s*(.+?)\s*$")


def _parse_token(token: str, default_role: str) -> tuple[Key, Amount]:
    m = _TOKEN.match(token)
    if not m:
        raise ResourceError(f"resources: cannot parse '{token}' (expected name:value, name(role):value)")
    name, role, value = m.group(1), m.group(2), m.group(3)
    role = (role.strip() if role is not None else default_role) or UNRESERVED_ROLE
    err = validate_role(role)
    if err:
        raise ResourceError(f"resources: '{token}': {err}")
    reservation = None if role == UNRESERVED_ROLE else Reservation(role)
    amount: Amount
    if value.startswith("["):
        try:
            amount = parse_ranges(value)
        except ResourceError as exc:
            raise ResourceError(f"resources: '{token}': {exc}") from None
    elif value.startswith("{"):
        if not value.endswith("}"):
            raise ResourceError(f"resources: '{token}': unterminated set")
        items = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        if not items:
            raise ResourceError(f"resources: '{token}': empty set")
        amount = frozenset(items)
    else:
        try:
            number = float(value)
        except ValueError:
            raise ResourceError(f"resources: '{token}': '{value}' is not a number, a [range] or a {{set}}") from None
        if not math.isfinite(number) or number < 0:
            raise ResourceError(f"resources: '{token}': amount must be a finite number >= 0")
        amount = _round(number)
    return (name, reservation, None), amount


def parse_ranges(value: str) -> RangeList:
    """`[31000-32000, 8080]` → ((8080, 8080), (31000, 32000)); raises ResourceError saying what is wrong."""
    if not value.startswith("[") or not value.endswith("]"):
        raise ResourceError("unterminated range list")
    ranges = []
    for part in value[1:-1].split(","):
        part = part.strip()
        if not part:
            continue
        bounds = part.split("-")
        try:
            if len(bounds) == 1:
                begin = end = int(bounds[0])
            elif len(bounds) == 2:
                begin, end = int(bounds[0]), int(bounds[1])
            else:
                raise ValueError
        except ValueError:
            raise ResourceError(f"bad range '{part}' (expected begin-end)") from None
        if begin > end or begin < 0:
            raise ResourceError(f"range '{part}' has begin > end or a negative bound")
        ranges.append((begin, end))
    if not ranges:
        raise ResourceError("empty range list")
    return normalize_ranges(ranges)


def _resource_from_json(item: Any, where: str) -> tuple[Key, Amount]:
    if not isinstance(item, dict):
        raise ResourceError(f"{where}: expected an object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ResourceError(f"{where}.name: required, a non-empty string")
    rtype = item.get("type")
    amount: Amount
    if rtype == "SCALAR":
        value = (item.get("scalar") or {}).get("value") if isinstance(item.get("scalar"), dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise ResourceError(f"{where}.scalar.value: required, a finite number >= 0")
        amount = _round(float(value))
    elif rtype == "RANGES":
        ranges = item.get("ranges")
        rlist = ranges.get("range") if isinstance(ranges, dict) else None
        if not isinstance(rlist, list):
            raise ResourceError(f"{where}.ranges.range: required, a list of {{begin, end}}")
        pairs = []
        for j, r in enumerate(rlist):
            b, e = (r.get("begin"), r.get("end")) if isinstance(r, dict) else (None, None)
            if not isinstance(b, int) or not isinstance(e, int) or b > e or b < 0:
                raise ResourceError(f"{where}.ranges.range[{j}]: begin and end must be integers with 0 <= begin <= end")
            pairs.append((b, e))
        amount = normalize_ranges(pairs)
    elif rtype == "SET":
        s = item.get("set")
        items = s.get("item") if isinstance(s, dict) else None
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise ResourceError(f"{where}.set.item: required, a list of strings")
        amount = frozenset(items)
    else:
        raise ResourceError(f"{where}.type: must be SCALAR, RANGES or SET (got {rtype!r})")
    reservation = _reservation_from_json(item, where)
    return (name, reservation, _volume_from_json(item, name, reservation, where)), amount


def _reservation_from_json(item: dict[str, Any], where: str) -> Reservation | None:
    reservations = item.get("reservations")
    if reservations:
        if not isinstance(reservations, list):
            raise ResourceError(f"{where}.reservations: expected a list of reservation objects")
        top: Reservation | None = None
        for i, entry in enumerate(reservations):
            top = _one_reservation(entry, top, f"{where}.reservations[{i}]")
        return top
    role = item.get("role", UNRESERVED_ROLE)
    if not isinstance(role, str):
        raise ResourceError(f"{where}.role: expected a string")
    err = validate_role(role)
    if err:
        raise ResourceError(f"{where}.role: {err}")
    if role == UNRESERVED_ROLE:
        return None
    principal = (item.get("reservation") or {}).get("principal") if isinstance(item.get("reservation"), dict) else None
    return Reservation(role, "DYNAMIC" if "reservation" in item else "STATIC", principal)


def _one_reservation(entry: Any, below: Reservation | None, where: str) -> Reservation:
    if not isinstance(entry, dict):
        raise ResourceError(f"{where}: expected a reservation object")
    role = entry.get("role")
    if not isinstance(role, str):
        raise ResourceError(f"{where}.role: required, a string")
    rtype = entry.get("type", "DYNAMIC" if entry.get("principal") else "STATIC")
    if rtype not in ("STATIC", "DYNAMIC"):
        raise ResourceError(f"{where}.type: must be STATIC or DYNAMIC")
    err = validate_role(role)
    if err or role == UNRESERVED_ROLE:
        raise ResourceError(f"{where}.role: {err or 'cannot reserve to *'}")
    if below is not None:
        if rtype != "DYNAMIC":
            raise ResourceError(f"{where}.type: a refined reservation must be DYNAMIC")
        if role == below.role or not is_same_or_ancestor(below.role, role):
            raise ResourceError(f"{where}.role: '{role}' must be a descendant of the role it refines ('{below.role}')")
    principal = entry.get("principal")
    if principal is not None and not isinstance(principal, str):
        raise ResourceError(f"{where}.principal: expected a string")
    raw_labels = (entry.get("labels") or {}).get("labels", []) if isinstance(entry.get("labels"), dict) else []
    if not isinstance(raw_labels, list) or not all(isinstance(x, dict) and isinstance(x.get("key"), str) for x in raw_labels):
        raise ResourceError(f"{where}.labels.labels: expected a list of {{key, value}}")
    labels = tuple((x["key"], str(x.get("value", ""))) for x in raw_labels)
    return Reservation(role, rtype, principal, labels, below)


def _volume_from_json(item: dict[str, Any], name: str, reservation: Reservation | None, where: str) -> Volume | None:
    """A persistent volume's DiskInfo, checked as Mesos checks it (validateDiskInfo)."""
    disk = item.get("disk")
    if disk is None:
        return None
    if not isinstance(disk, dict):
        raise ResourceError(f"{where}.disk: expected a DiskInfo object")
    if name != "disk":
        raise ResourceError(f"{where}.disk: DiskInfo is set on a '{name}' resource, not on disk")
    if "source" in disk:
        raise ResourceError(f"{where}.disk.source: disk sources (MOUNT, PATH, resource providers) are not supported")
    persistence, volume = disk.get("persistence"), disk.get("volume")
    if persistence is None:
        if volume is not None:
            raise ResourceError(f"{where}.disk: Non-persistent volume not supported")
        raise ResourceError(f"{where}.disk: DiskInfo is set but empty")
    if reservation is None:
        raise ResourceError(f"{where}.disk: Persistent volumes cannot be created from unreserved resources")
    pid = persistence.get("id") if isinstance(persistence, dict) else None
    if not isinstance(pid, str) or not _VALID_ID.match(pid) or pid in (".", ".."):
        raise ResourceError(f"{where}.disk.persistence.id: Invalid persistence ID for persistent volume: {pid!r} "
                            "(letters, digits, '.', '_' and '-' only)")
    principal = persistence.get("principal")
    if principal is not None and not isinstance(principal, str):
        raise ResourceError(f"{where}.disk.persistence.principal: expected a string")
    if not isinstance(volume, dict):
        raise ResourceError(f"{where}.disk.volume: Expecting 'volume' to be set for persistent volume")
    if "host_path" in volume:
        raise ResourceError(f"{where}.disk.volume: Expecting 'host_path' to be unset for persistent volume")
    path, mode = volume.get("container_path"), volume.get("mode", "RW")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
        raise ResourceError(f"{where}.disk.volume.container_path: required, a relative path inside the sandbox "
                            f"(got {path!r})")
    if mode not in ("RW", "RO"):
        raise ResourceError(f"{where}.disk.volume.mode: must be RW or RO (got {mode!r})")
    return Volume(pid, path, principal, mode)


_VALID_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def parse_min_allocatable(text: str) -> list[Resources]:
    """`cpus:0.01|mem:32` → alternatives; an offer must hold one of them fully."""
    return [Resources.parse(alt) for alt in text.split("|") if alt.strip()]
