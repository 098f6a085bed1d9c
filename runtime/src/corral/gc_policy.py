"""Garbage collection for a daemon whose heap is large and long-lived (the master of 10,000 agents).

CPython 3.11 collects its oldest generation in one pass over every tracked object, and
the master answers nothing meanwhile: at 10,000 agents (1.8 million objects, most of
them the agents' open connections) a full collection took 0.4–0.9 s, and there were 24
in a 3-minute run as the heap grew (measured with gc.callbacks in agent_scale.py).

So after each full collection the survivors are frozen (`gc.freeze()`): they move to the
permanent generation, which collections skip, and later full collections scan only what
survived since.  A frozen object that dies is still freed by reference counting; only a
cycle among frozen objects (a closed connection's, say) would stay, so every
`reclaim_seconds` the frozen objects are unfrozen and the next full collection, one long
pause per period, reclaims such cycles before freezing again.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable

RECLAIM_SECONDS = 600.0


class FreezeAfterFullCollections:
    """Installs itself in gc.callbacks; `uninstall()` undoes that and unfreezes."""

    def __init__(self, reclaim_seconds: float = RECLAIM_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.reclaim_seconds = reclaim_seconds
        self.clock = clock
        self.unfrozen_at = clock()
        self.full_collections = 0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        self.full_collections += 1
        now = self.clock()
        if now - self.unfrozen_at >= self.reclaim_seconds:
            # (this collection scanned only the unfrozen part: the next one scans everything)
            gc.unfreeze()
            self.unfrozen_at = now
        else:
            gc.freeze()

    def uninstall(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)
        gc.unfreeze()
