"""A `task exec` client speaking the agent API the way the Mesos CLI's TaskIO does (src/python/cli_new/
lib/cli/mesos.py): the task's container id from its first status in the master's /tasks, then
LAUNCH_NESTED_CONTAINER_SESSION (RecordIO of ProcessIO out), ATTACH_CONTAINER_INPUT (first a call with
the container id alone, then the input stream) and WAIT_CONTAINER for the exit status."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import aiohttp

from corral.protocol import recordio
from support.cluster import http_json

STREAM = {"Content-Type": "application/json", "Accept": "application/recordio", "Message-Accept": "application/json"}
INPUT = {"Content-Type": "application/recordio", "Message-Content-Type": "application/json", "Accept": "application/json"}


def task_container(master: str, task_id: str) -> tuple[str, dict[str, Any]]:
    """(agent host:port, the task's ContainerID), as the Mesos CLI finds them."""
    [task] = [t for t in http_json(f"http://{master}/tasks")["tasks"] if t["id"] == task_id]
    agent = next(a for a in http_json(f"http://{master}/slaves")["slaves"] if a["id"] == task["slave_id"])
    return f"{agent['hostname']}:{agent['port']}", task["statuses"][0]["container_status"]["container_id"]


@dataclass
class Session:
    agent: str
    container_id: dict[str, Any]
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_status: int | None = None  # a wait status, as WAIT_CONTAINER reports it

    @property
    def url(self) -> str:
        return f"http://{self.agent}/api/v1"


def nested_in(agent: str, parent: dict[str, Any]) -> Session:
    return Session(agent, {"parent": parent, "value": str(uuid.uuid4())})


async def launch(http: aiohttp.ClientSession, session: Session, argv: list[str], tty: dict[str, Any] | None = None
                 ) -> aiohttp.ClientResponse:
    call: dict[str, Any] = {"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": {
        "container_id": session.container_id, "command": {"value": argv[0], "arguments": argv, "shell": False}}}
    if tty is not None:
        call["launch_nested_container_session"]["container"] = {"type": "MESOS", "tty_info": tty}
    return await http.post(session.url, data=json.dumps(call), headers=STREAM)


async def read_output(session: Session, response: aiohttp.ClientResponse) -> None:
    decoder = recordio.Decoder()
    async for chunk in response.content.iter_any():
        for raw in decoder.feed(chunk):
            record = json.loads(raw)
            if record["type"] == "DATA":
                target = session.stdout if record["data"]["type"] == "STDOUT" else session.stderr
                target += base64.b64decode(record["data"]["data"])


def input_call(body: dict[str, Any]) -> bytes:
    return recordio.encode(json.dumps({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": body}).encode())


def stdin_record(data: bytes) -> bytes:
    return input_call({"type": "PROCESS_IO", "process_io": {"type": "DATA", "data": {"type": "STDIN",
                                                                                      "data": base64.b64encode(data).decode()}}})


async def attach_input(http: aiohttp.ClientSession, session: Session, records: AsyncIterator[bytes] | list[bytes]
                       ) -> tuple[int, str]:
    """ATTACH_CONTAINER_INPUT with the container id, then `records`; (status, body)."""
    async def body() -> AsyncIterator[bytes]:
        yield input_call({"type": "CONTAINER_ID", "container_id": session.container_id})
        if isinstance(records, list):
            for record in records:
                yield record
        else:
            async for record in records:
                yield record

    async with http.post(session.url, data=body(), headers=INPUT) as response:
        return response.status, await response.text()


async def wait(http: aiohttp.ClientSession, session: Session) -> int:
    call = {"type": "WAIT_CONTAINER", "wait_container": {"container_id": session.container_id}}
    async with http.post(session.url, data=json.dumps(call), headers={"Content-Type": "application/json"}) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["wait_container"]["exit_status"]


async def run(agent: str, parent: dict[str, Any], argv: list[str], stdin: bytes | None = None,
              tty: dict[str, Any] | None = None) -> Session:
    """`task exec [-i] [-t]`: run argv in the container, feed it stdin, return its output and exit status."""
    session = nested_in(agent, parent)
    async with aiohttp.ClientSession() as http:
        response = await launch(http, session, argv, tty)
        assert response.status == 200, await response.text()
        reading = asyncio.ensure_future(read_output(session, response))
        if stdin is not None:
            assert (await attach_input(http, session, []))[0] == 200  # (the CLI's first, id-only attach)
            eof = b"\x04" if tty is not None else b""  # (a terminal takes EOT; a pipe an empty DATA)
            assert (await attach_input(http, session, [stdin_record(stdin), stdin_record(eof)]))[0] == 200
        await reading
        session.exit_status = await wait(http, session)
    return session
