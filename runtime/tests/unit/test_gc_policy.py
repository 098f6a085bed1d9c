"""The master's collection policy: freeze after a full collection, unfreeze once per period."""

from __future__ import annotations

import gc

from corral.gc_policy import FreezeAfterFullCollections


def test_survivors_of_a_full_collection_are_frozen_until_the_reclaim_period_ends():
    now = [0.0]
    enabled = gc.isenabled()
    gc.disable()  # only the collections below: an automatic one in between would freeze too
    gc.unfreeze()
    policy = FreezeAfterFullCollections(reclaim_seconds=600, clock=lambda: now[0])
    try:
        kept = [[i] for i in range(1000)]  # tracked objects that survive
        gc.collect(1)
        assert gc.get_freeze_count() == 0  # young collections change nothing
        gc.collect()
        assert policy.full_collections == 1 and gc.get_freeze_count() >= len(kept)
        cycle: list = []
        cycle.append(cycle)
        gc.collect()
        assert gc.get_freeze_count() >= len(kept) + 1  # the new survivor joins the frozen
        del cycle
        now[0] = 601.0
        gc.collect()  # the period is over: unfrozen, so that the next full collection scans everything
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert gc.get_freeze_count() >= len(kept) and policy.full_collections == 4
    finally:
        policy.uninstall()
        if enabled:
            gc.enable()
    assert gc.get_freeze_count() == 0 and policy._on_collection not in gc.callbacks
