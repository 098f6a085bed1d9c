"""The dispatcher's calls to a master that goes away mid-call (found by the fault soak: a submission
answered 500 because the REVIVE after it met a master going away)."""

from __future__ import annotations

import asyncio

import aiohttp

from corral import config
from corral.spark import model
from corral.spark.dispatcher import SparkDispatcher
from corral.spark.flags import DISPATCHER_FLAGS
from test_spark_state import make_state, submit


class VanishingMaster:
    """Stands in for the SchedulerClient's connection: every call meets a master that has just gone away."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def _gone(self, kind: str) -> None:
        self.calls.append(kind)
        raise aiohttp.ServerDisconnectedError()

    async def revive(self) -> None:
        await self._gone("REVIVE")

    async def kill(self, task_id: str, agent_id: str | None) -> None:
        await self._gone(f"KILL {task_id}")


class MemoryStore:
    def save(self, data, forgotten, seq) -> None:
        pass


def test_calls_that_meet_a_vanished_master_are_kept_for_later_not_raised():
    dispatcher = SparkDispatcher(config.resolve(DISPATCHER_FLAGS, {}, env={}))
    dispatcher.state, _ = make_state()
    dispatcher.store = MemoryStore()  # type: ignore[assignment]
    master = VanishingMaster()
    dispatcher.client, dispatcher.subscribed, dispatcher.suppressed = master, True, True  # type: ignore[assignment]
    submit(dispatcher.state)
    dispatcher.state._kills.append(("old-task", "a1"))

    asyncio.run(dispatcher.after_change())  # (raised ServerDisconnectedError into the REST handler: HTTP 500)

    assert master.calls == ["KILL old-task", "REVIVE"]
    assert dispatcher.suppressed, "REVIVE is sent again on the next change"
    assert dispatcher.state.take_kills() == [("old-task", "a1")], "the KILL is sent again"
    assert [s.state for s in dispatcher.state.submissions.values()] == [model.QUEUED]
