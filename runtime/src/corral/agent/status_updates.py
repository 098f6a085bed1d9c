"""Reliable delivery of task status updates (the agent's status update manager).

Updates of one task form a stream delivered in order: only the head of each
stream is outstanding; it is re-sent with exponential backoff until the
framework acknowledges its uuid (through the master), then the next one goes.
Pure: the caller supplies the clock and a `send` callback, and persists the
streams through the optional `journal` callback (agent recovery replays it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from corral.protocol.states import TERMINAL_STATES

RETRY_MIN = 10.0  # Mesos's STATUS_UPDATE_RETRY_INTERVAL_MIN
RETRY_MAX = 600.0  # and _MAX

Update = dict[str, Any]  # {"framework_id": {...}, "status": {...}}


@dataclass
class _Stream:
    pending: deque[Update] = field(default_factory=deque)
    next_retry: float | None = None
    interval: float = RETRY_MIN
    latest_state: str | None = None
    terminated: bool = False  # the terminal update has been acknowledged
    received: set[str] = field(default_factory=set)  # every uuid queued so far, acknowledged or not


class StatusUpdateManager:
    def __init__(
        self,
        send: Callable[[Update, str], None],
        clock: Callable[[], float],
        retry_min: float = RETRY_MIN,
        retry_max: float = RETRY_MAX,
        journal: Callable[[str, str, str, Update | str], None] | None = None,
    ) -> None:
        """`send(update, latest_state)` forwards one update to the master."""
        self._send = send
        self._clock = clock
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._journal = journal
        self._streams: dict[tuple[str, str], _Stream] = {}
        self.paused = True  # until the agent is registered with a master

    # -- input ---------------------------------------------------------------------

    def add(self, framework_id: str, task_id: str, update: Update, replay: bool = False) -> bool:
        """Queue an update; False for a duplicate (a uuid this stream already received, as Mesos's
        status update stream drops it: an executor that sent it again after a lost answer, even
        once it was acknowledged, must not have it delivered twice)."""
        stream = self._streams.get((framework_id, task_id))
        if stream is None:
            stream = self._streams[(framework_id, task_id)] = _Stream(interval=self._retry_min)
        uuid = update["status"].get("uuid")
        if uuid is not None:
            if uuid in stream.received:
                return False
            stream.received.add(uuid)
        stream.pending.append(update)
        stream.latest_state = update["status"]["state"]
        if self._journal is not None and not replay:
            self._journal(framework_id, task_id, "update", update)
        if len(stream.pending) == 1:
            self._flush_stream(stream)
        return True

    def acknowledge(self, framework_id: str, task_id: str, uuid: str, replay: bool = False) -> Update | None:
        """The framework acknowledged `uuid`; returns the update it acknowledged (or None if stale)."""
        stream = self._streams.get((framework_id, task_id))
        if stream is None or not stream.pending or stream.pending[0]["status"].get("uuid") != uuid:
            return None
        update = stream.pending.popleft()
        if self._journal is not None and not replay:
            self._journal(framework_id, task_id, "ack", uuid)
        if update["status"]["state"] in TERMINAL_STATES:
            stream.terminated = True
        stream.interval = self._retry_min
        stream.next_retry = None
        if stream.pending:
            self._flush_stream(stream)
        elif stream.terminated:
            del self._streams[(framework_id, task_id)]
        return update

    # -- output --------------------------------------------------------------------

    def resume(self) -> None:
        """(Re)connected to a master: send every stream's head now."""
        self.paused = False
        for stream in self._streams.values():
            stream.interval = self._retry_min
            if stream.pending:
                self._flush_stream(stream)

    def pause(self) -> None:
        self.paused = True

    def tick(self) -> None:
        if self.paused:
            return
        now = self._clock()
        for stream in self._streams.values():
            if stream.pending and stream.next_retry is not None and now >= stream.next_retry:
                stream.interval = min(stream.interval * 2, self._retry_max)
                self._flush_stream(stream)

    def _flush_stream(self, stream: _Stream) -> None:
        if self.paused:
            stream.next_retry = None
            return
        stream.next_retry = self._clock() + stream.interval
        self._send(stream.pending[0], stream.latest_state or stream.pending[0]["status"]["state"])

    # -- queries -------------------------------------------------------------------

    def latest_state(self, framework_id: str, task_id: str) -> str | None:
        stream = self._streams.get((framework_id, task_id))
        return stream.latest_state if stream else None

    def pending(self, framework_id: str, task_id: str) -> list[Update]:
        stream = self._streams.get((framework_id, task_id))
        return list(stream.pending) if stream else []

    def has_pending(self, framework_id: str, task_ids: Iterable[str]) -> bool:
        return any(self._streams.get((framework_id, t)) and self._streams[(framework_id, t)].pending for t in task_ids)

    def forget_framework(self, framework_id: str) -> None:
        for key in [k for k in self._streams if k[0] == framework_id]:
            del self._streams[key]

    def __len__(self) -> int:
        return sum(len(s.pending) for s in self._streams.values())
