"""Test support for the operator, security and web UI suites.

Builds on the real-process cluster of `support.cluster` (`Cluster`, `Daemon`)
and adds what secured clusters need: credentials and ACL files, a throwaway
CA with certificates (cryptography), HTTP with Basic/bearer/TLS that returns
errors instead of raising, and a cluster whose readiness checks speak HTTPS
and authenticate.  The fixtures that use them are in operator/conftest.py.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.cluster import FAST_MASTER, Cluster, Daemon, free_port, wait_for
from support.raw_scheduler import RawScheduler, launch, task  # noqa: F401  (the tests use opskit.launch, opskit.task)

# ---------------------------------------------------------------- credentials and ACLs

PRINCIPALS = {
    "ops": "ops-secret-0f3c9a",          # operator: everything
    "viewer": "viewer-secret-77ad21",     # operator: read-only, limited views
    "spark": "spark-secret-5be812",       # framework principal
    "agent": "agent-secret-c4e09d",       # agents
}
TOKENS = {"ci-token-9d1e7b55c2": "ops"}   # bearer token -> principal
JWT_KEY = "jwt-signing-key-for-tests-31f6a0b2d9e4"


def basic(principal: str, secret: str | None = None) -> str:
    secret = PRINCIPALS[principal] if secret is None else secret
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


def write_credentials(directory: Path) -> dict[str, Path]:
    """The credentials file (Mesos JSON + bearer tokens), the agent's single credential, a JWT key."""
    directory.mkdir(parents=True, exist_ok=True)
    creds = directory / "credentials.json"
    creds.write_text(json.dumps({
        "credentials": [{"principal": p, "secret": s} for p, s in PRINCIPALS.items()],
        "tokens": [{"principal": p, "token": t} for t, p in TOKENS.items()],
    }))
    agent = directory / "agent-credential.json"
    agent.write_text(json.dumps({"credentials": [{"principal": "agent", "secret": PRINCIPALS["agent"]}]}))
    key = directory / "jwt.key"
    key.write_text(JWT_KEY)
    for path in (creds, agent, key):
        os.chmod(path, 0o600)
    return {"credentials": creds, "credential": agent, "jwt_key": key}


