"""Filters of the corral_master and corral_agent roles: the cluster's ZooKeeper URL from the
inventory, and checks of daemon flag values with the runtime's own parsers (so that a role's
preflight accepts exactly what `corral master` / `corral agent` accept).

The checks import the runtime (`corral.resources`, `corral.config`): from the deploy host's
venv when it has it, else from this repository's runtime/src.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

RUNTIME_SRC = Path(__file__).resolve().parents[2] / "runtime" / "src"


def _runtime():
    try:
        import corral.config  # noqa: F401
        import corral.resources  # noqa: F401
    except ImportError:
        if str(RUNTIME_SRC) not in sys.path:
            sys.path.append(str(RUNTIME_SRC))
        import corral.config  # noqa: F401
        import corral.resources  # noqa: F401
    return sys.modules["corral.config"], sys.modules["corral.resources"]


def zk_url(servers: Iterable[Mapping[str, Any]], path: str = "/corral", default_port: int = 2181) -> str:
    """`zk://a:2181,b:2181/corral` from the zookeeper group's hostvars (each server's
    zookeeper_address, else ansible_host, else its inventory name; zookeeper_client_port);
    '' when the group is empty (masters then run alone, the embedded default)."""
    hosts = []
    for hv in servers:
        address = hv.get("zookeeper_address") or hv.get("ansible_host") or hv.get("inventory_hostname")
        port = hv.get("zookeeper_client_port") or default_port
        hosts.append(f"{address}:{int(port)}")
    if not hosts:
        return ""
    return "zk://" + ",".join(hosts) + "/" + str(path).strip("/")


def resources_problem(text: Any) -> str:
    """'' when `corral agent --resources` accepts the string, else the runtime's message."""
    if text is None or str(text).strip() == "":
        return ""
    _, resources = _runtime()
    try:
        resources.Resources.parse(str(text))
    except ValueError as exc:
        return str(exc)
    return ""


def _flag_problem(parser_name: str, value: Any) -> str:
    config, _ = _runtime()
    try:
        getattr(config, parser_name)(value)
    except ValueError as exc:
        return str(exc)
    return ""


def attributes_problem(value: Any) -> str:
    """'' when `--attributes` accepts the value (`rack:r1;os:debian` or a mapping)."""
    return _flag_problem("as_attributes", value if value is not None else "")


def weights_problem(value: Any) -> str:
    """'' when `--weights` accepts the value (`ads=2,dev=1` or a mapping of role: weight)."""
    return _flag_problem("as_weights", value if value is not None else "")


def roles_problem(value: Any) -> str:
    """'' when `--roles` accepts the value (a list of role names or `a,b`)."""
    return _flag_problem("as_roles", list(value) if isinstance(value, (list, tuple)) else value)


def duration_problem(value: Any) -> str:
    """'' when a duration flag accepts the value (`10`, `500ms`, `2mins`)."""
    return _flag_problem("as_duration", value)


def acls_problem(value: Any) -> str:
    """'' when `--acls` accepts the mapping (Mesos's ACL JSON), else the runtime's message."""
    if not value:
        return ""
    _runtime()
    from corral.security.acls import ACLError, parse_acls

    try:
        parse_acls(value, "ACLs")
    except ACLError as exc:
        return str(exc)
    return ""


def credentials_problem(value: Any) -> str:
    """'' when the value is a list of {principal, secret} that the master's `--credentials`
    accepts. The message names principals and positions, never a secret."""
    if not isinstance(value, (list, tuple)):
        return "expected a list of {principal: ..., secret: ...}"
    seen = set()
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping) or set(entry) != {"principal", "secret"}:
            return f"entry {i}: expected exactly the keys principal and secret"
        principal, secret = entry["principal"], entry["secret"]
        if not isinstance(principal, str) or not principal.strip() or any(c.isspace() for c in principal):
            return f"entry {i}: the principal must be a non-empty word"
        if not isinstance(secret, str) or not secret:
            return f"entry {i} ({principal}): the secret must be a non-empty string"
        if principal in seen:
            return f"entry {i}: principal {principal} is listed twice"
        seen.add(principal)
    return ""


class FilterModule:
    def filters(self):
        return {
            "corral_zk_url": zk_url,
            "corral_resources_problem": resources_problem,
            "corral_attributes_problem": attributes_problem,
            "corral_weights_problem": weights_problem,
            "corral_roles_problem": roles_problem,
            "corral_duration_problem": duration_problem,
            "corral_acls_problem": acls_problem,
            "corral_credentials_problem": credentials_problem,
        }
