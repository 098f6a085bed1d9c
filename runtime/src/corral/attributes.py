"""An agent's attributes, in Mesos's `--attributes` syntax: `rack:r1;os:debian;cores:8;zones:{a,b};ids:[1-4]`.

`Attributes.parse` reads that text (or a mapping of name: value, as a YAML config holds it)
once, into Mesos's Attribute JSON: a number is SCALAR, `[a-b,...]` RANGES, `{x,y}` SET, any
other value TEXT; `Attributes.from_json` reads that JSON back (the master, from what agents
registered with).

This module is the one renderer of attributes as text: `str()` is the `--attributes` text
(`/flags`, the CLI's agents table through `state_text`), `values()` what `/state` shows, and
each value is written the same way everywhere (`rack:r1`, `cores:8`, `ids:[1-4, 8-9]`,
`zones:{a,b}`; the dashboard's app.js follows it).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from corral.resources import ResourceError, format_ranges, parse_ranges

_SCALAR = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NAME = re.compile(r"^[^\s:;\x00-\x1f\x7f]+$")
_CONTROL = re.compile(r"[;\x00-\x1f\x7f]")


class Attributes:
    """Immutable; `to_json()` is Mesos's `[Attribute]`, `str()` the `--attributes` text."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[str, str, Any], ...] = ()) -> None:
        self._items = items  # (name, type, value): SCALAR float, TEXT str, SET tuple[str], RANGES tuple[(b, e)]

    @classmethod
    def parse(cls, value: Any) -> "Attributes":
        if isinstance(value, Mapping):
            pairs = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError("expected name:value;name:value or a mapping of name: value")
        else:
            pairs = []
            for part in str(value).split(";"):
                part = part.strip()
                if not part:
                    continue
                name, sep, text = part.partition(":")
                if not sep or not name.strip() or not text.strip():
                    raise ValueError(f"'{part}' is not name:value")
                pairs.append((name.strip(), text.strip()))
        items: list[tuple[str, str, Any]] = []
        for name, raw in pairs:
            if not _NAME.match(name):
                raise ValueError(f"attribute name '{name}' must be one word without ':' or ';'")
            if any(name == seen for seen, _, _ in items):
                raise ValueError(f"attribute '{name}' is given twice")
            items.append((name, *_value(name, raw)))
        return cls(tuple(items))

    @classmethod
    def from_json(cls, attributes: Iterable[Any]) -> "Attributes":
        """Mesos's `[Attribute]` JSON, leniently (it comes from agents): an entry without a name,
        of an unknown type or with a malformed value is left out."""
        items: list[tuple[str, str, Any]] = []
        for attr in attributes or ():
            if not isinstance(attr, Mapping) or not isinstance(attr.get("name"), str):
                continue
            try:
                item = _from_json(attr)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if item is not None:
                items.append((attr["name"], *item))
        return cls(tuple(items))

    def to_json(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, kind, value in self._items:
            if kind == "SCALAR":
                out.append({"name": name, "type": kind, "scalar": {"value": value}})
            elif kind == "RANGES":
                out.append({"name": name, "type": kind, "ranges": {"range": [{"begin": b, "end": e} for b, e in value]}})
            elif kind == "SET":
                out.append({"name": name, "type": kind, "set": {"item": list(value)}})
            else:
                out.append({"name": name, "type": kind, "text": {"value": value}})
        return out

    def texts(self) -> dict[str, str]:
        """name -> its value as text (`r1`, `8`, `[1-4, 8-9]`, `{a,b}`)."""
        return {name: _text(kind, value) for name, kind, value in self._items}

    def values(self) -> dict[str, Any]:
        """name -> value as an agent's /state shows it: numbers as numbers, the rest as text."""
        return {name: value if kind == "SCALAR" else _text(kind, value) for name, kind, value in self._items}

    def __str__(self) -> str:
        return ";".join(f"{name}:{_text(kind, value)}" for name, kind, value in self._items)

    def __repr__(self) -> str:
        return f"Attributes({str(self)!r})"

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Attributes) and self._items == other._items


def state_text(values: Mapping[str, Any]) -> str:
    """The `--attributes` text of the attributes an agent's `/state` shows (`values()`: name ->
    a number, or a value already written as text)."""
    return ";".join(
        f"{name}:{_text('SCALAR', float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else v}"
        for name, v in values.items()
    )


def _from_json(attr: Mapping[str, Any]) -> tuple[str, Any] | None:
    kind = attr.get("type")
    if kind == "SCALAR":
        return kind, float(attr["scalar"]["value"])
    if kind == "TEXT":
        text = attr["text"]["value"]
        return (kind, text) if isinstance(text, str) else None
    if kind == "RANGES":
        return kind, tuple((int(r["begin"]), int(r["end"])) for r in attr["ranges"].get("range", []))
    if kind == "SET":
        return kind, tuple(str(item) for item in attr["set"].get("item", []))
    return None


def _value(name: str, raw: Any) -> tuple[str, Any]:
    if isinstance(raw, bool):
        return "TEXT", "true" if raw else "false"
    if isinstance(raw, (int, float)):
        return "SCALAR", _scalar(name, float(raw))
    if not isinstance(raw, str):
        raise ValueError(f"attribute '{name}': expected a number or a text, not {type(raw).__name__}")
    text = raw.strip()
    if not text or _CONTROL.search(text):
        raise ValueError(f"attribute '{name}': '{raw}' is not a value (empty, or with ';' or control characters)")
    if text.startswith("["):
        try:
            return "RANGES", parse_ranges(text)
        except ResourceError as exc:
            raise ValueError(f"'{name}:{text}': {exc}") from None
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ValueError(f"'{name}:{text}': unterminated set")
        return "SET", tuple(item.strip() for item in text[1:-1].split(",") if item.strip())
    if _SCALAR.match(text):
        return "SCALAR", _scalar(name, float(text))
    return "TEXT", text


def _scalar(name: str, number: float) -> float:
    if not math.isfinite(number):
        raise ValueError(f"attribute '{name}': {number} is not a finite number")
    return number


def _text(kind: str, value: Any) -> str:
    if kind == "SCALAR":
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if kind == "RANGES":
        return format_ranges(value)
    if kind == "SET":
        return "{" + ",".join(value) + "}"
    return str(value)
