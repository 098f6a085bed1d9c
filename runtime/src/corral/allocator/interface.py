"""The allocator interface: events in, offers out.

The master owns all I/O.  It tells the allocator what happens (frameworks and
agents come and go, resources are used or given back, filters and
suppression change) and asks it to `allocate()`; the allocator answers with
`Allocation`s that the master turns into offers.  Implementations must not
touch sockets, threads or the wall clock: time comes from the injected clock.

A user's own allocator is any class implementing this interface, loaded with
`corral master --allocator package.module:Class`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from corral.allocator.quota import QuotaConfig
from corral.allocator.why import Reason
from corral.resources import DEFAULT_MIN_ALLOCATABLE, Resources, parse_min_allocatable

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Allocation:
    """Resources of one agent allocated to one framework for one role."""

    framework_id: str
    agent_id: str
    role: str
    resources: Resources


@dataclass
class AllocatorOptions:
    weights: dict[str, float] = field(default_factory=dict)
    # Mesos's --min_allocatable_resources: an offer must hold one alternative fully.
    min_allocatable: list[Resources] = field(default_factory=lambda: parse_min_allocatable(DEFAULT_MIN_ALLOCATABLE))
    # Seed for the agent shuffle of each allocation round (None: random).
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class RoleInfo:
    role: str
    weight: float
    share: float
    allocated: Mapping[str, float]
    frameworks: tuple[str, ...]


class Allocator(abc.ABC):
    """What the master needs from an allocator (modelled on Mesos's)."""

    def __init__(self, options: AllocatorOptions | None = None, clock: Clock | None = None) -> None:
        self.options = options or AllocatorOptions()
        self.clock: Clock = clock or _no_clock

    # -- frameworks -------------------------------------------------------------

    @abc.abstractmethod
    def add_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        used: Mapping[str, Mapping[str, Resources]] | None = None,
        active: bool = True,
        suppressed_roles: Iterable[str] = (),
        min_allocatable: Mapping[str, list[Resources]] | None = None,
        capabilities: Iterable[str] = (),
    ) -> None:
        """`used`: agent_id -> role -> resources the framework already holds; `capabilities`:
        its FrameworkInfo capabilities (GPU_RESOURCES decides whether it sees GPU agents)."""

    @abc.abstractmethod
    def update_framework(
        self,
        framework_id: str,
        roles: Iterable[str],
        suppressed_roles: Iterable[str] = (),
        min_allocatable: Mapping[str, list[Resources]] | None = None,
        capabilities: Iterable[str] = (),
    ) -> None: ...

    @abc.abstractmethod
    def remove_framework(self, framework_id: str) -> None: ...

    @abc.abstractmethod
    def activate_framework(self, framework_id: str) -> None: ...

    @abc.abstractmethod
    def deactivate_framework(self, framework_id: str) -> None:
        """A disconnected framework gets no offers and its filters are cleared."""

    # -- agents -----------------------------------------------------------------

    @abc.abstractmethod
    def add_agent(
        self,
        agent_id: str,
        total: Resources,
        used: Mapping[str, Mapping[str, Resources]] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> None:
        """`used`: framework_id -> role -> resources already in use there."""

    @abc.abstractmethod
    def update_agent(self, agent_id: str, total: Resources) -> None: ...

    @abc.abstractmethod
    def remove_agent(self, agent_id: str) -> None: ...

    def available(self, agent_id: str) -> Resources:
        """What of the agent is neither offered nor in use."""
        raise NotImplementedError(f"the allocator {type(self).__name__} does not tell what is free")

    def convert_resources(self, agent_id: str, source: Resources, converted: Resources,
                          framework_id: str | None = None, role: str | None = None) -> None:
        """A RESERVE or UNRESERVE turned `source` into `converted` (the same quantities) on the agent:
        in what the framework holds for `role`, or (no framework) in what is free."""
        raise NotImplementedError(f"the allocator {type(self).__name__} does not support dynamic reservations")

    @abc.abstractmethod
    def activate_agent(self, agent_id: str) -> None: ...

    @abc.abstractmethod
    def deactivate_agent(self, agent_id: str) -> None: ...

    # -- resources --------------------------------------------------------------

    @abc.abstractmethod
    def recover_resources(
        self,
        framework_id: str,
        agent_id: str,
        role: str,
        resources: Resources,
        refuse_seconds: float | None = None,
    ) -> None:
        """Resources come back (declined, rescinded, task ended); optionally filter them."""

    @abc.abstractmethod
    def suppress(self, framework_id: str, roles: Iterable[str] | None = None) -> None: ...

    @abc.abstractmethod
    def revive(self, framework_id: str, roles: Iterable[str] | None = None) -> None:
        """Un-suppress and clear offer filters for the roles (all if None)."""

    @abc.abstractmethod
    def update_weights(self, weights: Mapping[str, float]) -> None: ...

    def update_quota(self, config: QuotaConfig) -> None:
        """Set a role's guarantees and limits (a default config removes its quota)."""
        raise NotImplementedError(f"the allocator {type(self).__name__} does not enforce quota")

    def quotas(self) -> dict[str, QuotaConfig]:
        return {}

    def consumed_quota(self, role: str) -> dict[str, float]:
        """What counts against the role's quota: its subtree's allocation."""
        return {}

    def why_not(self, framework_id: str) -> dict[str, list[Reason]]:
        """Role -> why each agent is not offered to the framework (allocator/why.py); {} if unknown."""
        return {}

    # -- allocation -------------------------------------------------------------

    @abc.abstractmethod
    def allocate(self, agent_ids: Iterable[str] | None = None) -> list[Allocation]:
        """Run one allocation round over the given agents (all if None)."""

    # -- introspection ------------------------------------------------------------

    @abc.abstractmethod
    def roles(self) -> list[RoleInfo]: ...

    def weights(self) -> dict[str, float]:
        return dict(self.options.weights)


def _no_clock() -> float:
    return 0.0
