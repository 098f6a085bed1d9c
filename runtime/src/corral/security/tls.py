"""TLS for every Corral HTTP endpoint.

A daemon with `--ssl_cert_file`/`--ssl_key_file` serves HTTPS only.  Its
outgoing connections (agent -> master, master -> agent for the sandbox
proxy, the CLI) verify the peer against `--ssl_ca_file` (or the system
store), hostname included, unless `--ssl_verify_cert=false`.  With
`--ssl_require_client_cert` the server also demands a client certificate
signed by the CA (mutual TLS): daemons then present their own certificate
when they connect out, and executors get it through the environment.

Executors learn TLS settings the way Mesos passes them: `LIBPROCESS_SSL_*`
variables (ENABLED, CA_FILE, CERT_FILE, KEY_FILE, VERIFY_CERT).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any


class TLSError(ValueError):
    pass


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    require_client_cert: bool = False
    verify_cert: bool = True

    @classmethod
    def from_flags(cls, flags: dict[str, Any]) -> "TLSConfig":
        return cls(
            cert_file=flags.get("ssl_cert_file"),
            key_file=flags.get("ssl_key_file"),
            ca_file=flags.get("ssl_ca_file"),
            require_client_cert=bool(flags.get("ssl_require_client_cert")),
            verify_cert=flags.get("ssl_verify_cert", True) is not False,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    @property
    def scheme(self) -> str:
        return "https" if self.enabled else "http"

    def check(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise TLSError("--ssl_cert_file and --ssl_key_file go together")
        if self.require_client_cert and not self.ca_file:
            raise TLSError("--ssl_require_client_cert needs --ssl_ca_file (the CA that signs client certificates)")
        for flag, path in (("--ssl_cert_file", self.cert_file), ("--ssl_key_file", self.key_file), ("--ssl_ca_file", self.ca_file)):
            if path and not os.access(path, os.R_OK):
                raise TLSError(f"{flag}: cannot read {path}")

    def server_context(self) -> ssl.SSLContext | None:
        if not self.enabled:
            return None
        self.check()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)  # type: ignore[arg-type]
            if self.ca_file:
                ctx.load_verify_locations(cafile=self.ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise TLSError(f"cannot load the TLS certificate/key/CA: {exc}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_NONE
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """For connections out of this daemon (also used against plain-HTTP peers: no harm)."""
        if self.verify_cert:
            ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file and self.key_file:
            try:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            except (ssl.SSLError, OSError) as exc:
                raise TLSError(f"cannot load the TLS client certificate: {exc}") from None
        return ctx

    def executor_env(self) -> dict[str, str]:
        if not self.enabled:
            return {}
        env = {"LIBPROCESS_SSL_ENABLED": "true", "LIBPROCESS_SSL_VERIFY_CERT": "true" if self.verify_cert else "false"}
        if self.ca_file:
            env["LIBPROCESS_SSL_CA_FILE"] = os.path.abspath(self.ca_file)
        if self.require_client_cert and self.cert_file and self.key_file:
            env["LIBPROCESS_SSL_CERT_FILE"] = os.path.abspath(self.cert_file)
            env["LIBPROCESS_SSL_KEY_FILE"] = os.path.abspath(self.key_file)
        return env
