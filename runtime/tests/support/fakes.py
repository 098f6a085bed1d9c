"""Fakes for driving the pure state machines (allocator, MasterState, AgentState, the status
update manager, the dispatcher's state) without a clock, sockets or processes."""

from __future__ import annotations

from typing import Any


class FakeClock:
    """A clock the test moves by hand: `clock.now += 5`."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Records what a state machine sends: an event stream's `send` and `close` (a scheduler's
    or executor's connection) or a sink's `post` (the agent's calls to the master)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed = False

    def send(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    post = send

    def close(self) -> None:
        self.closed = True

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]
