"""The token exchange: POST the assertion, read a bounded answer, turn it into a token or a typed error.

`read_token_response` is the one place a token-endpoint answer is interpreted; the sync and the async
exchange share it. Redirects are never followed (the assertion must not go to another host), bodies
are capped, every exchange ends by its deadline (see `transport`), and no error text includes the
request body.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import time
import zlib
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import httpcore
import httpx

from .errors import ConfigurationError, SfjwtError, TransientError, salesforce_error, scrub
from .token import AccessToken
from .transport import Transport, deadline, proxy_for

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange attempt: connect, send, headers and body
CONNECT_TIMEOUT = 5.0  # of which at most this for the connection (TCP and TLS)
HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "sfjwt-vault"}
_REQUEST_HEADERS = [
    (b"Accept", b"application/json"),
    (b"Accept-Encoding", b"gzip, deflate"),
    (b"User-Agent", b"sfjwt-vault"),
    (b"Content-Type", b"application/x-www-form-urlencoded"),
]

_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


class RawResponse(NamedTuple):
    """The parts of an HTTP answer we look at, read with a size cap."""

    status_code: int
    headers: httpx.Headers
    body: bytes


def request_body(assertion: str) -> dict[str, str]:
    return {"grant_type": GRANT_TYPE, "assertion": assertion}


def server_time(headers: httpx.Headers) -> float | None:
    """The endpoint's clock from its `Date` header, for skew hints."""
    value = headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def read_token_response(raw: RawResponse) -> AccessToken:
    """Interpret a token-endpoint answer. Raises the typed error the answer means."""
    status = raw.status_code
    if 300 <= status < 400:
        location = raw.headers.get("location", "")
        target = httpx.URL(location).host if location else "?"
        raise ConfigurationError(
            f"the token endpoint answered HTTP {status}, a redirect to {target or 'a relative URL'}; "
            "it was not followed, so the assertion was not sent there",
            hint="set the token URL to the final host (e.g. https://<domain>.my.salesforce.com)",
        )
    data = _json_object(raw.body)
    if status == 200 and data is not None and isinstance(data.get("access_token"), str):
        if not isinstance(data.get("instance_url"), str):
            raise TransientError("the token endpoint's answer has no instance_url")
        return AccessToken.from_response(data)
    if data is not None and isinstance(data.get("error"), str):
        error = salesforce_error(data["error"], str(data.get("error_description") or ""), status)
        error.server_time = server_time(raw.headers)
        raise error
    if data is not None:
        kind = "JSON without an access_token or an error" if status == 200 else "JSON without an error"
    elif not raw.body.strip():
        kind = "an empty body"
    else:
        kind = "HTML" if raw.body.lstrip()[:1] == b"<" else "a body that is not JSON"
    raise TransientError(
        f"the token endpoint answered HTTP {status} with {kind}",
        hint="a transient Salesforce or proxy failure: retry later; check the token URL if it persists",
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def total_timeout(timeout: float | httpx.Timeout) -> float:
    """One exchange attempt's bound in seconds. An `httpx.Timeout` (accepted for compatibility) counts
    as its longest phase."""
    if isinstance(timeout, httpx.Timeout):
        phases = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
        return max(phases) if phases else DEFAULT_TIMEOUT
    if timeout <= 0:
        raise ConfigurationError("the timeout must be a positive number of seconds")
    return float(timeout)


class Route:
    """Where one `Credentials` POSTs: the URL, its host, its proxy (if any) and the shared transport.
    Worked out once, on the first exchange."""

    __slots__ = ("host", "proxy", "transport", "url")

    def __init__(self, transport: Transport, token_url: str) -> None:
        parts = urlsplit(token_url)
        self.transport = transport
        self.url = token_url
        self.host = parts.hostname or ""
        self.proxy = proxy_for(parts.scheme, self.host)


class Exchange:
    """One attempt: a route and the bounds of this attempt."""

    __slots__ = ("host", "proxy", "timeouts", "transport", "until", "url")

    def __init__(self, route: Route, timeout: float, until: float) -> None:
        self.transport, self.url, self.host, self.proxy = route.transport, route.url, route.host, route.proxy
        self.until = min(until, time.monotonic() + timeout)
        self.timeouts = {"connect": min(CONNECT_TIMEOUT, timeout), "read": timeout, "write": timeout, "pool": timeout}

    def content(self, assertion: str) -> bytes:
        return urlencode(request_body(assertion)).encode("ascii")


def post(exchange: Exchange, assertion: str) -> RawResponse:
    """POST the assertion and read the answer, all of it before `exchange.until`."""
    token = deadline.set(exchange.until)
    try:
        pool = exchange.transport.pool(exchange.proxy)
        with pool.stream(
            "POST",
            exchange.url,
            headers=_REQUEST_HEADERS,
            content=exchange.content(assertion),
            extensions={"timeout": exchange.timeouts},
        ) as response:
            body = CappedBody()
            for chunk in response.iter_stream():
                body.add(chunk)
            return body.response(response)
    except _TRANSPORT_ERRORS as exc:
        raise network_error(exc, exchange.host) from None
    finally:
        deadline.reset(token)


async def apost(exchange: Exchange, assertion: str) -> RawResponse:
    """`post` on the running event loop's pool."""
    token = deadline.set(exchange.until)
    try:
        pool = exchange.transport.async_pool(exchange.proxy)
        async with pool.stream(
            "POST",
            exchange.url,
            headers=_REQUEST_HEADERS,
            content=exchange.content(assertion),
            extensions={"timeout": exchange.timeouts},
        ) as response:
            body = CappedBody()
            async for chunk in response.aiter_stream():
                body.add(chunk)
            return body.response(response)
    except _TRANSPORT_ERRORS as exc:
        raise network_error(exc, exchange.host) from None
    finally:
        deadline.reset(token)


def network_error(exc: Exception, host: str) -> SfjwtError:
    """A library error for a transport failure, saying how far the exchange got; never the request."""
    name = type(exc).__name__
    if isinstance(exc, httpcore.TimeoutException):
        phase = {"ConnectTimeout": "connecting to", "PoolTimeout": "waiting for a connection to"}.get(
            name, "talking to"
        )
        return TransientError(f"timed out {phase} {host} ({name})", hint="retry; check egress, or raise SFJWT_TIMEOUT")
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ConfigurationError(
            f"TLS certificate verification failed for {host}",
            hint="behind a TLS-inspecting proxy, pass its CA bundle (--ca-bundle / SFJWT_CA_BUNDLE)",
        )
    detail = scrub(str(exc))
    if isinstance(exc, httpcore.ProxyError):
        return TransientError(
            f"the proxy refused the tunnel to {host}: {detail}",
            hint="check HTTPS_PROXY / ALL_PROXY, the proxy's allow-list, or exempt the host with NO_PROXY",
        )
    if isinstance(exc, httpcore.ConnectError):
        return TransientError(
            f"could not reach {host}: {name}: {detail}", hint="check the token URL, DNS and egress (proxy, firewall)"
        )
    return TransientError(
        f"the connection to {host} broke during the token exchange ({name}: {detail})",
        hint="a reset or a server that closed mid-answer: retried automatically; if it persists, check "
        "the network path (proxy, load balancer)",
    )


class CappedBody:
    """Collects a response body, refusing to read past MAX_RESPONSE_BYTES."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise TransientError(
                f"the token endpoint's answer exceeds {MAX_RESPONSE_BYTES} bytes; not read further",
                hint="this is not a Salesforce token response: check the token URL",
            )

    def response(self, response: httpcore.Response) -> RawResponse:
        headers = httpx.Headers(response.headers)
        return RawResponse(response.status, headers, _decode(headers, self.data))


def _decode(headers: httpx.Headers, body: bytearray) -> bytes:
    """Undo content encoding ourselves, since we read raw bytes to enforce the cap."""
    encoding = headers.get("content-encoding", "").lower()
    if encoding in ("", "identity"):
        return bytes(body)
    if encoding in ("gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
        out = decoder.decompress(bytes(body), MAX_RESPONSE_BYTES + 1)
        if len(out) > MAX_RESPONSE_BYTES:
            raise TransientError("the token endpoint's decompressed answer is too large")
        return out
    raise TransientError(f"the token endpoint used an unsupported content encoding {encoding!r}")
