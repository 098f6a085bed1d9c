"""Filtering what a principal may see (Mesos's view_* ACLs).

Mesos does not refuse `/state` or GET_STATE to a principal with limited
view rights: it leaves out the frameworks, tasks and executors that the
principal may not view.  The object of each decision is a UNIX user: the
task's or executor's `command.user` if set, else the framework's `user`.
These functions take the documents the master builds (legacy `/state`, its parts and
the v1 operator shapes) and return filtered copies.
"""

from __future__ import annotations

from typing import Any

from corral.security.acls import ACLs


class Viewer:
    def __init__(self, acls: ACLs, principal: str | None) -> None:
        self.acls = acls
        self.principal = principal
        self._cache: dict[tuple[str, str | None], bool] = {}

    def may(self, action: str, user: str | None) -> bool:
        key = (action, user)
        if key not in self._cache:
            self._cache[key] = self.acls.allowed(action, self.principal, user)
        return self._cache[key]

    @property
    def filters(self) -> bool:
        return any(self.acls.has_rules(a) for a in ("view_frameworks", "view_tasks", "view_executors", "view_roles"))


def _command_user(info: dict[str, Any] | None) -> str | None:
    if not isinstance(info, dict):
        return None
    user = (info.get("command") or {}).get("user") if isinstance(info.get("command"), dict) else None
    return user if isinstance(user, str) else None


# ------------------------------------------------------------------ legacy /state


def filter_state(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    out = dict(doc)
    out["frameworks"] = [_framework_state(f, viewer) for f in doc.get("frameworks", []) if viewer.may("view_frameworks", f.get("user"))]
    out["completed_frameworks"] = [
        _framework_state(f, viewer) for f in doc.get("completed_frameworks", []) if viewer.may("view_frameworks", f.get("user"))
    ]
    return out


def filter_tasks(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """`/master/tasks`: each task carries the user it runs as."""
    return {**doc, "tasks": [t for t in doc.get("tasks", []) if viewer.may("view_tasks", t.get("user"))]}


def _framework_state(fw: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    out = dict(fw)
    user = fw.get("user")
    for key in ("tasks", "completed_tasks", "unreachable_tasks", "queued_tasks"):
        if key in fw:
            out[key] = [t for t in fw[key] if viewer.may("view_tasks", t.get("user") or user)]
    if "executors" in fw:
        out["executors"] = [e for e in fw["executors"] if viewer.may("view_executors", _command_user(e) or user)]
    if "completed_executors" in fw:
        out["completed_executors"] = [e for e in fw["completed_executors"] if viewer.may("view_executors", _command_user(e) or user)]
    return out


def filter_roles(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    return {**doc, "roles": [r for r in doc.get("roles", []) if viewer.acls.allowed("view_roles", viewer.principal, r.get("name"))]}


# ------------------------------------------------------------------ v1 operator API


def framework_users(get_frameworks: dict[str, Any]) -> dict[str, str | None]:
    users: dict[str, str | None] = {}
    for key in ("frameworks", "completed_frameworks"):
        for fw in get_frameworks.get(key, []):
            info = fw.get("framework_info") or {}
            fid = (info.get("id") or {}).get("value")
            if fid:
                users[fid] = info.get("user")
    return users


def filter_get_frameworks(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    out = dict(doc)
    for key in ("frameworks", "completed_frameworks"):
        out[key] = [f for f in doc.get(key, []) if viewer.may("view_frameworks", (f.get("framework_info") or {}).get("user"))]
    return out


def filter_get_tasks(doc: dict[str, Any], viewer: Viewer, users: dict[str, str | None]) -> dict[str, Any]:
    out = dict(doc)
    for key in ("tasks", "pending_tasks", "completed_tasks", "unreachable_tasks", "orphan_tasks"):
        if key in doc:
            out[key] = [t for t in doc[key] if viewer.may("view_tasks", t.get("user") or users.get((t.get("framework_id") or {}).get("value")))]
    return out


def filter_get_executors(doc: dict[str, Any], viewer: Viewer, users: dict[str, str | None]) -> dict[str, Any]:
    def user(e: dict[str, Any]) -> str | None:
        info = e.get("executor_info") or {}
        return _command_user(info) or users.get((info.get("framework_id") or {}).get("value"))

    return {**doc, "executors": [e for e in doc.get("executors", []) if viewer.may("view_executors", user(e))]}


def filter_get_state(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    users = framework_users(doc.get("get_frameworks", {}))
    out = dict(doc)
    out["get_frameworks"] = filter_get_frameworks(doc.get("get_frameworks", {}), viewer)
    out["get_tasks"] = filter_get_tasks(doc.get("get_tasks", {}), viewer, users)
    out["get_executors"] = filter_get_executors(doc.get("get_executors", {}), viewer, users)
    return out


def filter_get_roles(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    return {**doc, "roles": [r for r in doc.get("roles", []) if viewer.acls.allowed("view_roles", viewer.principal, r.get("name"))]}


def filter_weights(doc: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    return {**doc, "weight_infos": [w for w in doc.get("weight_infos", []) if viewer.acls.allowed("view_roles", viewer.principal, w.get("role"))]}
