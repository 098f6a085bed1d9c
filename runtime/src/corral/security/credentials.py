"""Principals and their secrets, from a Mesos-style credentials file.

The file is JSON (or YAML):

    {"credentials": [{"principal": "spark", "secret": "s3cret"}, ...],
     "tokens": [{"principal": "ops", "token": "..."},
                {"principal": "ci", "token_sha256": "<hex digest of the token>"}]}

or Mesos's text form, one `principal secret` pair per line.  `credentials`
serve HTTP Basic; `tokens` serve `Authorization: Bearer <token>` (storing
only the SHA-256 of a token keeps the token itself off the master).
Comparisons are constant-time; secrets are never part of an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml


class CredentialsError(ValueError):
    """The credentials file is missing or malformed (the message never holds a secret)."""


class AuthenticationError(Exception):
    """A request carried credentials that are not valid; becomes a 401."""


@dataclass(frozen=True)
class Credential:
    principal: str
    secret: str = field(repr=False)
    source: str = field(default="", compare=False)  # the file it came from (what /flags shows)

    def __str__(self) -> str:
        return self.source


@dataclass
class Credentials:
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # sha256(token) hex -> principal
    token_digests: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = field(default="", compare=False)

    def __len__(self) -> int:
        return len(self.secrets) + len(self.token_digests)

    def __str__(self) -> str:
        return self.source

    def check_basic(self, principal: str, secret: str) -> bool:
        expected = self.secrets.get(principal)
        # Compare against something even for unknown principals: no timing oracle.
        ok = hmac.compare_digest((expected or "\0" * len(secret)).encode(), secret.encode())
        return ok and expected is not None

    def principal_for_token(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known, principal in self.token_digests.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None

    def all_secrets(self) -> list[str]:
        """Everything that must never be shown (for leak checks and log scrubbing)."""
        return list(self.secrets.values())


def load_credentials(path: str) -> Credentials:
    """A credentials file; errors name the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        mode = os.stat(path).st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        import logging

        logging.getLogger(__name__).warning("%s is readable by other users; chmod 600 it", path)
    try:
        creds = parse_credentials(text)
    except CredentialsError as exc:
        raise CredentialsError(f"{path}: {exc}") from None
    creds.source = path
    return creds


def load_credential(path: str) -> Credential:
    """One principal/secret pair (an agent's `--credential`, a CLI's `--credential`)."""
    creds = load_credentials(path)
    if len(creds.secrets) != 1:
        raise CredentialsError(f"{path}: expected exactly one principal and secret")
    principal, secret = next(iter(creds.secrets.items()))
    return Credential(principal, secret, path)


def parse_credentials(text: str) -> Credentials:
    """A credentials file's content: JSON or YAML (see the module's docstring), or Mesos's
    text form, one `principal secret` per line."""
    stripped = text.strip()
    if not stripped:
        raise CredentialsError("empty credentials file")
    if stripped[0] in "{[" or stripped.startswith("credentials:") or stripped.startswith("tokens:"):
        try:
            data: Any = json.loads(stripped) if stripped[0] in "{[" else yaml.safe_load(stripped)
        except (ValueError, yaml.YAMLError):
            raise CredentialsError("not valid JSON/YAML") from None
        return credentials_from_json(data)
    creds = Credentials()
    for n, line in enumerate(stripped.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise CredentialsError(f"line {n}: expected 'principal secret'")
        _add_secret(creds, f"line {n}", parts[0], parts[1].strip())
    return creds


def credentials_from_json(data: Any) -> Credentials:
    """`{"credentials": [{"principal", "secret"}], "tokens": [...]}` (or just the list of credentials)."""
    if isinstance(data, list):
        data = {"credentials": data}
    if not isinstance(data, dict):
        raise CredentialsError("expected an object with 'credentials' and/or 'tokens'")
    unknown = set(data) - {"credentials", "tokens"}
    if unknown:
        raise CredentialsError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    entries, tokens = data.get("credentials") or [], data.get("tokens") or []
    if not isinstance(entries, list) or not isinstance(tokens, list):
        raise CredentialsError("'credentials' and 'tokens' must be lists")
    creds = Credentials()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"principal", "secret"}:
            raise CredentialsError(f"entry {i}: expected exactly the keys principal and secret")
        principal, secret = entry["principal"], entry["secret"]
        if isinstance(principal, str) and principal and (not isinstance(secret, str) or not secret):
            raise CredentialsError(f"entry {i} ({principal}): the secret must be a non-empty string")
        _add_secret(creds, f"entry {i}", principal, secret)
    for i, entry in enumerate(tokens):
        principal = entry.get("principal") if isinstance(entry, dict) else None
        problem = _principal_problem(principal)
        if problem:
            raise CredentialsError(f"token {i}: {problem}")
        assert isinstance(entry, dict) and isinstance(principal, str)
        if isinstance(entry.get("token"), str) and entry["token"]:
            digest = hashlib.sha256(entry["token"].encode()).hexdigest()
        elif isinstance(entry.get("token_sha256"), str) and re.fullmatch(r"[0-9a-fA-F]{64}", entry["token_sha256"]):
            digest = entry["token_sha256"].lower()
        else:
            raise CredentialsError(f"token {i} ({principal}) needs 'token' or a 64-hex 'token_sha256'")
        creds.token_digests[digest] = principal
    if not creds:
        raise CredentialsError("no credentials or tokens")
    return creds


