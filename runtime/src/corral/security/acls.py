"""Mesos's local authorizer: ACLs from a JSON file.

    {"permissive": false,
     "register_frameworks": [{"principals": {"values": ["spark"]}, "roles": {"values": ["analytics"]}}],
     "run_tasks":           [{"principals": {"type": "ANY"},       "users": {"values": ["nobody"]}}],
     "teardown_frameworks": [{"principals": {"values": ["ops"]},   "framework_principals": {"type": "ANY"}}]}

Each action lists rules in order; a rule is a subject entity (`principals`)
and an object entity (named per action).  An entity is `{"values": [...]}`,
`{"type": "ANY"}` or `{"type": "NONE"}`.  The first rule whose subject and
object both *match* the request decides, by whether both *allow* it (Mesos's
match and allow matrices); when no rule matches, `permissive` (default true)
decides.  A request without an authenticated principal, or without a
specific object, is the entity ANY.  Role objects are hierarchical: the value
`eng/%` stands for every role below `eng`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

# action -> the name of its object entity
ACTIONS: dict[str, str] = {
    "register_frameworks": "roles",
    "run_tasks": "users",
    "teardown_frameworks": "framework_principals",
    "reserve_resources": "roles",
    "unreserve_resources": "reserver_principals",
    "create_volumes": "roles",
    "destroy_volumes": "creator_principals",
    "resize_volumes": "roles",
    "get_quotas": "roles",
    "update_quotas": "roles",
    "view_roles": "roles",
    "update_weights": "roles",
    "get_endpoints": "paths",
    "view_frameworks": "users",
    "view_tasks": "users",
    "view_executors": "users",
    "access_sandboxes": "users",
    "access_mesos_logs": "logs",
    "view_flags": "flags",
    "set_log_level": "levels",
    "register_agents": "agents",
    "mark_agents_gone": "agents",
    "drain_agents": "agents",
    "deactivate_agents": "agents",
    "reactivate_agents": "agents",
    "get_maintenance_windows": "machines",
    "update_maintenance_schedules": "machines",
    "start_maintenances": "machines",
    "stop_maintenances": "machines",
    "get_maintenance_statuses": "machines",
    "view_resource_providers": "resource_providers",
}
ROLE_ACTIONS = {a for a, o in ACTIONS.items() if o == "roles"}

SOME, ANY, NONE = "SOME", "ANY", "NONE"


class ACLError(ValueError):
    pass


@dataclass(frozen=True)
class Entity:
    type: str
    values: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: Any, where: str) -> "Entity":
        if not isinstance(data, dict):
            raise ACLError(f"{where}: expected an entity object ({{\"values\": [...]}} or {{\"type\": \"ANY\"}})")
        unknown = set(data) - {"type", "values"}
        if unknown:
            raise ACLError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        kind = data.get("type")
        values = data.get("values")
        if values is not None:
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ACLError(f"{where}.values: expected a list of strings")
            if kind not in (None, SOME):
                raise ACLError(f"{where}: 'values' cannot be combined with type {kind}")
            return cls(SOME, tuple(values))
        if kind in (ANY, NONE):
            return cls(kind)
        raise ACLError(f"{where}: expected 'values' or type ANY/NONE (got {kind!r})")


@dataclass(frozen=True)
class Rule:
    subjects: Entity
    objects: Entity


def _request(value: str | None) -> Entity:
    return Entity(ANY) if value is None else Entity(SOME, (value,))


def _contains(acl: Entity, value: str, hierarchical: bool) -> bool:
    for allowed in acl.values:
        if allowed == value:
            return True
        if hierarchical and allowed.endswith("/%") and value.startswith(allowed[:-1]) and len(value) > len(allowed) - 1:
            return True
    return False


def _matches(request: Entity, acl: Entity, hierarchical: bool = False) -> bool:
    if request.type == NONE:
        return acl.type == NONE
    if request.type == ANY:
        return acl.type in (ANY, NONE)
    if acl.type in (ANY, NONE):
        return True
    return all(_contains(acl, v, hierarchical) for v in request.values)


def _allows(request: Entity, acl: Entity, hierarchical: bool = False) -> bool:
    if request.type == NONE:
        return acl.type == NONE
    if request.type == ANY:
        return acl.type == ANY
    if acl.type == ANY:
        return True
    if acl.type == NONE:
        return False
    return all(_contains(acl, v, hierarchical) for v in request.values)


class ACLs:
    """Authorization decisions; `ACLs()` (no file) allows everything."""

    def __init__(self, rules: dict[str, list[Rule]] | None = None, permissive: bool = True, source: str = "") -> None:
        self.rules = rules or {}
        self.permissive = permissive
        self.source = source  # the path or inline JSON it was loaded from (what /flags shows)

    def __str__(self) -> str:
        return self.source

    @property
    def configured(self) -> bool:
        return bool(self.rules) or not self.permissive

    def allowed(self, action: str, principal: str | None, obj: str | None = None) -> bool:
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action}")
        subject, target = _request(principal), _request(obj)
        hierarchical = action in ROLE_ACTIONS
        for rule in self.rules.get(action, ()):
            if _matches(subject, rule.subjects) and _matches(target, rule.objects, hierarchical):
                return _allows(subject, rule.subjects) and _allows(target, rule.objects, hierarchical)
        return self.permissive

    def allowed_all(self, action: str, principal: str | None, objects: Iterable[str | None]) -> str | None:
        """The first object the principal may not act on, or None if all are allowed."""
        for obj in objects:
            if not self.allowed(action, principal, obj):
                return obj if obj is not None else "ANY"
        return None

    def has_rules(self, action: str) -> bool:
        """Whether `action` can ever be refused (so callers can skip filtering)."""
        return bool(self.rules.get(action)) or not self.permissive


def parse_acls(data: Any, where: str = "acls") -> ACLs:
    if not isinstance(data, dict):
        raise ACLError(f"{where}: expected a JSON object of action: [rules]")
    permissive = data.get("permissive", True)
    if not isinstance(permissive, bool):
        raise ACLError(f"{where}.permissive: expected true or false")
    rules: dict[str, list[Rule]] = {}
    for action, entries in data.items():
        if action == "permissive":
            continue
        if action not in ACTIONS:
            raise ACLError(f"{where}: unknown action '{action}' (known: {', '.join(sorted(ACTIONS))})")
        if not isinstance(entries, list):
            raise ACLError(f"{where}.{action}: expected a list of rules")
        object_key = ACTIONS[action]
        parsed = []
        for i, entry in enumerate(entries):
            here = f"{where}.{action}[{i}]"
            if not isinstance(entry, dict):
                raise ACLError(f"{here}: expected an object")
            unknown = set(entry) - {"principals", object_key}
            if unknown:
                raise ACLError(f"{here}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (expected 'principals' and '{object_key}')")
            if "principals" not in entry or object_key not in entry:
                raise ACLError(f"{here}: needs 'principals' and '{object_key}'")
            parsed.append(Rule(Entity.parse(entry["principals"], f"{here}.principals"), Entity.parse(entry[object_key], f"{here}.{object_key}")))
        rules[action] = parsed
    return ACLs(rules, permissive)


def load_acls(spec: str) -> ACLs:
    """From a path, a `file://` URL or inline JSON (as Mesos's `--acls` accepts)."""
    text = spec.strip()
    where = "--acls"
    if not text.startswith("{"):
        path = text.removeprefix("file://")
        where = path
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ACLError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ACLError(f"{where}: not valid JSON: {exc}") from None
    acls = parse_acls(data, where)
    acls.source = spec
    return acls
