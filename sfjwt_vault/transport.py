"""The wire of the token exchange (and of revocation): shared connections, cut at a deadline, proxied
only as ciphertext.

Imported on the first exchange, not by `import sfjwt_vault` (httpcore and its dependencies are ~20 ms
that httpx itself only imports when a client is made).

- **Shared.** One TLS context and one connection pool per TLS configuration (the `verify` setting: the
  default trust, a CA bundle file, an `ssl.SSLContext` of your own, which may carry a client
  certificate, or verification off), built on the first exchange and shared by every `Credentials` in
  the process, with one async pool per event loop. Loading trust anchors costs ~20 ms; a
  `Credentials()` costs none of it, and `close()` on one never breaks another.
- **Trust.** `verify=True` trusts certifi's CA bundle and nothing else; a path trusts exactly that
  bundle. Environment variables (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `REQUESTS_CA_BUNDLE`) do not change
  what the token exchange trusts: a variable set for some other tool must not silently widen the trust
  of a credential exchange. `SFJWT_CA_BUNDLE` (read by `from_env`) is the only one. `verify=False` logs
  one WARNING per process.
- **Deadline.** httpx and httpcore time out each socket operation, not the exchange, so a server that
  drips one byte per second never times out. The network backends here cut every connect, TLS
  handshake, write and read at the current deadline (a context variable set around each exchange).
- **Proxies.** A loopback token URL never goes through a proxy. Any other token URL is https (the
  endpoint checks refuse plain http), and through `HTTPS_PROXY` / `ALL_PROXY` (minus `NO_PROXY`) it
  travels in a CONNECT tunnel: the proxy sees the host name and ciphertext, never the assertion.
"""

from __future__ import annotations

import contextvars
import logging
import os
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from .endpoints import is_loopback
from .errors import ConfigurationError, SfjwtError, TransientError, scrub
from .exchange import CONNECT_TIMEOUT, RawResponse

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("sfjwt_vault")

KEEPALIVE_EXPIRY = 30.0  # seconds an idle connection is kept; exchanges are minutes apart, bursts are not
MAX_RESPONSE_BYTES = 1024 * 1024
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

# The instant (time.monotonic()) the current exchange must be over, or None outside an exchange. A
# context variable: each thread and each asyncio task has its own.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("sfjwt_deadline", default=None)

Verify = bool | str | ssl.SSLContext


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    """The socket operation's timeout, no later than the exchange's deadline."""
    until = deadline.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("the exchange's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - used by httpcore's retries, which are off
        await self._backend.sleep(seconds)


class Transport:
    """What one TLS configuration shares: its TLS context, a sync pool and one async pool per event
    loop (per proxy). Thread-safe; everything is built on first use."""

    def __init__(self, verify: Verify) -> None:
        self.verify = verify
        self._context: ssl.SSLContext | None = None
        self._pools: dict[str | None, httpcore.ConnectionPool] = {}
        self._async_pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str | None, httpcore.AsyncConnectionPool]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext:
        context = self._context
        if context is None:
            with self._lock:
                context = self._context
                if context is None:
                    context = self._context = _ssl_context(self.verify)
        return context

    def pool(self, proxy: str | None) -> httpcore.ConnectionPool:
        pool = self._pools.get(proxy)
        if pool is None:
            context = self.ssl_context()
            with self._lock:
                pool = self._pools.get(proxy)
                if pool is None:
                    pool = self._pools[proxy] = httpcore.ConnectionPool(
                        ssl_context=context,
                        proxy=_proxy(proxy, context),
                        max_connections=None,
                        keepalive_expiry=KEEPALIVE_EXPIRY,
                        network_backend=_Backend(),
                    )
        return pool

    def async_pool(self, proxy: str | None) -> httpcore.AsyncConnectionPool:
        """The pool for the running event loop (connections belong to one loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        pools = self._async_pools.get(loop)
        pool = None if pools is None else pools.get(proxy)
        if pool is None:
            context = self.ssl_context()
            with self._lock:
                for old in [old for old in self._async_pools if old.is_closed()]:
                    del self._async_pools[old]  # its connections hold the loop: dropped here, not by weakref
                pools = self._async_pools.setdefault(loop, {})
                pool = pools.get(proxy)
                if pool is None:
                    pool = pools[proxy] = httpcore.AsyncConnectionPool(
                        ssl_context=context,
                        proxy=_proxy(proxy, context),
                        max_connections=None,
                        keepalive_expiry=KEEPALIVE_EXPIRY,
                        network_backend=_AsyncBackend(),
                    )
        return pool

    def close(self) -> None:
        """Close the sync pools (their connections reopen on the next exchange)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


_transports: dict[Hashable, Transport] = {}
_transports_lock = threading.Lock()


def transport_for(verify: Verify) -> Transport:
    """The process-wide transport for a TLS configuration."""
    key = _tls_key(verify)
    found = _transports.get(key)
    if found is None:
        with _transports_lock:
            found = _transports.get(key)
            if found is None:
                found = _transports[key] = Transport(verify)
    return found


def close_all() -> None:
    """Close and forget every shared transport (tests; an application that wants its sockets closed)."""
    with _transports_lock:
        found = list(_transports.values())
        _transports.clear()
    for transport in found:
        transport.close()


