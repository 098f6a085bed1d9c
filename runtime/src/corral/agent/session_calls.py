"""The v1 agent API's nested-container calls, parsed (pure: JSON in, values or a ValueError out).

LAUNCH_NESTED_CONTAINER_SESSION names a new container under a running one and the command to run
in it; ATTACH_CONTAINER_INPUT streams `ProcessIO` records to it; its output comes back as
`ProcessIO` DATA records.  The shapes are those of Mesos's `agent/agent.proto` and
`agent.proto`'s `ProcessIO`, as the Mesos CLI's `task exec` sends them.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NestedId:
    """A nested container's id: its own value and its parent's (one level: the parent is an executor's container)."""

    value: str
    parent: str | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.parent is not None:
            out["parent"] = {"value": self.parent}
        return out


@dataclass(frozen=True)
class SessionLaunch:
    container: NestedId
    argv: list[str]
    environment: dict[str, str]
    user: str | None
    tty: bool
    window: tuple[int, int] | None  # (rows, columns)


@dataclass(frozen=True)
class InputRecord:
    """One record of an ATTACH_CONTAINER_INPUT stream: `kind` is container_id, stdin (with `data`;
    empty data is EOF), heartbeat or window (with `window`)."""

    kind: str
    container: NestedId | None = None
    data: bytes = b""
    window: tuple[int, int] | None = None


def container_id(value: Any, what: str = "container_id") -> NestedId:
    if not isinstance(value, dict) or not isinstance(value.get("value"), str) or not value["value"]:
        raise ValueError(f"'{what}' must be a ContainerID object with a non-empty 'value'")
    parent = value.get("parent")
    if parent is None:
        return NestedId(value["value"], None)
    outer = container_id(parent, f"{what}.parent")
    if outer.parent is not None:
        raise ValueError(f"'{what}': this agent runs nested containers one level deep (under an executor's container), "
                         f"not under '{outer.value}', itself nested")
    return NestedId(value["value"], outer.value)


def launch_session(body: Any) -> SessionLaunch:
    if not isinstance(body, dict):
        raise ValueError("'launch_nested_container_session' must be an object")
    container = container_id(body.get("container_id"))
    if container.parent is None:
        raise ValueError("'container_id' must name its parent: a session runs nested in a running container")
    command = body.get("command")
    if not isinstance(command, dict):
        raise ValueError("'command' (a CommandInfo) is required")
    info = body.get("container") or {}
    if not isinstance(info, dict):
        raise ValueError("'container' must be a ContainerInfo object")
    if info.get("type", "MESOS") != "MESOS":
        raise ValueError(f"a nested container is of type MESOS, not {info.get('type')}")
    tty_info = info.get("tty_info")
    window = _window((tty_info or {}).get("window_size")) if isinstance(tty_info, dict) else None
    user = command.get("user")
    if user is not None and not isinstance(user, str):
        raise ValueError("'command.user' must be a string")
    return SessionLaunch(container, argv_of(command), environment_of(command), user or None, tty_info is not None, window)


def argv_of(command: dict[str, Any]) -> list[str]:
    """CommandInfo's program: `shell` (the default) runs `value` with /bin/sh -c; otherwise `value`
    is the program and `arguments` its argv (argv[0] included, as Mesos takes them)."""
    value = command.get("value")
    arguments = command.get("arguments") or []
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        raise ValueError("'command.arguments' must be a list of strings")
    if command.get("shell", True):
        if not isinstance(value, str) or not value:
            raise ValueError("'command.value' is required when 'command.shell' is true")
        return ["/bin/sh", "-c", value]
    if not isinstance(value, str) or not value:
        raise ValueError("'command.value' (the program) is required when 'command.shell' is false")
    return [value] + arguments[1:]


def environment_of(command: dict[str, Any]) -> dict[str, str]:
    out = {}
    for var in (command.get("environment") or {}).get("variables") or []:
        if not isinstance(var, dict) or not isinstance(var.get("name"), str):
            raise ValueError("each of 'command.environment.variables' needs a 'name'")
        out[var["name"]] = str(var.get("value", ""))
    return out


def input_record(record: Any) -> InputRecord:
    """One ATTACH_CONTAINER_INPUT message (the whole agent Call)."""
    if not isinstance(record, dict) or record.get("type") != "ATTACH_CONTAINER_INPUT":
        raise ValueError("each record of the stream must be an ATTACH_CONTAINER_INPUT call")
    body = record.get("attach_container_input")
    if not isinstance(body, dict):
        raise ValueError("'attach_container_input' must be an object")
    if body.get("type") == "CONTAINER_ID":
        return InputRecord("container_id", container=container_id(body.get("container_id")))
    if body.get("type") != "PROCESS_IO":
        raise ValueError(f"'attach_container_input.type' must be CONTAINER_ID or PROCESS_IO, not {body.get('type')!r}")
    io = body.get("process_io") or {}
    if io.get("type") == "DATA":
        data = io.get("data") or {}
        if data.get("type") != "STDIN":
            raise ValueError(f"input DATA must be of type STDIN, not {data.get('type')!r}")
        try:
            return InputRecord("stdin", data=base64.b64decode(data.get("data") or "", validate=True))
        except (binascii.Error, TypeError):
            raise ValueError("input DATA's 'data' must be base64") from None
    if io.get("type") == "CONTROL":
        control = io.get("control") or {}
        if control.get("type") == "HEARTBEAT":
            return InputRecord("heartbeat")
        if control.get("type") == "TTY_INFO":
            return InputRecord("window", window=_window((control.get("tty_info") or {}).get("window_size")))
        raise ValueError(f"CONTROL must be HEARTBEAT or TTY_INFO, not {control.get('type')!r}")
    raise ValueError(f"'process_io.type' must be DATA or CONTROL, not {io.get('type')!r}")


def output_record(stream: str, data: bytes) -> dict[str, Any]:
    """A ProcessIO DATA record of the container's STDOUT or STDERR."""
    return {"type": "DATA", "data": {"type": stream, "data": base64.b64encode(data).decode()}}


def _window(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        rows, columns = int(size["rows"]), int(size["columns"])
    except (TypeError, KeyError, ValueError):
        raise ValueError("'window_size' needs integer 'rows' and 'columns'") from None
    if not (0 <= rows < 65536 and 0 <= columns < 65536):
        raise ValueError("'window_size' rows and columns must be 0-65535")
    return rows, columns
