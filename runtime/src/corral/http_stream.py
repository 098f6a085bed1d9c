"""HTTP helpers shared by the master and the agent: RecordIO event streams and JSON replies."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import msgspec
from aiohttp import web

from corral.protocol import recordio

JSON = "application/json"
_encoder = msgspec.json.Encoder()


class StreamConnection:
    """An event stream to one subscriber, fed with `send()` without blocking.

    `serve()` writes queued events to the HTTP response as RecordIO records
    until `close()` is called or the client goes away.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def send(self, event: Mapping[str, Any]) -> None:
        if not self.closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    async def serve(self, request: web.Request, headers: Mapping[str, str] | None = None) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, **(headers or {})})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                data = b"".join(recordio.encode(_encoder.encode(e)) for e in batch if e is not None)
                if data:
                    await response.write(data)
                if batch[-1] is None or any(e is None for e in batch):
                    break
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.closed = True
        return response


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=_encoder.encode(data), status=status, content_type=JSON, headers=headers)


def error_response(status: int, message: str) -> web.Response:
    # Messages may quote client input that is not valid Unicode (e.g. a header decoded with surrogates).
    body = message.encode("utf-8", "backslashreplace")
    return web.Response(body=body, status=status, content_type="text/plain", charset="utf-8")


def check_json_request(request: web.Request) -> web.Response | None:
    """Mesos's content negotiation for the v1 APIs, JSON only."""
    content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip().lower()
    if content_type != JSON:
        return error_response(415, f"Unsupported Content-Type '{content_type}': Corral accepts application/json")
    accept = request.headers.get("Accept", "")
    if accept and not any(a.split(";")[0].strip() in (JSON, "*/*", "application/*", "application/recordio") for a in accept.split(",")):
        return error_response(406, f"Cannot produce '{accept}': Corral answers with application/json")
    return None
