"""`corral quota`: show and set roles' quota (GET_QUOTA / UPDATE_QUOTA).

    corral quota                                       every role's guarantees, limits and consumption
    corral quota ROLE --limits 'cpus:8;mem:16384' [--guarantees cpus:2] [--force]
    corral quota ROLE --remove                         back to no guarantee and no limit
"""

from __future__ import annotations

import json
from typing import Any

import click

from corral.cli import api
from corral.cli.inspect import _table, json_option, master_option
from corral.resources import ResourceError, Resources


def _quantities(text: str, option: str) -> dict[str, dict[str, float]]:
    try:
        resources = Resources.parse(text)
    except ResourceError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    quantities = resources.scalar_quantities()
    if set(quantities) != resources.names() or resources.reserved():
        raise click.BadParameter("only unreserved scalar resources (cpus, mem, disk, gpus, ...) take quota", param_hint=option)
    return {name: {"value": value} for name, value in quantities.items()}


def _text(values: dict[str, Any] | None) -> str:
    return ";".join(f"{k}:{v['value']:g}" for k, v in sorted((values or {}).items())) or "-"


def register(group: click.Group) -> None:
    @group.command("quota")
    @master_option
    @click.argument("role", required=False)
    @click.option("--limits", default="", help="Resources ROLE may not exceed, e.g. 'cpus:8;mem:16384'")
    @click.option("--guarantees", default="", help="Resources held for ROLE, e.g. 'cpus:2'")
    @click.option("--remove", is_flag=True, help="Remove ROLE's quota: no guarantee and no limit")
    @click.option("--force", is_flag=True, help="Skip the consumption and cluster-capacity checks")
    @json_option
    def quota(master: str, role: str | None, limits: str, guarantees: str, remove: bool, force: bool, as_json: bool) -> None:
        """Show every role's quota and consumption, or set (or --remove) ROLE's.

        A new quota replaces the role's earlier guarantees and limits.
        """
        if role is None:
            if limits or guarantees or remove:
                raise click.UsageError("name the ROLE whose quota to set or remove")
            _show(master, as_json)
            return
        if remove == bool(limits or guarantees):
            raise click.UsageError("give --limits and/or --guarantees to set ROLE's quota, or --remove")
        config = {"role": role, "limits": _quantities(limits, "--limits"), "guarantees": _quantities(guarantees, "--guarantees")}
        api.operator_call(master, "UPDATE_QUOTA", {"update_quota": {"force": force, "quota_configs": [config]}})
        if remove:
            click.echo(f"Quota of role {role} removed")
        else:
            click.echo(f"Quota of role {role}: guarantees {_text(config['guarantees'])}, limits {_text(config['limits'])}")


def _show(master: str, as_json: bool) -> None:
    configs = api.operator_call(master, "GET_QUOTA")["status"].get("configs", [])
    consumed = {r["name"]: r.get("quota", {}).get("consumed", {})
                for r in api.request(api.current().url(master, "/roles")).get("roles", [])}
    if as_json:
        click.echo(json.dumps([{**c, "consumed": consumed.get(c["role"], {})} for c in configs], indent=2))
        return
    _table("Quota", ["Role", "Guarantees", "Limits", "Consumed"], [
        [c["role"], _text(c.get("guarantees")), _text(c.get("limits")),
         ";".join(f"{k}:{v:g}" for k, v in sorted(consumed.get(c["role"], {}).items())) or "-"]
        for c in configs
    ])
