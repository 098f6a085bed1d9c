"""The operator's quota: UPDATE_QUOTA and GET_QUOTA (Mesos 1.9), the deprecated
SET_QUOTA and REMOVE_QUOTA, and the `/quota` endpoint.

UPDATE_QUOTA is all or nothing, as in Mesos: every config is validated, a
limit below the role's current consumption or guarantees beyond the cluster's
capacity are refused unless `force`, and every role must pass the
`update_quotas` ACL before any config is applied.  GET_QUOTA and `/quota` list
the roles the caller may see under `get_quotas`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from aiohttp import web

from corral.allocator.quota import QuotaConfig, exceeds, total_guarantees, validate_config
from corral.http_stream import json_response
from corral.master.operator import OperatorCall, authorize, leading_state, register, require
from corral.master.state import CallError
from corral.protocol.messages import ProtocolError
from corral.resources import ResourceError, Resources

if TYPE_CHECKING:
    from corral.master.shell import MasterShell as Master


def quantities_text(quantities: Mapping[str, float]) -> str:
    return "; ".join(f"{name}:{value:g}" for name, value in sorted(quantities.items())) or "{}"


def quota_status(master: "Master", request: web.Request) -> dict[str, Any]:
    """Mesos's QuotaStatus: `configs`, and the legacy `infos` (guarantees only)."""
    configs = [c for _, c in sorted(leading_state(master).allocator.quotas().items())
               if master.security.check(request, "get_quotas", c.role) is None]
    infos = [{"role": c.role, "guarantee": _scalars_json(c.guarantees)} for c in configs if c.guarantees]
    return {"infos": infos, "configs": [c.to_json() for c in configs]}


def apply(master: "Master", request: web.Request, configs: list[QuotaConfig], force: bool) -> None:
    """Validate, check against consumption and capacity, authorize, then apply all configs."""
    state = leading_state(master)
    allocator = state.allocator
    seen: set[str] = set()
    for config in configs:
        error = validate_config(config)
        if error:
            raise ProtocolError(f"Invalid QuotaConfig: {error}")
        if config.role in seen:
            raise ProtocolError(f"Invalid QuotaConfig: role '{config.role}' appears more than once")
        seen.add(config.role)
    if not force:
        for config in configs:
            consumed = allocator.consumed_quota(config.role)
            if exceeds(consumed, config.limits):
                raise ProtocolError(
                    f"Invalid QuotaConfig: Role '{config.role}' is already consuming '{quantities_text(consumed)}'; "
                    f"this is more than the requested limits '{quantities_text(config.limits)}' "
                    "(use 'force' flag to bypass this check)")
        merged = {**allocator.quotas(), **{c.role: c for c in configs}}
        guarantees = total_guarantees(c for c in merged.values() if not c.is_default)
        capacity = _capacity(agent.total for agent in state.agents.values())
        if exceeds(guarantees, {name: capacity.get(name, 0.0) for name in guarantees}):
            raise ProtocolError(
                f"Invalid QuotaConfig: total quota guarantees '{quantities_text(guarantees)}' exceed cluster capacity "
                f"'{quantities_text(capacity)}' (use 'force' flag to bypass this check)")
    for config in configs:
        authorize(master, request, "update_quotas", config.role, "update the quota of role '{obj}'")
    try:
        state.update_quotas(configs)
    except NotImplementedError as exc:
        raise CallError(400, str(exc)) from None


# -- the calls ----------------------------------------------------------------------------


def _get_quota(master, request, call: OperatorCall):
    return {"status": quota_status(master, request)}


def _update_quota(master, request, call: OperatorCall):
    body = _object(require(call.update_quota, "update_quota"), "update_quota")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise ProtocolError("update_quota.force: expected a boolean")
    raw = body.get("quota_configs", [])
    if not isinstance(raw, list):
        raise ProtocolError("update_quota.quota_configs: expected a list")
    configs = [_config(item, f"update_quota.quota_configs[{i}]") for i, item in enumerate(raw)]
    apply(master, request, configs, force)
    return None


def _set_quota(master, request, call: OperatorCall):
    """Pre-1.9 SET_QUOTA: the guarantee is also the limit (Mesos's implicit limit)."""
    body = _object(require(call.set_quota, "set_quota"), "set_quota")
    req = _object(require(body.get("quota_request"), "set_quota.quota_request"), "set_quota.quota_request")
    role = req.get("role")
    if not isinstance(role, str):
        raise ProtocolError("set_quota.quota_request.role: expected a string")
    try:
        guarantee = Resources.from_json(req.get("guarantee", []), "set_quota.quota_request.guarantee")
    except ResourceError as exc:
        raise ProtocolError(str(exc)) from None
    if not guarantee:
        raise ProtocolError("QuotaInfo with empty 'guarantee'")
    if guarantee.reserved():
        raise ProtocolError("QuotaInfo must not contain any ReservationInfo")
    quantities = guarantee.scalar_quantities()
    if set(quantities) != guarantee.names():
        raise ProtocolError("QuotaInfo must not include non-scalar resources")
    if role in leading_state(master).allocator.quotas():
        raise CallError(409, f"Quota cannot be set for role '{role}' which already has quota")
    apply(master, request, [QuotaConfig(role, quantities, quantities)], bool(req.get("force", False)))
    return None


def _remove_quota(master, request, call: OperatorCall):
    body = _object(require(call.remove_quota, "remove_quota"), "remove_quota")
    role = body.get("role")
    if not isinstance(role, str):
        raise ProtocolError("remove_quota.role: expected a string")
    if role not in leading_state(master).allocator.quotas():
        raise ProtocolError(f"Failed to remove quota for role '{role}': Role '{role}' has no quota set")
    apply(master, request, [QuotaConfig(role)], force=True)
    return None


register("GET_QUOTA", _get_quota, readonly=True)
register("UPDATE_QUOTA", _update_quota, readonly=False)
register("SET_QUOTA", _set_quota, readonly=False)
register("REMOVE_QUOTA", _remove_quota, readonly=False)


def add_routes(app: web.Application, master: "Master") -> None:
    """`/quota` (and `/master/quota`): the QuotaStatus, as Mesos's GET /quota answers."""

    async def quota(request: web.Request) -> web.Response:
        redirect = master.redirect_if_not_leading(request)
        return redirect or json_response(quota_status(master, request))

    app.router.add_get("/quota", quota)
    app.router.add_get("/master/quota", quota)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object")
    return value


def _config(item: Any, where: str) -> QuotaConfig:
    try:
        return QuotaConfig.from_json(item, where)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def _capacity(totals: Iterable[Resources]) -> dict[str, float]:
    out: dict[str, float] = {}
    for total in totals:
        for name, value in total.scalar_quantities().items():
            out[name] = out.get(name, 0.0) + value
    return out


def _scalars_json(quantities: Mapping[str, float]) -> list[dict[str, Any]]:
    return [{"name": n, "type": "SCALAR", "scalar": {"value": v}} for n, v in sorted(quantities.items())]
