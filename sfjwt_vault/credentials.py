"""Credentials: four settings in, a Salesforce access token out, for as long as the process runs.

A mint fetches the key just in time (or asks a remote signer), signs a fresh assertion and exchanges
it; the key is never kept. The token is cached (every exchange is a login), minted once however many
threads or tasks ask at the same time, refreshed ahead of its assumed expiry, and re-minted once when
Salesforce says the session is gone. `Credentials` is an `httpx.Auth`, so a client can use it directly.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from . import endpoints
from .assertion import DEFAULT_LIFETIME, build_claims, sign_assertion
from .cache import DEFAULT_REFRESH_MARGIN, DEFAULT_SESSION_LIFETIME, CacheKey, TokenCache, default_cache, token_expiry
from .errors import (
    AssertionExpiredError,
    ConfigurationError,
    InvalidAssertionError,
    LoginRateExceededError,
    SfjwtError,
)
from .events import ExchangeFailed, TokenIssued, consumer_key_hint
from .exchange import DEFAULT_TIMEOUT, AsyncTokenEndpoint, RawResponse, TokenEndpoint, read_token_response
from .keyref import KeyRef
from .keys import open_signer
from .plugins import PluginHost, get_host
from .retry import Attempts, RetryPolicy
from .token import AccessToken

if TYPE_CHECKING:
    import asyncio

    from .shared_cache import SharedCache, SharedTokens, Ticket

# asyncio is imported by the async methods on first use: it is ~15 ms of `import sfjwt_vault` otherwise,
# and synchronous callers never need it.

log = logging.getLogger("sfjwt_vault")

RATE_LIMIT_COOLDOWN = 300.0
_NOT_FOR_REST = "not valid for use with the rest api"


# The steps of one exchange, as a generator of actions that a sync or an async driver carries out
# (the httpx Auth pattern): the retry and rotation logic is written once. Plain slotted classes, not
# dataclasses: each dataclass costs ~0.5 ms of `import sfjwt_vault`.
class _Mint:
    __slots__ = ("key",)

    def __init__(self, key: KeyRef) -> None:
        self.key = key


class _Post:
    __slots__ = ("assertion",)

    def __init__(self, assertion: str) -> None:
        self.assertion = assertion


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class _PreviousKey:
    __slots__ = ()


_Action = _Mint | _Post | _Sleep | _PreviousKey
_Flow = Generator[_Action, Any, AccessToken]


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
        http_client: httpx.Client | None = None,
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
        self.cache = cache if cache is not None else default_cache
        self.cache_key = CacheKey(self.token_url, self.audience, self.consumer_key, self.username)
        self.shared_cache = shared_cache  # resolved through the plugins on the first local miss
        self._shared: SharedTokens | None = None
        self._host = plugin_host
        self._timeout = timeout
        self._verify = verify
        self._endpoint = TokenEndpoint(timeout=timeout, verify=verify, client=http_client)
        self._async_endpoints: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncTokenEndpoint] = (
            weakref.WeakKeyDictionary()
        )
        self._async_flights: dict[asyncio.AbstractEventLoop, asyncio.Future[AccessToken]] = {}
        self._async_lock = threading.Lock()
        self._cooldown: tuple[float, LoginRateExceededError] | None = None

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
        """A live access token: from the cache, or minted once for all the threads asking now."""
        if not force_refresh:
            token = self.cache.get(self.cache_key)
            if token is not None:
                return token
        self._check_cooldown()
        flight, leader = self.cache.flights.join(self.cache_key)
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.token is None:  # pragma: no cover - a landed flight has a token or an error
                raise RuntimeError("token flight landed empty")
            return flight.token
        try:
            token = None if force_refresh else self.cache.get(self.cache_key)
            if token is None:
                token = self._obtain(force_refresh)
            flight.token = token
            return token
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            self.cache.flights.land(self.cache_key, flight)

    async def get_token_async(self, *, force_refresh: bool = False) -> AccessToken:
        """The async twin of `get_token`: one mint for all tasks of this event loop asking now."""
        import asyncio

        if not force_refresh:
            token = self.cache.get(self.cache_key)
            if token is not None:
                return token
        self._check_cooldown()
        loop = asyncio.get_running_loop()
        with self._async_lock:
            pending = self._async_flights.get(loop)
            if pending is None:
                future: asyncio.Future[AccessToken] = loop.create_future()
                self._async_flights[loop] = future
        if pending is not None:
            return await asyncio.shield(pending)
        try:
            token = None if force_refresh else self.cache.get(self.cache_key)
            if token is None:
                token = await self._aobtain(force_refresh)
            future.set_result(token)
            return token
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited future does not warn
            raise
        finally:
            with self._async_lock:
                self._async_flights.pop(loop, None)

    def invalidate(self, token: AccessToken | None = None) -> bool:
        """Forget the cached token (only if it is still `token`, so a newer one is kept), here and in
        the shared cache if one is configured."""
        shared = self._shared_tokens()
        target = token if token is not None or shared is None else self.cache.get(self.cache_key)
        dropped = self.cache.invalidate(self.cache_key, token)
        if shared is not None and target is not None:
            shared.invalidate(self.cache_key, target)
        return dropped

    # -- the shared (fleet) cache: one place for both the sync and the async path ---------------------

    def _shared_tokens(self) -> SharedTokens | None:
        if self.shared_cache is None:
            return None
        if self._shared is None:
            from .shared_cache import SharedTokens, resolve  # on the first local miss: no import cost otherwise

            store = resolve(self.shared_cache, self.plugin_host)
            if store is None:
                self.shared_cache = None
                return None
            self._shared = SharedTokens(store, margin=self.refresh_margin)
        return self._shared

    def _adopt(self, ticket: Ticket) -> AccessToken:
        """Use a token another instance minted: into the local cache with its stored expiry."""
        assert ticket.found is not None  # noqa: S101 # nosec B101 - the caller checked
        token, expires_at = ticket.found
        self.cache.put(self.cache_key, token, expires_at=expires_at, margin=self.refresh_margin)
        log.debug("token for %s from the shared cache", self.username)
        return token

    def _obtain(self, force: bool) -> AccessToken:
        shared = self._shared_tokens()
        if shared is None:
            return self._finish(self._drive(self._flow()))[0]
        ticket = shared.before_mint(self.cache_key, force=force)
        if ticket.found is not None:
            return self._adopt(ticket)
        try:
            token, expires_at = self._finish(self._drive(self._flow()))
        except BaseException:
            shared.abandon(self.cache_key, ticket)
            raise
        shared.after_mint(self.cache_key, ticket, token, expires_at)
        return token

    async def _aobtain(self, force: bool) -> AccessToken:
        """`_obtain` for the event loop: the store calls (blocking SDKs) run in a thread."""
        import asyncio

        shared = self._shared_tokens()
        if shared is None:
            return self._finish(await self._adrive(self._flow()))[0]
        ticket = await asyncio.to_thread(shared.before_mint, self.cache_key, force=force)
        if ticket.found is not None:
            return self._adopt(ticket)
        try:
            token, expires_at = self._finish(await self._adrive(self._flow()))
        except BaseException:
            await asyncio.to_thread(shared.abandon, self.cache_key, ticket)
            raise
        await asyncio.to_thread(shared.after_mint, self.cache_key, ticket, token, expires_at)
        return token

    def mint_assertion(self, key: KeyRef | None = None) -> str:
        """A signed assertion for this app and user. It is a credential for 3 minutes: never log it."""
        with open_signer(key or self.key, self.plugin_host) as signer:
            claims = build_claims(self.consumer_key, self.username, self.audience, lifetime=self.assertion_lifetime)
            return sign_assertion(claims, signer)

    def _flow(self) -> _Flow:
        """One exchange with its retries: transient failures back off, an expired assertion is
        re-minted once, and (opted in) an invalid assertion is tried once with the previous key."""
        attempts = Attempts(self.retry)
        key = self.key
        tried_previous = False
        assertion = yield _Mint(key)
        while True:
            outcome = yield _Post(assertion)
            if isinstance(outcome, RawResponse):
                try:
                    return read_token_response(outcome)
                except SfjwtError as exc:
                    error = exc
            else:
                error = outcome
            if isinstance(error, InvalidAssertionError) and self.rotation_fallback and not tried_previous:
                tried_previous = True
                previous = yield _PreviousKey()
                if previous is not None:
                    log.info("invalid assertion with the current key of %s; trying the previous version", self.key)
                    key = previous
                    assertion = yield _Mint(key)
                    continue
            decision = attempts.next(error)
            if decision is None:
                if isinstance(error, AssertionExpiredError):
                    error.add_skew(time.time())
                raise error
            wait, fresh = decision
            log.info(
                "token exchange failed (%s); attempt %d, retrying in %.2f s", type(error).__name__, attempts.count, wait
            )
            if wait:
                yield _Sleep(wait)
            if fresh:
                assertion = yield _Mint(key)

    def _drive(self, flow: _Flow) -> tuple[AccessToken | SfjwtError, float]:
        started = time.perf_counter()
        try:
            action = next(flow)
            while True:
                result: Any = None
                if isinstance(action, _Mint):
                    result = self.mint_assertion(action.key)
                elif isinstance(action, _Post):
                    try:
                        result = self._endpoint.post(self.token_url, action.assertion)
                    except SfjwtError as exc:
                        result = exc
                elif isinstance(action, _Sleep):
                    time.sleep(action.seconds)
                else:
                    result = self.plugin_host.previous_key_ref(self.key)
                action = flow.send(result)
        except StopIteration as stop:
            return stop.value, started
        except SfjwtError as exc:
            return exc, started

    async def _adrive(self, flow: _Flow) -> tuple[AccessToken | SfjwtError, float]:
        import asyncio

        started = time.perf_counter()
        endpoint = self._async_endpoint()
        try:
            action = next(flow)
            while True:
                result: Any = None
                if isinstance(action, _Mint):
                    # Key backends are synchronous: keep them off the event loop.
                    result = await asyncio.to_thread(self.mint_assertion, action.key)
                elif isinstance(action, _Post):
                    try:
                        result = await endpoint.post(self.token_url, action.assertion)
                    except SfjwtError as exc:
                        result = exc
                elif isinstance(action, _Sleep):
                    await asyncio.sleep(action.seconds)
                else:
                    result = await asyncio.to_thread(self.plugin_host.previous_key_ref, self.key)
                action = flow.send(result)
        except StopIteration as stop:
            return stop.value, started
        except SfjwtError as exc:
            return exc, started

    def _finish(self, outcome: tuple[AccessToken | SfjwtError, float]) -> tuple[AccessToken, float]:
        """Cache and announce a token (returned with its expiry), or announce and raise the error."""
        result, started = outcome
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(result, SfjwtError):
            if isinstance(result, LoginRateExceededError):
                self._cooldown = (time.monotonic() + RATE_LIMIT_COOLDOWN, result)
            self._notify_failure(result, elapsed)
            raise result
        expires_at = token_expiry(result, self.session_lifetime, time.time())
        self.cache.put(self.cache_key, result, expires_at=expires_at, margin=self.refresh_margin)
        log.debug("token issued for %s via %s in %.1f ms", self.username, self.token_url, elapsed)
        self.plugin_host.notify(
            "sfjwt_token_issued",
            event=TokenIssued(
                token_url=self.token_url,
                audience=self.audience,
                consumer_key_hint=consumer_key_hint(self.consumer_key),
                username=self.username,
                instance_url=result.instance_url,
                key_scheme=self.key.scheme,
                duration_ms=elapsed,
            ),
        )
        return result, expires_at

    def _check_cooldown(self) -> None:
        """After `login rate exceeded`, fail fast for a while instead of adding logins to the count."""
        if self._cooldown is None:
            return
        until, error = self._cooldown
        if time.monotonic() < until:
            raise LoginRateExceededError(
                error.error,
                error.description,
                check=error.check,
                hint=f"not retried: Salesforce refused a login for this user within the last "
                f"{RATE_LIMIT_COOLDOWN:.0f} s for exceeding 3,600 logins per hour. {error.hint}",
            )
        self._cooldown = None

    def _notify_failure(self, exc: SfjwtError, elapsed: float) -> None:
        error = getattr(exc, "error", type(exc).__name__)
        description = getattr(exc, "description", exc.message)
        log.debug("token request for %s failed: %s", self.username, error)
        self.plugin_host.notify(
            "sfjwt_exchange_failed",
            event=ExchangeFailed(
                token_url=self.token_url,
                audience=self.audience,
                consumer_key_hint=consumer_key_hint(self.consumer_key),
                username=self.username,
                key_scheme=self.key.scheme,
                error=error,
                description=description,
                retryable=exc.retryable,
                duration_ms=elapsed,
            ),
        )

    def _async_endpoint(self) -> AsyncTokenEndpoint:
        import asyncio

        loop = asyncio.get_running_loop()
        endpoint = self._async_endpoints.get(loop)
        if endpoint is None:
            endpoint = self._async_endpoints[loop] = AsyncTokenEndpoint(timeout=self._timeout, verify=self._verify)
        return endpoint

    # -- httpx integration ------------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.get_token()
        request.headers["Authorization"] = token.authorization_header()
        response = yield request
        if response.status_code == 401:
            response.read()
            if session_expired(response):
                self.invalidate(token)
                request.headers["Authorization"] = self.get_token().authorization_header()
                yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.get_token_async()
        request.headers["Authorization"] = token.authorization_header()
        response = yield request
        if response.status_code == 401:
            await response.aread()
            if session_expired(response):
                if self.shared_cache is None:
                    self.invalidate(token)
                else:
                    import asyncio

                    await asyncio.to_thread(self.invalidate, token)
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
        self._endpoint.close()

    async def aclose(self) -> None:
        import asyncio

        endpoint = self._async_endpoints.pop(asyncio.get_running_loop(), None)
        if endpoint is not None:
            await endpoint.aclose()

    def __enter__(self) -> Credentials:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Credentials(consumer_key={consumer_key_hint(self.consumer_key)!r}, username={self.username!r}, "
            f"key={str(self.key)!r}, audience={self.audience!r}, token_url={self.token_url!r})"
        )


def session_expired(response: httpx.Response) -> bool:
    """A 401 that a new token fixes: INVALID_SESSION_ID, but not the REST-policy variant of it.

    "This session is not valid for use with the REST API" is a policy block: re-minting gives the same
    kind of session and would loop forever. 403 REQUEST_LIMIT_EXCEEDED is never a session problem.
    """
    if response.status_code != 401:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body if isinstance(body, list) else [body]
    for item in errors:
        if not isinstance(item, dict) or item.get("errorCode") != "INVALID_SESSION_ID":
            continue
        if _NOT_FOR_REST not in str(item.get("message", "")).lower():
            return True
    return False


def _required(name: str, value: str, env: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ConfigurationError(f"the {name} is empty", hint=f"set {env} or pass it explicitly")
    if any(c.isspace() for c in value):
        raise ConfigurationError(f"the {name} contains whitespace", hint="copy it again without spaces or newlines")
    return value
