"""Quota as Mesos 1.9 has it: per-role guarantees and limits of scalar resources.

A role's *consumption*, as in Mesos 1.9, is what its subtree (the role and its
descendants) has reserved, allocated or not, plus the unreserved resources the
allocator has allocated to it (offered or in use).  A **limit** caps that consumption: an
offer to a role is shrunk so that neither the role nor any ancestor with a
limit goes over (reservations are consumed already).  A **guarantee** is held for the role: the allocator keeps
back enough unreserved resources, cluster-wide, to cover every unsatisfied
guarantee (the *required headroom*), so a greedy role gets only what is left
above it.  Quota on nested roles is refused, as in Mesos (see
`validate_config`), so the roles with guarantees never overlap.

Pure book-keeping; the allocator calls `charge` and `refund` as it tracks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

Quantities = dict[str, float]

# Mesos's ceilings for quota values (quota.cpp): 1 exabyte in MB for mem and disk, 10^12 otherwise.
_EXABYTE_MB = 1024.0**4
_OTHER_MAX = 1e12
_EPSILON = 1e-9


@dataclass(frozen=True)
class QuotaConfig:
    role: str
    guarantees: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        """No guarantee and no limit: the same as having no quota."""
        return not self.guarantees and not self.limits

    @classmethod
    def from_json(cls, data: object, where: str = "quota_config") -> "QuotaConfig":
        """Mesos's JSON QuotaConfig (`{"role", "guarantees": {name: {"value"}}, "limits": ...}`);
        a ValueError names the field.  Values are checked by `validate_config`."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object")
        role = data.get("role")
        if not isinstance(role, str):
            raise ValueError(f"{where}.role: expected a string")
        maps: list[dict[str, float]] = []
        for kind in ("guarantees", "limits"):
            raw = data.get(kind) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{where}.{kind}: expected a map of resource name to {{\"value\": number}}")
            values: dict[str, float] = {}
            for name, scalar in raw.items():
                value = scalar.get("value") if isinstance(scalar, dict) else None
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ValueError(f"{where}.{kind}.{name}: expected {{\"value\": number}}")
                values[name] = float(value)
            maps.append(values)
        return cls(role, maps[0], maps[1])

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"role": self.role}
        if self.guarantees:
            out["guarantees"] = {k: {"value": v} for k, v in sorted(self.guarantees.items())}
        if self.limits:
            out["limits"] = {k: {"value": v} for k, v in sorted(self.limits.items())}
        return out


def validate_config(config: QuotaConfig) -> str | None:
    """Mesos's QuotaConfig checks; the error names the field, or None."""
    from corral.resources import validate_role

    error = validate_role(config.role)
    if error:
        return f"Invalid 'QuotaConfig.role': {error}"
    if "/" in config.role:
        return f"Updating quota on nested role '{config.role}' is not supported yet"
    for kind, values in (("guarantees", config.guarantees), ("limits", config.limits)):
        for name, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                return f"Invalid 'QuotaConfig.{kind}': {{'{name}': {value!r}}} must be a finite number >= 0"
            ceiling = _EXABYTE_MB if name in ("mem", "disk") else _OTHER_MAX
            if value > ceiling:
                return f"Invalid 'QuotaConfig.{kind}': {{'{name}': {value:g}}} is larger than {ceiling:g}"
    for name, guarantee in config.guarantees.items():
        limit = config.limits.get(name)
        if limit is not None and guarantee > limit + _EPSILON:
            return (f"'QuotaConfig.guarantees' {dict(config.guarantees)} is not contained within "
                    f"the 'QuotaConfig.limits' {dict(config.limits)}")
    return None


class QuotaBook:
    """Quota configurations and every role's consumption (its subtree's allocation)."""

    def __init__(self) -> None:
        self.configs: dict[str, QuotaConfig] = {}
        self._consumed: dict[str, Quantities] = {}

    def __bool__(self) -> bool:
        return bool(self.configs)

    def update(self, config: QuotaConfig) -> None:
        if config.is_default:
            self.configs.pop(config.role, None)
        else:
            self.configs[config.role] = config

    # -- consumption ------------------------------------------------------------------

    def charge(self, role: str, quantities: Mapping[str, float]) -> None:
        for path in _self_and_ancestors(role):
            _add(self._consumed.setdefault(path, {}), quantities, 1.0)

    def refund(self, role: str, quantities: Mapping[str, float]) -> None:
        for path in _self_and_ancestors(role):
            have = self._consumed.get(path)
            if have is not None:
                _add(have, quantities, -1.0)
                if not any(v > _EPSILON for v in have.values()):
                    del self._consumed[path]

    def consumed(self, role: str) -> Quantities:
        return {k: round(v, 3) for k, v in self._consumed.get(role, {}).items() if v > _EPSILON}

    # -- what an allocation to a role may hold ------------------------------------------

    def limit_room(self, role: str) -> Quantities | None:
        """How much more the role may consume before it or an ancestor reaches a limit (None: no limit)."""
        room: Quantities | None = None
        for path in _self_and_ancestors(role):
            config = self.configs.get(path)
            if config is None or not config.limits:
                continue
            used = self._consumed.get(path, {})
            room = room if room is not None else {}
            for name, limit in config.limits.items():
                left = max(0.0, limit - used.get(name, 0.0))
                room[name] = min(room.get(name, left), left)
        return room

    def unsatisfied(self, role: str) -> Quantities:
        """What the role (or its guaranteed ancestor) still lacks of its guarantee."""
        for path in _self_and_ancestors(role):
            config = self.configs.get(path)
            if config is not None and config.guarantees:
                return _positive_gap(config.guarantees, self._consumed.get(path, {}))
        return {}

    def required_headroom(self) -> Quantities:
        """Unallocated resources to hold back for all unsatisfied guarantees."""
        out: Quantities = {}
        for role, config in self.configs.items():
            if config.guarantees:
                _add(out, _positive_gap(config.guarantees, self._consumed.get(role, {})), 1.0)
        return out


def total_guarantees(configs: Iterable[QuotaConfig]) -> Quantities:
    out: Quantities = {}
    for config in configs:
        _add(out, config.guarantees, 1.0)
    return out


def exceeds(have: Mapping[str, float], cap: Mapping[str, float]) -> bool:
    """Whether any quantity in `have` is above its cap (a name without a cap is unbounded)."""
    return any(have.get(name, 0.0) > limit + _EPSILON for name, limit in cap.items())


def _self_and_ancestors(role: str) -> Iterable[str]:
    yield role
    while "/" in role:
        role = role.rsplit("/", 1)[0]
        yield role


def _add(into: Quantities, quantities: Mapping[str, float], sign: float) -> None:
    for name, value in quantities.items():
        into[name] = into.get(name, 0.0) + sign * value


def _positive_gap(want: Mapping[str, float], have: Mapping[str, float]) -> Quantities:
    gap = {name: value - have.get(name, 0.0) for name, value in want.items()}
    return {name: value for name, value in gap.items() if value > _EPSILON}