def _add_secret(creds: Credentials, where: str, principal: Any, secret: Any) -> None:
    problem = _principal_problem(principal)
    if problem:
        raise CredentialsError(f"{where}: {problem}")
    if principal in creds.secrets:
        raise CredentialsError(f"{where}: principal {principal} is listed twice")
    creds.secrets[principal] = secret


def parse_principal(text: str) -> str:
    """A principal given alone (a framework's `--principal`), checked as in a credentials file."""
    problem = _principal_problem(text)
    if problem:
        raise CredentialsError(problem)
    return text


def _principal_problem(principal: Any) -> str:
    """'' for a principal that HTTP Basic can carry: one word, no ':' (it ends the principal)."""
    if not isinstance(principal, str) or not principal.strip() or any(c.isspace() for c in principal):
        return "the principal must be a non-empty word"
    if ":" in principal:
        return f"principal '{principal}' cannot contain ':' (HTTP Basic ends the principal at the first ':')"
    if not principal.isprintable():
        return "the principal must be printable"
    return ""


# ----------------------------------------------------------------- HTTP headers


def basic_header(principal: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


def parse_authorization(header: str) -> tuple[str, str, str]:
    """`Basic ...` -> ("basic", principal, secret); `Bearer t` -> ("bearer", "", t)."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthenticationError("Malformed 'Authorization: Basic' header") from None
        principal, sep, secret = decoded.partition(":")
        if not sep or not principal:
            raise AuthenticationError("Malformed 'Authorization: Basic' header (expected principal:secret)")
        return "basic", principal, secret
    if scheme == "bearer":
        if not value:
            raise AuthenticationError("Empty bearer token")
        if not value.isascii():  # tokens are token68 (RFC 6750); the server decodes other bytes as surrogates
            raise AuthenticationError("Malformed 'Authorization: Bearer' header (a token is ASCII)")
        return "bearer", "", value
    raise AuthenticationError(f"Unsupported authentication scheme '{scheme[:20]}' (use Basic or Bearer)")


TokenVerifier = Callable[[str], "str | None"]


class Authenticator:
    """Turns an `Authorization` header into a principal (or raises AuthenticationError)."""

    def __init__(self, credentials: Credentials | None, token_verifiers: list[TokenVerifier] | None = None) -> None:
        self.credentials = credentials or Credentials()
        self.token_verifiers = list(token_verifiers or [])

    def authenticate(self, header: str | None) -> str | None:
        """The principal, None when no credentials were given; raises when they are wrong."""
        if not header:
            return None
        kind, principal, secret = parse_authorization(header)
        if kind == "basic":
            if self.credentials.check_basic(principal, secret):
                return principal
            raise AuthenticationError(f"Invalid credentials for principal '{principal[:64]}'")
        found = self.credentials.principal_for_token(secret)
        if found is not None:
            return found
        for verify in self.token_verifiers:
            found = verify(secret)
            if found is not None:
                return found
        raise AuthenticationError("Invalid or expired bearer token")