def write_acls(directory: Path, acls: dict[str, Any], name: str = "acls.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(acls))
    return path


def secrets() -> list[str]:
    return list(PRINCIPALS.values()) + list(TOKENS) + [JWT_KEY]


# ---------------------------------------------------------------- a throwaway CA


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here (for "wrong CA" checks)


def make_certs(directory: Path) -> Certs:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(k, path):
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(path, 0o600)

    def make_ca(cn):
        k = key()
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(k.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(k, hashes.SHA256()))
        return k, cert

    def leaf(ca_key, ca_cert, cn, usage):
        k = key()
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_cert.subject).public_key(k.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return k, cert

    ca_key, ca_cert = make_ca("corral test CA")
    _, other_cert = make_ca("some other CA")
    server_key, server_cert = leaf(ca_key, ca_cert, "corral node", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    client_key, client_cert = leaf(ca_key, ca_cert, "corral operator", [ExtendedKeyUsageOID.CLIENT_AUTH])
    pem = serialization.Encoding.PEM
    certs = Certs(directory / "ca.pem", directory / "node.pem", directory / "node-key.pem",
                  directory / "operator.pem", directory / "operator-key.pem", directory / "other-ca.pem")
    certs.ca.write_bytes(ca_cert.public_bytes(pem))
    certs.other_ca.write_bytes(other_cert.public_bytes(pem))
    certs.server_cert.write_bytes(server_cert.public_bytes(pem))
    write_key(server_key, certs.server_key)
    certs.client_cert.write_bytes(client_cert.public_bytes(pem))
    write_key(client_key, certs.client_key)
    return certs


def tls_flags(certs: Certs, require_client_cert: bool = False) -> list[str]:
    flags = ["--ssl_cert_file", str(certs.server_cert), "--ssl_key_file", str(certs.server_key), "--ssl_ca_file", str(certs.ca)]
    if require_client_cert:
        flags += ["--ssl_require_client_cert", "true"]
    return flags


def client_ssl(certs: Certs, with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    if with_cert:
        ctx.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return ctx


# ---------------------------------------------------------------- HTTP that returns errors


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
            ctx: ssl.SSLContext | None = None, timeout: float = 15.0) -> Reply:
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
    try:
        with opener.open(req, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def operator(base: str, call: dict[str, Any] | str, auth: str | None = None, ctx: ssl.SSLContext | None = None) -> Reply:
    body = {"type": call} if isinstance(call, str) else call
    return request("POST", f"{base}/api/v1", body, {"Authorization": auth} if auth else None, ctx)


# ---------------------------------------------------------------- a cluster that may be secured


class SecureCluster(Cluster):
    """`Cluster` whose readiness checks use HTTPS and credentials when the cluster needs them."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.scheme = "http"
        self.ctx: ssl.SSLContext | None = None
        self.auth: str | None = None

    def secure(self, scheme: str = "http", ctx: ssl.SSLContext | None = None, auth: str | None = None) -> "SecureCluster":
        self.scheme, self.ctx, self.auth = scheme, ctx, auth
        return self

    @property
    def url(self) -> str:
        assert self.master is not None
        return f"{self.scheme}://{self.master.address}"

    def get(self, path: str, auth: str | None = "default", base: str | None = None) -> Reply:
        auth = self.auth if auth == "default" else auth
        return request("GET", (base or self.url) + path, headers={"Authorization": auth} if auth else None, ctx=self.ctx)

    def call(self, call: dict[str, Any] | str, auth: str | None = "default") -> Reply:
        return operator(self.url, call, self.auth if auth == "default" else auth, self.ctx)

    def state(self) -> dict[str, Any]:
        reply = self.get("/state")
        assert reply.status == 200, (reply.status, reply.text)
        return reply.json()

    def start_master(self, *extra: str) -> Daemon:
        port = free_port()
        args = ["--ip", "127.0.0.1", "--port", str(port), "--work_dir", str(self.root / "master"), *FAST_MASTER, *extra]
        self.master = Daemon("master", args, self.root / "master.log", port).start()
        self.daemons.append(self.master)
        wait_for(lambda: self.get("/health", auth=None).status == 200, what="the master to answer /health")
        return self.master


def logs_text(cluster: Cluster) -> str:
    return "\n".join(d.log.read_text(errors="replace") for d in cluster.daemons if d.log.exists())


# ---------------------------------------------------------------- a v1 scheduler with credentials and TLS


class AuthScheduler(RawScheduler):
    """RawScheduler with credentials, TLS, and acknowledgements of status updates (as pymesos does)."""

    def __init__(self, master: str, framework_info: dict[str, Any] | None = None, auth: str | None = None,
                 ctx: ssl.SSLContext | None = None, auto_acknowledge: bool = True) -> None:
        super().__init__(master, framework_info)
        self.auth = auth
        self.ctx = ctx
        self.auto_acknowledge = auto_acknowledge

    def _received(self, event: dict[str, Any]) -> None:
        import threading

        status = (event.get("update") or {}).get("status") or {}
        if self.auto_acknowledge and event.get("type") == "UPDATE" and status.get("uuid"):
            threading.Thread(target=self._ack, args=(status,), daemon=True).start()

    def _ack(self, status: dict[str, Any]) -> None:
        try:
            self.post({"type": "ACKNOWLEDGE", "acknowledge": {
                "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})
        except OSError:
            pass

    def _connection(self, timeout: float):
        import http.client

        if self.ctx is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **(extra or {})}
        if self.auth:
            headers["Authorization"] = self.auth
        return headers

    def try_subscribe(self) -> tuple[int, str]:
        """(200, "") once SUBSCRIBED arrived, else the refusal's (status, body)."""
        import threading

        self._conn = self._connection(60)
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.info}}
        self._conn.request("POST", "/api/v1/scheduler", json.dumps(body), self._headers())
        response = self._conn.getresponse()
        if response.status != 200:
            text = response.read().decode(errors="replace")
            self._conn.close()
            return response.status, text
        self.stream_id = response.getheader("Mesos-Stream-Id")
        threading.Thread(target=self._read, args=(response,), daemon=True).start()
        first = self.wait(lambda e: e["type"] in ("SUBSCRIBED", "ERROR"))
        if first["type"] == "ERROR":
            return 200, first["error"]["message"]
        self.framework_id = first["subscribed"]["framework_id"]["value"]
        return 200, ""

    def subscribe(self) -> "AuthScheduler":
        status, text = self.try_subscribe()
        assert status == 200 and not text, (status, text)
        return self

    def post(self, call: Any, stream_id: Any = True, content_type: str = "application/json") -> tuple[int, str]:
        sid = self.stream_id if stream_id is True else stream_id
        headers = self._headers({"Content-Type": content_type, **({"Mesos-Stream-Id": sid} if sid else {})})
        conn = self._connection(10)
        body = call if isinstance(call, (bytes, str)) else json.dumps({"framework_id": {"value": self.framework_id}, **call})
        conn.request("POST", "/api/v1/scheduler", body, headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        return response.status, text
