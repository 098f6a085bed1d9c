"""Filters of the corral roles: the cluster's ZooKeeper URL from the inventory (the corral_zk
role's `corral_zk_url`, the one place that builds it), and checks of
the values a role renders into a daemon's YAML config, made by that daemon's own flag parsers
(`corral.master.flags`, `corral.agent.flags`, `corral.spark.flags`): a role's preflight accepts
exactly what `corral master` / `corral agent` / `corral spark-dispatcher` accept, and says what
is wrong in the parser's words.

The checks import the runtime (`corral`): from the deploy host's venv when it has it, else
from this repository's runtime/src.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

RUNTIME_SRC = Path(__file__).resolve().parents[2] / "runtime" / "src"
FLAG_TABLES = {
    "master": ("corral.master.flags", "MASTER_FLAGS"),
    "agent": ("corral.agent.flags", "AGENT_FLAGS"),
    "spark-dispatcher": ("corral.spark.flags", "DISPATCHER_FLAGS"),
}


def _runtime(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if str(RUNTIME_SRC) not in sys.path:
            sys.path.append(str(RUNTIME_SRC))
        return importlib.import_module(module)


def _problem(parse: Callable[[Any], Any], value: Any) -> str:
    """'' when `parse` accepts the value, else its message (on one line)."""
    try:
        parse(value)
    except ValueError as exc:
        return _runtime("corral.config").one_line(str(exc))
    return ""


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


def zk_servers(url: Any) -> list[str]:
    """The host:port servers of a zk:// URL, as the runtime parses it; [] when the URL is
    empty or malformed (`flag_problem` says what is wrong with it)."""
    zookeeper = _runtime("corral.leader.zookeeper")
    try:
        return zookeeper.ZooKeeperURL.parse(str(url)).servers if url else []
    except ValueError:
        return []


def flag_problem(value: Any, daemon: str, flag: str) -> str:
    """'' when `corral <daemon> --<flag>` accepts the value as the role renders it into the
    daemon's YAML config (None: not rendered, the default applies), else the parser's message."""
    module, table = FLAG_TABLES[daemon]
    parsers = {f.name: f.parse for f in getattr(_runtime(module), table)}
    return "" if value is None else _problem(parsers[flag], value)


def allocator_problem(value: Any) -> str:
    """'' when `--allocator` names a built-in allocator or has the shape package.module:Class.
    Only the shape: the master imports a user's class, and its module may live on the masters alone."""
    allocator = _runtime("corral.allocator")
    return _problem(lambda spec: allocator.check_allocator_spec(str(spec)), value)


def credentials_problem(value: Any) -> str:
    """'' when the master's `--credentials` file that a role renders from this list of
    {principal, secret} (`{"credentials": value}`) parses. The message names principals and
    positions, never a secret."""
    if not value:
        return ""
    if not isinstance(value, (list, tuple)):
        return "expected a list of {principal: ..., secret: ...}"
    credentials = _runtime("corral.security.credentials")
    return _problem(credentials.credentials_from_json, {"credentials": list(value)})


class FilterModule:
    def filters(self):
        return {
            "corral_zk_url": zk_url,
            "corral_zk_servers": zk_servers,
            "corral_flag_problem": flag_problem,
            "corral_allocator_problem": allocator_problem,
            "corral_credentials_problem": credentials_problem,
        }
