"""Why a framework of the CLI has nothing to launch yet (pure: resources in, one line out)."""

from __future__ import annotations

from collections.abc import Sequence

from corral.resources import Amount, Key, Resources, normalize_ranges


def why_waiting(wanted: Resources, offers: Sequence[Resources], agents: Sequence[Resources] | None) -> str:
    """The line `corral run` prints while no offer holds `wanted`: the largest of `offers` (the
    latest offer of each agent) and what the agents' totals (`agents`, None if unknown) allow."""
    head = f"Waiting for an offer of {wanted}"
    if agents is not None and not agents:
        return f"{head}: no agents registered"
    if agents is not None and not any(total.contains(wanted) for total in agents):
        return f"{head}: no agent has that much: {_totals(wanted, agents)}"
    if offers:
        largest = max(offers, key=lambda offer: _share(offer, wanted))
        seen = f"the largest offer seen holds {_within(largest, wanted) or 'none of it'}"
    else:
        seen = "no offers received yet"
    return f"{head}: {seen}" if agents is None else f"{head}: {seen}; {_totals(wanted, agents)}"


def _within(resources: Resources, wanted: Resources) -> Resources:
    """The part of `resources` that `wanted` asks for (same names and reservations)."""
    keys = {key for key, _ in wanted.items()}
    return Resources({key: amount for key, amount in resources.items() if key in keys})


def _share(offer: Resources, wanted: Resources) -> float:
    """How much of `wanted`'s scalars `offer` holds (1 a resource that it holds in full)."""
    have = _within(offer, wanted)
    return sum(min(have.scalar(name) / need, 1.0) for name, need in wanted.scalar_quantities().items() if need > 0)


def _larger(one: Amount, other: Amount) -> Amount:
    if isinstance(one, float) and isinstance(other, float):
        return max(one, other)
    if isinstance(one, tuple) and isinstance(other, tuple):
        return normalize_ranges(one + other)
    if isinstance(one, frozenset) and isinstance(other, frozenset):
        return one | other
    return one


def _totals(wanted: Resources, agents: Sequence[Resources]) -> str:
    """The most any agent has of each wanted resource, the ones none has, and how many agents."""
    most: dict[Key, Amount] = {}
    for total in agents:
        for key, amount in _within(total, wanted).items():
            most[key] = amount if key not in most else _larger(most[key], amount)
    found = Resources(most)
    parts = [f"the agents' totals are at most {found}"] if found else []
    missing = Resources({key: amount for key, amount in wanted.items() if key not in most})
    if missing:
        parts.append(f"none has {missing}")
    return f"{' and '.join(parts)} ({len(agents)} agent{'s' if len(agents) != 1 else ''})"


# Reasons that say only that the framework's turn has not come, that others hold the agent, or
# that it declined the agent itself.
_ORDINARY = {"FAIR_SHARE", "AGENT_FULL", "DECLINE_FILTER"}


def allocator_summary(answer: dict) -> str:
    """The allocator's reasons of a GET_WHY_NOT_OFFERED answer that explain a wait, in a few words."""
    parts = [f"{r['reason']} on {r['agents']} agent(s): {r['message']}"
             for role in answer.get("roles", []) for r in role.get("reasons", []) if r.get("reason") not in _ORDINARY]
    return "the allocator says " + "; ".join(parts) if parts else ""

