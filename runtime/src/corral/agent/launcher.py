"""The agent's side of the executor fork server (see zygote.py)."""

from __future__ import annotations

import asyncio
import logging
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
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._seq = 0
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "corral.agent.zygote",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._process is not None and self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except asyncio.TimeoutError:
                self._process.kill()

    async def launch(self, request: dict[str, Any]) -> int:
        async with self._lock:
            if self._process is None or self._process.returncode is not None:
                await self.start()
        assert self._process is not None and self._process.stdin is not None
        self._seq += 1
        request = dict(request, id=self._seq)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[self._seq] = future
        self._process.stdin.write(_encoder.encode(request) + b"\n")
        await self._process.stdin.drain()
        return await asyncio.wait_for(future, 30)

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
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
