"""Why a framework is not offered resources: a Corral extension Mesos never had.

For each of a framework's roles, every agent with resources is put in the one
bucket that keeps it from the framework, checked in the order the allocator
checks them (hierarchical.py `allocate`): the agent is inactive or full, has
GPUs the framework is not aware of, holds only reservations of other roles,
what is free is below min_allocatable_resources, the role's quota limit or the
guarantees' headroom shrink what it would be offered, or a DECLINE filter
covers it.  An
agent in no bucket would be offered to the framework when its turn comes:
those are reported as FAIR_SHARE with the shares that decide the turn.
Computed on demand from the allocator's books, so it says what the next round
would do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from corral.allocator.quota import QuotaBook, exceeds
from corral.resources import Resources

# The reasons, in the order they are checked.
FRAMEWORK_INACTIVE = "FRAMEWORK_INACTIVE"
ROLE_SUPPRESSED = "ROLE_SUPPRESSED"
AGENT_INACTIVE = "AGENT_INACTIVE"
AGENT_FULL = "AGENT_FULL"
GPU_CAPABILITY = "GPU_CAPABILITY"
RESERVED_FOR_OTHER_ROLES = "RESERVED_FOR_OTHER_ROLES"
QUOTA_LIMIT = "QUOTA_LIMIT"
QUOTA_HEADROOM = "QUOTA_HEADROOM"
BELOW_MIN_ALLOCATABLE = "BELOW_MIN_ALLOCATABLE"
DECLINE_FILTER = "DECLINE_FILTER"
FAIR_SHARE = "FAIR_SHARE"


@dataclass
class Reason:
    reason: str
    message: str
    agents: list[str] = field(default_factory=list)
    until: float | None = None  # DECLINE_FILTER: when the last filter expires (allocator clock)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "message": self.message, "agents": len(self.agents)}
        if self.agents:
            out["agent_ids"] = sorted(self.agents)[:20]
        if self.until is not None:
            out["until"] = self.until
        return out


@dataclass
class AgentView:
    """What `why` reads of an agent."""

    available: Resources
    active: bool
    has_gpus: bool


@dataclass
class FrameworkView:
    active: bool
    roles: set[str]
    suppressed: set[str]
    gpu_aware: bool
    filters: Mapping[tuple[str, str], list[tuple[float, Resources]]]
    min_allocatable: Mapping[str, list[dict[str, float]]]


Fits = Callable[[Mapping[str, float], list[dict[str, float]]], bool]


def why(framework: FrameworkView, agents: Mapping[str, AgentView], quota: QuotaBook, shares: Mapping[str, float],
        weights: Mapping[str, float], default_minimum: list[dict[str, float]], now: float, fits: Fits,
        within_quota: Callable[[str, Resources], Resources]) -> dict[str, list[Reason]]:
    """role -> the reasons that keep each agent from the framework in that role."""
    out: dict[str, list[Reason]] = {}
    for role in sorted(framework.roles):
        reasons: dict[str, Reason] = {}

        def add(kind: str, agent_id: str, message: str, until: float | None = None) -> None:
            entry = reasons.setdefault(kind, Reason(kind, message))
            entry.agents.append(agent_id)
            if until is not None:
                entry.until = max(entry.until or until, until)

        if not framework.active:
            out[role] = [Reason(FRAMEWORK_INACTIVE, "the framework is not connected (or was deactivated)")]
            continue
        if role in framework.suppressed:
            out[role] = [Reason(ROLE_SUPPRESSED, f"the framework suppressed offers for role '{role}' (REVIVE ends it)")]
            continue
        minimum = framework.min_allocatable.get(role, default_minimum)
        for agent_id, agent in agents.items():
            if not agent.active:
                add(AGENT_INACTIVE, agent_id, "agents that are disconnected, deactivated or draining")
                continue
            if agent.available.is_empty():
                add(AGENT_FULL, agent_id, "agents whose resources are all offered or in use")
                continue
            if agent.has_gpus and not framework.gpu_aware:
                add(GPU_CAPABILITY, agent_id, "agents with GPUs, offered only to frameworks with the GPU_RESOURCES capability")
                continue
            offerable = agent.available.allocatable_to(role)
            if offerable.is_empty():
                add(RESERVED_FOR_OTHER_ROLES, agent_id, f"agents whose free resources are reserved for roles other than '{role}'")
                continue
            capped = within_quota(role, offerable)
            if not fits(offerable.scalar_quantities(), minimum):
                add(BELOW_MIN_ALLOCATABLE, agent_id, f"agents whose free resources are below min_allocatable_resources "
                                                     f"({_alternatives(minimum)}), e.g. {offerable} on {agent_id}")
                continue
            room = quota.limit_room(role)
            if room is not None and exceeds(offerable.scalar_quantities(), room):
                add(QUOTA_LIMIT, agent_id, _limit_message(role, quota))
                continue
            if capped != offerable:
                add(QUOTA_HEADROOM, agent_id, f"agents whose free resources are held back, in part or whole, for other "
                                              f"roles' quota guarantees ({_text(quota.required_headroom())} unsatisfied)")
                continue
            live = [(t, r) for t, r in framework.filters.get((role, agent_id), []) if t > now]
            if any(refused.contains(capped) for _, refused in live):
                add(DECLINE_FILTER, agent_id, "agents the framework declined with a filter that has not expired",
                    until=max(t for t, _ in live))
                continue
            add(FAIR_SHARE, agent_id, _fair_share_message(role, shares, weights))
        out[role] = list(reasons.values())
    return out


def _limit_message(role: str, quota: QuotaBook) -> str:
    top = role.split("/", 1)[0]
    config = quota.configs.get(role) or quota.configs.get(top)
    limits = _text(config.limits) if config else "?"
    return (f"agents whose free resources role '{role}' may take only in part or not at all: "
            f"it consumes {_text(quota.consumed(top))} of its limit {limits}")


def _fair_share_message(role: str, shares: Mapping[str, float], weights: Mapping[str, float]) -> str:
    mine = shares.get(role, 0.0) / weights.get(role, 1.0)
    ahead = sorted((s / weights.get(r, 1.0), r) for r, s in shares.items() if r != role and s / weights.get(r, 1.0) < mine)
    if not ahead:
        return (f"agents the framework is next in line for: role '{role}' has the lowest weighted share "
                f"({mine:.3f}); the next allocation round offers them unless another framework of the role goes first")
    names = ", ".join(f"'{r}' ({s:.3f})" for s, r in ahead[:5])
    return (f"agents that go to roles with a lower weighted dominant share first: {names}; "
            f"role '{role}' is at {mine:.3f}")


def _text(quantities: Mapping[str, float]) -> str:
    return ";".join(f"{k}:{v:g}" for k, v in sorted(quantities.items())) or "nothing"


def _alternatives(minimum: list[dict[str, float]]) -> str:
    return " | ".join(_text(alt) for alt in minimum) or "none"
