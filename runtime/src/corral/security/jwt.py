"""HS256 JSON Web Tokens (RFC 7519), as Mesos uses for executor tokens.

Only what Corral needs: sign a claims object with a shared key, and verify
a token's signature and expiry.  Verification never raises on bad input; it
returns None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], key: bytes) -> str:
    head = _b64(json.dumps(HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{head}.{body}".encode()
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def decode(token: str, key: bytes, now: float | None = None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token signed with `key`; otherwise None."""
    try:
        head, body, signature = token.split(".")
        header = json.loads(_unb64(head))
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        expected = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if exp is not None:
        if not isinstance(exp, (int, float)) or (now if now is not None else time.time()) >= exp:
            return None
    return claims


def load_or_create_key(path: str) -> bytes:
    """A signing key from a file; created (random, mode 0600) if the file does not exist."""
    try:
        with open(path, "rb") as fh:
            key = fh.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def read_key(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            key = fh.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(key) < 16:
        raise ValueError(f"{path}: a signing key needs at least 16 bytes")
    return key


@dataclass(frozen=True)
class KeyFile:
    """A signing key and the file it was read from (what /flags shows)."""

    path: str
    key: bytes = field(repr=False)

    @classmethod
    def read(cls, path: str) -> "KeyFile":
        return cls(path, read_key(path))

    def __str__(self) -> str:
        return self.path
