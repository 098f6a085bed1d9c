"""Shared pieces of the typed wire messages and their decoding errors."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class ProtocolError(ValueError):
    """A request body that is not a valid message; becomes a 400 naming the field."""


class ID(msgspec.Struct):
    value: str


_AT = re.compile(r" - at `\$(.*)`$")


def decode_struct(body: bytes, type_: type[T], what: str) -> T:
    if not body:
        raise ProtocolError(f"Empty request body: expected a JSON {what}")
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"Invalid {what}: {_friendly(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"Malformed JSON in the {what}: {exc}") from None


def convert(data: Any, type_: type[T], what: str) -> T:
    try:
        return msgspec.convert(data, type=type_)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"Invalid {what}: {_friendly(str(exc))}") from None


def require_body(call: Any, field: str | None) -> None:
    if field is not None and getattr(call, field) is None:
        raise ProtocolError(f"Expecting '{field}' to be present")


def _friendly(message: str) -> str:
    """`Expected `str`, got `int` - at `$.x.y`` -> `x.y: expected `str`, got `int``."""
    m = _AT.search(message)
    if not m:
        return message
    path = m.group(1).lstrip(".")
    text = message[: m.start()]
    return f"{path}: {text[0].lower()}{text[1:]}" if path else text
