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


@dataclass
class Credentials:
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # sha256(token) hex -> principal
    token_digests: dict[str, str] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.secrets) + len(self.token_digests)

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
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        import logging

        logging.getLogger(__name__).warning("%s is readable by other users; chmod 600 it", path)
    return parse_credentials(text, path)


def parse_credentials(text: str, where: str = "credentials") -> Credentials:
    stripped = text.strip()
    creds = Credentials()
    if not stripped:
        raise CredentialsError(f"{where}: empty credentials file")
    if stripped[0] in "{[" or stripped.startswith("credentials:") or stripped.startswith("tokens:"):
        try:
            data: Any = json.loads(stripped) if stripped[0] in "{[" else yaml.safe_load(stripped)
        except (ValueError, yaml.YAMLError):
            raise CredentialsError(f"{where}: not valid JSON/YAML") from None
        if isinstance(data, list):
            data = {"credentials": data}
        if not isinstance(data, dict):
            raise CredentialsError(f"{where}: expected an object with 'credentials' and/or 'tokens'")
        unknown = set(data) - {"credentials", "tokens"}
        if unknown:
            raise CredentialsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for i, entry in enumerate(data.get("credentials") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("principal"), str) or not entry["principal"]:
                raise CredentialsError(f"{where}: credentials[{i}] needs a non-empty 'principal'")
            secret = entry.get("secret")
            if not isinstance(secret, str) or not secret:
                raise CredentialsError(f"{where}: credentials[{i}] ({entry['principal']}) needs a non-empty 'secret'")
            if ":" in entry["principal"]:
                raise CredentialsError(f"{where}: credentials[{i}]: a principal cannot contain ':'")
            creds.secrets[entry["principal"]] = secret
        for i, entry in enumerate(data.get("tokens") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("principal"), str) or not entry["principal"]:
                raise CredentialsError(f"{where}: tokens[{i}] needs a non-empty 'principal'")
            if isinstance(entry.get("token"), str) and entry["token"]:
                digest = hashlib.sha256(entry["token"].encode()).hexdigest()
            elif isinstance(entry.get("token_sha256"), str) and len(entry["token_sha256"]) == 64:
                digest = entry["token_sha256"].lower()
            else:
                raise CredentialsError(f"{where}: tokens[{i}] ({entry['principal']}) needs 'token' or a 64-hex 'token_sha256'")
            creds.token_digests[digest] = entry["principal"]
        if not creds:
            raise CredentialsError(f"{where}: no credentials or tokens")
        return creds
    for n, line in enumerate(stripped.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise CredentialsError(f"{where}:{n}: expected 'principal secret'")
        creds.secrets[parts[0]] = parts[1].strip()
    return creds


def load_credential(path: str) -> Credential:
    """One principal/secret pair (an agent's `--credential`, a CLI's `--credential`)."""
    creds = load_credentials(path)
    if len(creds.secrets) != 1:
        raise CredentialsError(f"{path}: expected exactly one principal and secret")
    principal, secret = next(iter(creds.secrets.items()))
    return Credential(principal, secret)


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
