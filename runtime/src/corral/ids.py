"""Identifier helpers.  Mesos IDs are JSON objects `{"value": "..."}`."""

from __future__ import annotations

import re
from typing import Any

_BAD_ID = re.compile(r"[/\\\x00-\x20\x7f]")


def value_of(obj: Any) -> str | None:
    """`{"value": "x"}` -> "x"; None for anything else."""
    if isinstance(obj, dict):
        v = obj.get("value")
        if isinstance(v, str):
            return v
    return None


def wrap(value: str) -> dict[str, str]:
    return {"value": value}


def validate_id(value: str | None, what: str) -> str | None:
    """Mesos's ID rules; returns an error message or None."""
    if not value:
        return f"{what} must be a non-empty string"
    if value in (".", ".."):
        return f"{what} '{value}' is not allowed"
    if len(value) > 255:
        return f"{what} is longer than 255 characters"
    if _BAD_ID.search(value):
        return f"{what} '{value}' contains '/', '\\\\', whitespace or control characters"
    return None
