"""The agent's side of the executor fork server (see zygote.py)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from typing import Any, Callable

import msgspec

logger = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()


class LaunchError(RuntimeError):
    pass


class Launcher:
    """Starts processes through a zygote; reports their exit with `on_exit(pid, wait_status)`."""

    def __init__(self, on_exit: Callable[[int, int], None]) -> None:
        self._on_exit = on_exit
        self._process: subprocess.Popen[bytes] | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._seq = 0
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        # Popen rather than asyncio's subprocesses: asyncio kills a child still running
        # when its transport closes, and the zygote must outlive a stopped agent while the
        # tasks it reaps do (their exit files are how the next agent learns how they ended).
        self._process = subprocess.Popen(
            [sys.executable, "-m", "corral.agent.zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader(limit=16 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), self._process.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, self._process.stdin)
        self._stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        self._reader = asyncio.ensure_future(self._read(self._process, stdout))

    async def stop(self) -> None:
        """Leave the zygote: it exits by itself once no child of its is left."""
        if self._reader is not None:
            self._reader.cancel()
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None

    async def launch(self, request: dict[str, Any]) -> int:
        async with self._lock:
            if self._process is None or self._process.poll() is not None:
                await self.start()
        assert self._stdin is not None
        self._seq += 1
        request = dict(request, id=self._seq)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[self._seq] = future
        self._stdin.write(_encoder.encode(request) + b"\n")
        await self._stdin.drain()
        return await asyncio.wait_for(future, 30)

    async def _read(self, process: subprocess.Popen[bytes], stdout: asyncio.StreamReader) -> None:
        while True:
            line = await stdout.readline()
            if not line:
                break
            message = msgspec.json.decode(line)
            if "exited" in message:
                try:
                    self._on_exit(message["exited"], message["status"])
                except Exception:
                    logger.exception("exit handler failed")
                continue
            future = self._pending.pop(message.get("id"), None)
            if future is None or future.done():
                continue
            if "error" in message:
                future.set_exception(LaunchError(message["error"]))
            else:
                future.set_result(message["pid"])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LaunchError("the executor launcher exited"))
        self._pending.clear()
        await asyncio.get_running_loop().run_in_executor(None, process.wait)  # (reaped, not left a zombie)
