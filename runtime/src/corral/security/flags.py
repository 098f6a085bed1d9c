"""The security flags of the master and the agent (Mesos's names).

Parsers validate the files they point at, so that a malformed credentials
or ACL file stops the daemon at start-up with a message naming the flag.
Values stay paths: `/flags` and `/state` show where secrets live, never the
secrets themselves.
"""

from __future__ import annotations

import os
from typing import Any

from corral import config
from corral.config import Flag
from corral.security.acls import ACLError, load_acls
from corral.security.credentials import CredentialsError, load_credential, load_credentials


def credentials_file(value: Any) -> str | None:
    path = config.as_optional_str(value)
    if path is None:
        return None
    try:
        load_credentials(path)
    except CredentialsError as exc:
        raise ValueError(str(exc)) from None
    return path


def credential_file(value: Any) -> str | None:
    path = config.as_optional_str(value)
    if path is None:
        return None
    try:
        load_credential(path)
    except CredentialsError as exc:
        raise ValueError(str(exc)) from None
    return path


def acls_spec(value: Any) -> str | None:
    if isinstance(value, dict):
        import json

        value = json.dumps(value)
    spec = config.as_optional_str(value)
    if spec is None:
        return None
    try:
        load_acls(spec)
    except ACLError as exc:
        raise ValueError(str(exc)) from None
    return spec


def readable_file(value: Any) -> str | None:
    path = config.as_optional_str(value)
    if path is None:
        return None
    if not os.access(path, os.R_OK):
        raise ValueError(f"cannot read {path}")
    return path


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
    Flag("credentials", credentials_file, None, "JSON file of principals and secrets (and bearer tokens)"),
    Flag("acls", acls_spec, None, "ACLs (Mesos's JSON format): a file path or inline JSON"),
    Flag("jwt_secret_key", readable_file, None, "File with the HMAC key of operator bearer JWTs (claim 'sub' = principal)"),
    Flag("credential", credential_file, None, "The master's own principal/secret, used when it calls agents (sandbox proxy)"),
    *_tls_flags(),
]

AGENT_FLAGS = [
    Flag("credential", credential_file, None, "File with this agent's principal and secret for the master"),
    Flag("authenticate_http_readonly", config.as_bool, False, "Require authentication for /state, /files and other read endpoints"),
    Flag("authenticate_http_readwrite", config.as_bool, False, "Require authentication for write endpoints"),
    Flag("authenticate_http_executors", config.as_bool, False, "Require executors to present their per-executor token"),
    Flag("credentials", credentials_file, None, "JSON file of principals and secrets for this agent's HTTP endpoints"),
    Flag("acls", acls_spec, None, "ACLs (access_sandboxes, view_*): a file path or inline JSON"),
    Flag("jwt_secret_key", readable_file, None, "File with the HMAC key for executor tokens (default: generated in work_dir/meta)"),
    *_tls_flags(),
]
