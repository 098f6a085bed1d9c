"""RecordIO framing of Mesos's streaming APIs: `<length>\\n<record>` repeated.

Used for the scheduler and executor event streams and for Corral's own
master-to-agent stream.  Standard library only: the command executor imports
it, and every module it imports makes each forked executor heavier.
"""

from __future__ import annotations

from typing import Iterator


class RecordIOError(ValueError):
    pass


def encode(record: bytes) -> bytes:
    return b"%d\n%s" % (len(record), record)


class Decoder:
    """Incremental decoder: feed bytes, get complete records."""

    MAX_RECORD = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > 20:
                    raise RecordIOError("RecordIO: record length is not followed by a newline")
                return
            header = bytes(self._buffer[:newline]).strip()
            if not header.isdigit():
                raise RecordIOError(f"RecordIO: bad record length {header[:20]!r}")
            length = int(header)
            if length > self.MAX_RECORD:
                raise RecordIOError(f"RecordIO: record of {length} bytes exceeds the limit")
            end = newline + 1 + length
            if len(self._buffer) < end:
                return
            record = bytes(self._buffer[newline + 1 : end])
            del self._buffer[:end]
            yield record
