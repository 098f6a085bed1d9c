"""Sandbox files over HTTP, like Mesos's `/files` endpoints.

`/files/browse?path=DIR` lists a directory, `/files/read?path=FILE&offset=N&length=M`
returns `{"data": ..., "offset": N}` (offset -1 or absent: the file's size, to
start following it), `/files/download?path=FILE` streams a file.  Paths must
lie inside the agent's work directory.
"""

from __future__ import annotations

import os
import stat

from aiohttp import web

from corral.http_stream import error_response, json_response

MAX_READ = 16 * 1024 * 1024


def add_routes(app: web.Application, root: str) -> None:
    root = os.path.realpath(root)

    def resolve(request: web.Request) -> str | web.Response:
        path = request.query.get("path")
        if not path:
            return error_response(400, "Expecting 'path' in the query string")
        if "\0" in path:
            return error_response(400, "'path' must not contain NUL characters")
        real = os.path.realpath(path)
        if real != root and not real.startswith(root + os.sep):
            return error_response(403, f"'{path}' is outside the agent's work directory")
        if not os.path.exists(real):
            return error_response(404, f"'{path}' does not exist")
        return real

    async def browse(request: web.Request) -> web.Response:
        path = resolve(request)
        if isinstance(path, web.Response):
            return path
        if not os.path.isdir(path):
            return error_response(400, f"'{path}' is not a directory")
        entries = []
        for name in sorted(os.listdir(path)):
            full = os.path.join(path, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            entries.append(
                {
                    "path": full, "nlink": st.st_nlink, "size": st.st_size, "mtime": st.st_mtime,
                    "mode": stat.filemode(st.st_mode), "uid": str(st.st_uid), "gid": str(st.st_gid),
                }
            )
        return json_response(entries)

    async def read(request: web.Request) -> web.Response:
        path = resolve(request)
        if isinstance(path, web.Response):
            return path
        if os.path.isdir(path):
            return error_response(400, f"'{path}' is a directory")
        try:
            offset = int(request.query.get("offset", "-1"))
            length = int(request.query.get("length", str(MAX_READ)))
        except ValueError:
            return error_response(400, "'offset' and 'length' must be integers")
        if length < 0:
            return error_response(400, "'length' must be >= 0")
        size = os.path.getsize(path)
        if offset < 0:
            return json_response({"data": "", "offset": size})
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = _whole_characters(fh.read(min(length, MAX_READ)))
        return json_response({"data": data.decode("utf-8", errors="replace"), "offset": offset, "length": len(data)})

    async def download(request: web.Request) -> web.StreamResponse:
        path = resolve(request)
        if isinstance(path, web.Response):
            return path
        if os.path.isdir(path):
            return error_response(400, f"'{path}' is a directory")
        return web.FileResponse(path, headers={"Content-Disposition": f"attachment; filename={os.path.basename(path)}"})

    app.router.add_get("/files/browse", browse)
    app.router.add_get("/files/read", read)
    app.router.add_get("/files/download", download)


def _whole_characters(data: bytes) -> bytes:
    """Drop a UTF-8 sequence cut at the end, so that a follower re-reads it whole next time."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # the start of the last character
            needed = 1 if byte < 0x80 else 2 if byte >= 0xC0 and byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if needed <= back else data[:-back]
    return data
