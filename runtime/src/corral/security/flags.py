"""The security flags of the master and the agent (Mesos's names).

The credentials, ACL and key flags load their files at start-up: their values are the
loaded objects, so that a malformed file stops the daemon with a message naming the flag,
and each object shows where it came from (its path), never the secrets it holds.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from corral import config
from corral.config import Flag
from corral.security.acls import ACLs, load_acls, parse_acls
from corral.security.credentials import load_credential, load_credentials
from corral.security.jwt import KeyFile


def acls(value: Any) -> ACLs | None:
    """A path, a `file://` URL or inline JSON; a YAML config may hold the ACLs as a mapping."""
    if isinstance(value, Mapping):
        import json

        parsed = parse_acls(dict(value), "ACLs")
        parsed.source = json.dumps(value, default=str)
        return parsed
    spec = config.as_optional_str(value)
    return load_acls(spec) if spec is not None else None


def readable_file(value: Any) -> str | None:
    path = config.as_optional_str(value)
    if path is None:
        return None
    if not os.access(path, os.R_OK):
        raise ValueError(f"cannot read {path}")
    return path


credentials = config.optional(load_credentials)
credential = config.optional(load_credential)
key_file = config.optional(KeyFile.read)


def _tls_flags() -> list[Flag]:
    return [
        Flag("ssl_cert_file", readable_file, None, "PEM certificate: serve HTTPS only (with --ssl_key_file)"),
        Flag("ssl_key_file", readable_file, None, "PEM private key of --ssl_cert_file"),
        Flag("ssl_ca_file", readable_file, None, "PEM CA bundle to verify peers (and client certificates)"),
        Flag("ssl_require_client_cert", config.as_bool, False, "Demand client certificates signed by --ssl_ca_file (mutual TLS)"),
        Flag("ssl_verify_cert", config.as_bool, True, "Verify the certificates (and hostnames) of the peers this daemon connects to"),
    ]


MASTER_FLAGS = [
    Flag("authenticate_frameworks", config.as_bool, False, "Require frameworks to authenticate (HTTP Basic or bearer)"),
    Flag("authenticate_agents", config.as_bool, False, "Require agents to authenticate (their --credential)"),
    Flag("authenticate_http_readwrite", config.as_bool, False, "Require authentication for the operator API and other write endpoints"),
    Flag("authenticate_http_readonly", config.as_bool, False, "Require authentication for /state, /metrics, the web UI and other read endpoints"),
    Flag("credentials", credentials, None, "JSON file of principals and secrets (and bearer tokens)"),
    Flag("acls", acls, None, "ACLs (Mesos's JSON format): a file path or inline JSON"),
    Flag("jwt_secret_key", key_file, None, "File with the HMAC key of operator bearer JWTs (claim 'sub' = principal)"),
    Flag("credential", credential, None, "The master's own principal/secret, used when it calls agents (sandbox proxy)"),
    *_tls_flags(),
]

AGENT_FLAGS = [
    Flag("credential", credential, None, "File with this agent's principal and secret for the master"),
    Flag("authenticate_http_readonly", config.as_bool, False, "Require authentication for /state, /files and other read endpoints"),
    Flag("authenticate_http_readwrite", config.as_bool, False, "Require authentication for write endpoints"),
    Flag("authenticate_http_executors", config.as_bool, False, "Require executors to present their per-executor token"),
    Flag("credentials", credentials, None, "JSON file of principals and secrets for this agent's HTTP endpoints"),
    Flag("acls", acls, None, "ACLs (access_sandboxes, view_*): a file path or inline JSON"),
    Flag("jwt_secret_key", key_file, None, "File with the HMAC key for executor tokens (default: generated in work_dir/meta)"),
    *_tls_flags(),
]
