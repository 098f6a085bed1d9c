"""How the `corral` CLI talks to masters and agents: credentials, TLS and leader redirects.

Every command that reaches a cluster takes the same connection options
(also from the environment, so that a shell can be set up once):

    --principal/--secret (CORRAL_PRINCIPAL, CORRAL_SECRET)   HTTP Basic
    --credential FILE    (CORRAL_CREDENTIAL)                 a JSON file with one principal and secret
    --token TOKEN        (CORRAL_TOKEN)                      a bearer token (static or a JWT)
    --tls / --ca-file / --cert-file / --key-file             HTTPS, the CA to trust, a client certificate

Calls follow a standby master's 307 to the leader.  Errors become one-line
messages (HTTP status and the master's reason), never tracebacks.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

import click

META = "corral.connection"


@dataclass
class Connection:
    principal: str | None = None
    secret: str | None = None
    token: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls or self.ca_file or self.cert_file else "http"

    def headers(self) -> dict[str, str]:
        from corral.security.credentials import basic_header

        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.principal is not None:
            if self.secret is None:
                raise click.UsageError("--principal needs --secret (or CORRAL_SECRET, or --credential FILE)")
            return {"Authorization": basic_header(self.principal, self.secret)}
        return {}

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.scheme != "https":
            return None
        if self.insecure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def url(self, address: str, path: str) -> str:
        address = address.removeprefix("http://").removeprefix("https://").rstrip("/")
        return f"{self.scheme}://{address}{path}"


def current() -> Connection:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if META in ctx.meta:
            return ctx.meta[META]
        ctx = ctx.parent
    return Connection()


def _store(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        conn = ctx.meta.setdefault(META, Connection())
        if value is not None and value is not False:
            if field == "credential":
                from corral.security.credentials import CredentialsError, load_credential

                try:
                    credential = load_credential(value)
                except CredentialsError as exc:
                    raise click.BadParameter(str(exc)) from None
                conn.principal, conn.secret = credential.principal, credential.secret
            else:
                setattr(conn, field, value)
        return value

    return callback


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options to a command (their values go to `current()`, not to the function)."""
    options = [
        click.option("--principal", envvar="CORRAL_PRINCIPAL", expose_value=False, callback=_store("principal"),
                     help="Authenticate as this principal (HTTP Basic)"),
        click.option("--secret", envvar="CORRAL_SECRET", expose_value=False, callback=_store("secret"),
                     help="The principal's secret (prefer CORRAL_SECRET or --credential)"),
        click.option("--credential", envvar="CORRAL_CREDENTIAL", expose_value=False, callback=_store("credential"),
                     type=click.Path(dir_okay=False), help="JSON file with one principal and secret"),
        click.option("--token", envvar="CORRAL_TOKEN", expose_value=False, callback=_store("token"), help="Bearer token"),
        click.option("--tls", is_flag=True, envvar="CORRAL_TLS", expose_value=False, callback=_store("tls"), help="Use HTTPS"),
        click.option("--ca-file", envvar="CORRAL_CA_FILE", expose_value=False, callback=_store("ca_file"),
                     type=click.Path(exists=True, dir_okay=False), help="CA certificate(s) to trust (implies --tls)"),
        click.option("--cert-file", envvar="CORRAL_CERT_FILE", expose_value=False, callback=_store("cert_file"),
                     type=click.Path(exists=True, dir_okay=False), help="Client certificate for mutual TLS"),
        click.option("--key-file", envvar="CORRAL_KEY_FILE", expose_value=False, callback=_store("key_file"),
                     type=click.Path(exists=True, dir_okay=False), help="Key of --cert-file"),
        click.option("--insecure", is_flag=True, expose_value=False, callback=_store("insecure"),
                     help="Do not verify the server's certificate"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(url: str, data: Any = None, method: str | None = None, raw: bool = False, follow: int = 3,
            conn: Connection | None = None) -> Any:
    """GET (or POST JSON) with the current credentials and TLS (or `conn`'s, off click's thread);
    JSON back (bytes with `raw`)."""
    conn = conn or current()
    if url.startswith("http://") and conn.scheme == "https":
        url = "https://" + url.removeprefix("http://")
    req = urllib.request.Request(url, method=method, headers=conn.headers())
    if data is not None:
        req.data = data if isinstance(data, bytes) else json.dumps(data).encode()
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=conn.ssl_context()), _NoRedirect())
    try:
        with opener.open(req, timeout=15) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")[:300]
        location = exc.headers.get("Location")
        if exc.code in (301, 302, 303, 307, 308) and location and follow > 0:
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).path in ("", "/") and urllib.parse.urlsplit(url).path not in ("", "/"):
                target = target.rstrip("/") + urllib.parse.urlsplit(url).path
            return request(target, data, method, raw, follow - 1, conn)
        hint = {401: " (give --principal/--secret, --credential or --token)", 403: ""}.get(exc.code, "")
        raise click.ClickException(f"{url}: HTTP {exc.code}: {text}{hint}") from None
    except ssl.SSLError as exc:
        raise click.ClickException(f"TLS with {url} failed: {exc} (--ca-file? --insecure?)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot reach {url}: {reason}") from None
    if raw:
        return body
    return json.loads(body) if body else None


def operator_call(master: str, kind: str, body: dict[str, Any] | None = None, conn: Connection | None = None) -> Any:
    """A v1 operator call; its payload (`{"type": K, "k": {...}}` -> `{...}`), or None for an empty answer."""
    conn = conn or current()
    answer = request(conn.url(master, "/api/v1"), {"type": kind, **(body or {})}, conn=conn)
    return None if answer is None else answer.get(kind.lower())
