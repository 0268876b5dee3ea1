"""Credentials: four settings in, a Salesforce access token out, for as long as the process runs.

A mint fetches the key just in time (or asks a remote signer), signs a fresh assertion and exchanges
it; the key is never kept. The token is cached (every exchange is a login), minted once however many
threads or tasks ask at the same time, refreshed ahead of its assumed expiry, and re-minted once when
Salesforce says the session is gone (`session_expired`, the one decision every client integration uses).
`revoke()` ends a session at Salesforce and in every cache. `Credentials` is an `httpx.Auth`, so a
client can use it directly.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from . import endpoints
from .assertion import DEFAULT_LIFETIME, build_claims, sign_assertion
from .cache import DEFAULT_REFRESH_MARGIN, DEFAULT_SESSION_LIFETIME, CacheKey, TokenCache, default_cache
from .errors import ConfigurationError
from .events import consumer_key_hint
from .exchange import DEFAULT_TIMEOUT, total_timeout
from .flow import arun, revoke_flow, run, token_flow
from .keyref import KeyRef
from .keys import open_signer
from .plugins import PluginHost, get_host
from .retry import RetryPolicy
from .token import AccessToken

if TYPE_CHECKING:
    from .shared_cache import SharedCache, SharedTokens
    from .transport import Route

# asyncio is imported by the async methods on first use: it is ~15 ms of `import sfjwt_vault` otherwise,
# and synchronous callers never need it.

log = logging.getLogger("sfjwt_vault")

_NOT_FOR_REST = "not valid for use with the rest api"


class Credentials(httpx.Auth):
    """JWT Bearer credentials for one Connected App (consumer key) and one user.

    `audience` defaults to production (`https://login.salesforce.com`), or to the sandbox audience with
    `sandbox=True`; `token_url` defaults to the audience's host. Set them apart for My Domain token
    hosts and External Client Apps. Both must be on Salesforce's domains or loopback unless their host
    is in `allowed_hosts` (a private endpoint, a TLS-terminating egress proxy, a site on your own
    domain). `session_lifetime` is how long a token is assumed to live when the token itself does not
    say (Salesforce sends no expiry); see the README for the default.
    """

    def __init__(
        self,
        consumer_key: str,
        username: str,
        key: str | KeyRef,
        *,
        audience: str | None = None,
        token_url: str | None = None,
        sandbox: bool = False,
        allowed_hosts: Iterable[str] | str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: bool | str | ssl.SSLContext = True,
        assertion_lifetime: int = DEFAULT_LIFETIME,
        rotation_fallback: bool = False,
        session_lifetime: float = DEFAULT_SESSION_LIFETIME,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        retry: RetryPolicy | None = None,
        cache: TokenCache | None = None,
        shared_cache: str | SharedCache | None = None,
        plugin_host: PluginHost | None = None,
    ) -> None:
        self.consumer_key = _required("consumer key", consumer_key, "SF_CONSUMER_KEY")
        self.username = _required("username", username, "SF_USERNAME")
        self.key = KeyRef.parse(key)
        if audience is None:
            audience = endpoints.SANDBOX if sandbox else endpoints.PRODUCTION
        self.allowed_hosts = endpoints.parse_allowed_hosts(allowed_hosts)
        self.audience = endpoints.normalize_audience(audience, self.allowed_hosts)
        self.token_url = (
            endpoints.normalize_token_url(token_url, self.allowed_hosts)
            if token_url
            else endpoints.default_token_url(self.audience, self.allowed_hosts)
        )
        if not 1 <= assertion_lifetime <= 180:
            raise ConfigurationError(
                "assertion_lifetime must be 1 to 180 seconds", hint="Salesforce wants exp within 3 minutes"
            )
        if session_lifetime <= 0 or refresh_margin < 0:
            raise ConfigurationError("session_lifetime must be positive and refresh_margin not negative")
        self.assertion_lifetime = assertion_lifetime
        self.rotation_fallback = rotation_fallback
        self.session_lifetime = float(session_lifetime)
        self.refresh_margin = float(refresh_margin)
        self.retry = retry or RetryPolicy()
        self.timeout = total_timeout(timeout)  # one exchange attempt, all of it (see `transport`)
        self.verify = verify
        self.cache = cache if cache is not None else default_cache
        self.cache_key = CacheKey(self.token_url, self.audience, self.consumer_key, self.username)
        self.shared_cache = shared_cache  # resolved through the plugins on the first local miss
        self._shared: SharedTokens | None = None
        self._host = plugin_host
        self._route: Route | None = None
        self._revoke_route: Route | None = None
        # Nothing else: the TLS context, the connections and the store are shared by the process and
        # made on the first exchange, so a Credentials per job costs microseconds.

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Credentials:
        """Read the settings from the environment (the README's configuration table, checked by
        `sfjwt_vault.settings`); keyword arguments override them."""
        from . import settings  # on use: `import sfjwt_vault` stays free of it

        read = settings.read(environ, values=overrides)
        read.require()
        return cls(**read.credentials_kwargs())

    @property
    def plugin_host(self) -> PluginHost:
        return self._host or get_host()

    # -- tokens ---------------------------------------------------------------------------------

    def get_token(self, *, force_refresh: bool = False) -> AccessToken:
        """A live access token: from the cache, or minted once for all the callers asking now."""
        if not force_refresh:
            token = self.cache.get(self.cache_key)
            if token is not None:
                return token
        return run(token_flow(self, force_refresh))

    async def get_token_async(self, *, force_refresh: bool = False) -> AccessToken:
        """The async twin of `get_token`: the same flow, one mint for every caller asking now (tasks of
        any event loop and threads alike)."""
        if not force_refresh:
            token = self.cache.get(self.cache_key)
            if token is not None:
                return token
        return await arun(token_flow(self, force_refresh))

    def invalidate(self, token: AccessToken | None = None) -> bool:
        """Forget the cached token (only if it is still `token`, so a newer one is kept), here and in
        the shared cache if one is configured. The token is remembered as dead: it is never adopted
        again, from the shared cache or a late flight. Never waits for the shared store."""
        target = token if token is not None else self.cache.peek(self.cache_key)
        dropped = self.cache.invalidate(self.cache_key, target)
        if target is not None and self.shared_cache is not None:
            try:
                shared = self._shared_tokens()
            except ConfigurationError:  # a bad reference: get_token reports it
                shared = None
            if shared is not None:
                shared.invalidate(self.cache_key, target)
        return dropped

    def revoke(self, token: AccessToken | str | None = None) -> bool:
        """End a session at Salesforce and drop it from every cache: for a suspected leak, a key rotation,
        a worker shutting down. Without `token`, the current session: this process's cached token, else
        the shared cache's (the fleet's). The token is remembered as dead here, as after a 401, so the
        next `get_token()` mints a new one; the shared store drops it before Salesforce is asked.

        True if Salesforce ended a live session; False if there was none to revoke or Salesforce says it
        was no longer live (expired, or revoked already). The request goes to the token URL's host with
        the exchange's TLS trust, proxy rule, timeout and retries."""
        return run(revoke_flow(self, _as_token(token)))

    async def arevoke(self, token: AccessToken | str | None = None) -> bool:
        """The async twin of `revoke`."""
        return await arun(revoke_flow(self, _as_token(token)))

    def mint_assertion(self, key: KeyRef | None = None) -> str:
        """A signed assertion for this app and user. It is a credential for 3 minutes: never log it."""
        with open_signer(key or self.key, self.plugin_host) as signer:
            claims = build_claims(self.consumer_key, self.username, self.audience, lifetime=self.assertion_lifetime)
            return sign_assertion(claims, signer)

    def route(self) -> Route:
        """Where the exchanges go: the token URL through the process-wide connections for this TLS
        configuration (and the proxy, if one applies), worked out on the first exchange."""
        route = self._route
        if route is None:
            from .transport import Route, transport_for  # the wire is imported on the first exchange

            route = self._route = Route(transport_for(self.verify), self.token_url)
        return route

    def revoke_route(self) -> Route:
        """Where revocations go: the token URL's host (`endpoints.revoke_url`), on the exchange's wire."""
        route = self._revoke_route
        if route is None:
            from .transport import Route, transport_for

            url = endpoints.revoke_url(self.token_url)
            route = self._revoke_route = Route(transport_for(self.verify), url, "the revocation")
        return route

    def _shared_tokens(self) -> SharedTokens | None:
        """The shared (fleet) cache's coordination, resolved on the first local miss; None for local."""
        if self.shared_cache is None:
            return None
        if self._shared is None:
            from . import shared_cache  # on the first local miss: no import cost otherwise

            if isinstance(self.shared_cache, str):
                self._shared = shared_cache.shared_tokens(self.shared_cache, self.plugin_host)
            else:
                self._shared = shared_cache.SharedTokens(self.shared_cache)
            if self._shared is None:
                self.shared_cache = None
        return self._shared

    # -- httpx integration ------------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.get_token()
        request.headers["Authorization"] = token.authorization_header()
        response = yield request
        if response.status_code == 401:
            response.read()
            if session_expired(response):
                self.invalidate(token)  # marks it dead: the token below is another one
                request.headers["Authorization"] = self.get_token().authorization_header()
                yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.get_token_async()
        request.headers["Authorization"] = token.authorization_header()
        response = yield request
        if response.status_code == 401:
            await response.aread()
            if session_expired(response):
                self.invalidate(token)  # marks it dead: the token below is another one
                request.headers["Authorization"] = (await self.get_token_async()).authorization_header()
                yield request

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx.Client on the instance URL that authenticates (and re-authenticates) itself."""
        return httpx.Client(base_url=self.get_token().instance_url, auth=self, **kwargs)

    async def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """`async with await creds.async_client() as client:`, the async twin of `client()`."""
        token = await self.get_token_async()
        return httpx.AsyncClient(base_url=token.instance_url, auth=self, **kwargs)

    # -- lifetime -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to release: connections are shared by the process (`sfjwt_vault.transport.close_all`)."""

    async def aclose(self) -> None:
        """The async twin of `close`."""

    def __enter__(self) -> Credentials:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Credentials(consumer_key={consumer_key_hint(self.consumer_key)!r}, username={self.username!r}, "
            f"key={str(self.key)!r}, audience={self.audience!r}, token_url={self.token_url!r})"
        )