def _forget_after_fork() -> None:
    """A forked child must not use its parent's connections (one TLS session on two processes), nor a
    lock another thread of the parent held at the fork: it starts with no transports."""
    global _transports_lock
    _transports.clear()
    _transports_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _tls_key(verify: Verify) -> Hashable:
    if isinstance(verify, ssl.SSLContext):
        return verify  # by identity: the registry keeps it alive, so its id is never reused
    if isinstance(verify, str):
        return ("bundle", os.path.abspath(os.path.expanduser(verify)))
    return bool(verify)


def _ssl_context(verify: Verify) -> ssl.SSLContext:
    """The TLS context for a configuration: exactly the trust it names, whatever the environment says."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        log.warning(
            "TLS certificate verification is OFF for the token exchange (verify=False): anyone on the "
            "network path can read the assertion and the token; pass a CA bundle instead"
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        path = os.path.expanduser(verify)
        try:
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"the CA bundle {verify!r} could not be loaded ({type(exc).__name__})",
                hint="--ca-bundle / SFJWT_CA_BUNDLE must name a readable PEM file of CA certificates",
            ) from None
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


# -- proxies -----------------------------------------------------------------------------------------


_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy for an exchange: none for loopback or plain http, else HTTPS_PROXY/ALL_PROXY unless
    NO_PROXY exempts the host."""
    if scheme != "https" or is_loopback(host):
        return None
    if not any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get("https") or proxies.get("all")
    bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - public, missing from typeshed
    if not proxy or bypass(host, proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _proxy(url: str | None, context: ssl.SSLContext) -> httpcore.Proxy | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise ConfigurationError(
            f"the proxy {parts.scheme}://{parts.hostname or '?'} (from HTTPS_PROXY/ALL_PROXY) is not usable",
            hint="set HTTPS_PROXY to http://host:port (or socks5://host:port with the socksio package)",
        )
    if parts.scheme.startswith("socks"):
        try:
            import socksio  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "a SOCKS proxy is set (HTTPS_PROXY/ALL_PROXY) but the socksio package is not installed",
                hint="pip install socksio, or set NO_PROXY for the token host",
            ) from None
    auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return httpcore.Proxy(f"{parts.scheme}://{netloc}", auth=auth, ssl_context=context)


# -- the exchange ------------------------------------------------------------------------------------


class Route:
    """Where one `Credentials` POSTs: the URL (the token URL, or the revocation URL on its host), its
    host, its proxy (if any) and the shared transport. Worked out once, on the first use. `what` names
    the request in error messages."""

    __slots__ = ("host", "proxy", "transport", "url", "what")

    def __init__(self, transport: Transport, url: str, what: str = "the token exchange") -> None:
        parts = urlsplit(url)
        self.transport = transport
        self.url = url
        self.what = what
        self.host = parts.hostname or ""
        self.proxy = proxy_for(parts.scheme, self.host)

    def exchange(self, timeout: float, until: float) -> Exchange:
        """An attempt on this route, over by `timeout` from now and never after `until`."""
        return Exchange(self, timeout, until)


class Exchange:
    """One attempt: a route and the bounds of this attempt."""

    __slots__ = ("host", "proxy", "timeouts", "transport", "until", "url", "what")

    def __init__(self, route: Route, timeout: float, until: float) -> None:
        self.transport, self.url, self.host, self.proxy = route.transport, route.url, route.host, route.proxy
        self.what = route.what
        self.until = min(until, time.monotonic() + timeout)
        self.timeouts = {"connect": min(CONNECT_TIMEOUT, timeout), "read": timeout, "write": timeout, "pool": timeout}

    def post(self, body: bytes) -> RawResponse:
        return post(self, body)

    async def apost(self, body: bytes) -> RawResponse:
        return await apost(self, body)


def post(exchange: Exchange, body: bytes) -> RawResponse:
    """POST the form-encoded body (it carries the assertion, or the token to revoke) and read the
    answer, all of it before `exchange.until`."""
    token = deadline.set(exchange.until)
    try:
        pool = exchange.transport.pool(exchange.proxy)
        with pool.stream(
            "POST",
            exchange.url,
            headers=_REQUEST_HEADERS,
            content=body,
            extensions={"timeout": exchange.timeouts},
        ) as response:
            answer = CappedBody()
            for chunk in response.iter_stream():
                answer.add(chunk)
            return answer.response(response)
    except _TRANSPORT_ERRORS as exc:
        raise network_error(exc, exchange.host, exchange.what) from None
    finally:
        deadline.reset(token)


async def apost(exchange: Exchange, body: bytes) -> RawResponse:
    """`post` on the running event loop's pool."""
    token = deadline.set(exchange.until)
    try:
        pool = exchange.transport.async_pool(exchange.proxy)
        async with pool.stream(
            "POST",
            exchange.url,
            headers=_REQUEST_HEADERS,
            content=body,
            extensions={"timeout": exchange.timeouts},
        ) as response:
            answer = CappedBody()
            async for chunk in response.aiter_stream():
                answer.add(chunk)
            return answer.response(response)
    except _TRANSPORT_ERRORS as exc:
        raise network_error(exc, exchange.host, exchange.what) from None
    finally:
        deadline.reset(token)


def network_error(exc: Exception, host: str, what: str = "the token exchange") -> SfjwtError:
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
        f"the connection to {host} broke during {what} ({name}: {detail})",
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