class Answer(Protocol):
    """What `session_expired` reads of an HTTP answer: an httpx or a requests response."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...


def session_expired(response: Answer) -> bool:
    """A 401 that a new token fixes: INVALID_SESSION_ID, but not the REST-policy variant of it.

    "This session is not valid for use with the REST API" is a policy block: re-minting gives the same
    kind of session and would loop forever. 403 REQUEST_LIMIT_EXCEEDED is never a session problem.
    The one decision for the httpx auth and every integration (requests, simple-salesforce, aiosalesforce).
    """
    if response.status_code != 401:
        return False
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False
    errors = body if isinstance(body, list) else [body]
    for item in errors:
        if not isinstance(item, dict) or item.get("errorCode") != "INVALID_SESSION_ID":
            continue
        if _NOT_FOR_REST not in str(item.get("message", "")).lower():
            return True
    return False


def _as_token(token: AccessToken | str | None) -> AccessToken | None:
    """A token given to `revoke` as a string (from stdin, the environment) as an AccessToken."""
    if token is None or isinstance(token, AccessToken):
        return token
    text = token.strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigurationError(
            "the access token to revoke is empty or contains whitespace",
            hint="give the whole token, as `sfjwt token` printed it (access_token)",
        )
    return AccessToken(access_token=text, instance_url="", id="")


def _required(name: str, value: str, env: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ConfigurationError(f"the {name} is empty", hint=f"set {env} or pass it explicitly")
    if any(c.isspace() for c in value):
        raise ConfigurationError(f"the {name} contains whitespace", hint="copy it again without spaces or newlines")
    return value
