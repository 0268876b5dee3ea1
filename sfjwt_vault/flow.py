"""The one token flow: get-or-mint (and revoke) as sans-IO generators, run by a thin sync driver and a
thin async driver.

The generator makes every decision (cache, single flight, shared cache, retries, rotation fallback,
cooldown); the drivers only perform the actions it yields and send back the result, or throw the
exception into the generator at its `yield`. So `get_token()` and `get_token_async()` cannot drift:

- `Call(fn, *args)`: backend work (fetch the key and sign, or sign remotely; the previous key version).
  Blocking: the async driver runs it in a worker thread, bounded by the deadline.
- `Store(fn, *args)`: a shared-cache store call, in a daemon thread, bounded by the store timeout (a
  hung store costs the caller that timeout, never more).
- `Post(exchange, body)`: the HTTP exchange (or revocation), every socket operation cut at its deadline.
- `Sleep(seconds)`: a backoff or a lease poll.
- `Wait(flight, until)`: a follower waiting for the flight another caller (thread or task, of any
  event loop) leads, until its own deadline.

Every wait is bounded by the retry policy's overall deadline (`RetryPolicy.deadline`), counted from
the call to `get_token`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from .cache import token_expiry
from .errors import (
    AssertionExpiredError,
    Check,
    InvalidAssertionError,
    InvalidTokenError,
    LoginRateExceededError,
    SfjwtError,
    TransientError,
)
from .events import ExchangeFailed, TokenIssued, consumer_key_hint
from .exchange import RawResponse, encoded_body, read_revoke_response, read_token_response, revoke_body, server_time
from .retry import Attempts

if TYPE_CHECKING:
    import concurrent.futures

    from .cache import Flight
    from .credentials import Credentials
    from .keyref import KeyRef
    from .shared_cache import SharedTokens, Ticket
    from .token import AccessToken
    from .transport import Exchange

log = logging.getLogger("sfjwt_vault")

T = TypeVar("T")

RATE_LIMIT_COOLDOWN = 300.0  # seconds without a login for a user after `login rate exceeded`
CLOCK_AHEAD_WARNING = 60.0  # seconds ahead of the endpoint's Date header that earn a warning


# Plain slotted classes, not dataclasses: each dataclass costs ~0.5 ms of `import sfjwt_vault`.
class Call:
    __slots__ = ("args", "fn", "until")

    def __init__(self, fn: Callable[..., Any], *args: Any, until: float) -> None:
        self.fn, self.args, self.until = fn, args, until


class Store:
    __slots__ = ("args", "fn", "timeout")

    def __init__(self, fn: Callable[..., Any], *args: Any, timeout: float) -> None:
        self.fn, self.args, self.timeout = fn, args, timeout


class Post:
    __slots__ = ("body", "exchange")

    def __init__(self, exchange: Exchange, body: bytes) -> None:
        self.exchange, self.body = exchange, body  # the body carries a credential: never logged or shown


class Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class Wait:
    __slots__ = ("flight", "until")

    def __init__(self, flight: Flight, until: float) -> None:
        self.flight, self.until = flight, until


Action = Call | Store | Post | Sleep | Wait
Flow = Generator[Action, Any, T]


class StoreTimeout(TransientError):
    """A shared-cache store call did not answer within the store timeout."""


# -- the flow --------------------------------------------------------------------------------------------


def token_flow(creds: Credentials, force: bool) -> Flow[AccessToken]:
    """A live token: from the cache, from another caller's flight, from the shared cache, or minted."""
    attempts = Attempts(creds.retry)
    cache, key = creds.cache, creds.cache_key
    while True:
        if not force:
            token = cache.get(key)
            if token is not None:
                return token
        check_cooldown(creds)
        flight, leader = cache.flights.join(key)
        if not leader:
            if not (yield Wait(flight, attempts.deadline)):
                raise TransientError(
                    f"timed out waiting for the token exchange another caller leads for {creds.username}",
                    hint="the exchange is slower than the retry deadline: check the token endpoint and egress",
                )
            if flight.error is not None:
                raise flight.error
            token = flight.token
            if token is None or cache.is_dead(key, token):
                continue  # the leader was cancelled, or its token died meanwhile: ask again
            return token
        try:
            token = None if force else cache.get(key)
            if token is None:
                token = yield from _lead(creds, force, attempts)
            flight.token = token
            return token
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            cache.flights.land(key, flight)


def _lead(creds: Credentials, force: bool, attempts: Attempts) -> Flow[AccessToken]:
    shared = creds._shared_tokens()
    if shared is None:
        token, _ = yield from _mint(creds, attempts)
        return token
    adopted, ticket = yield from _consult(creds, shared, force, attempts)
    if adopted is not None:
        return adopted
    try:
        token, expires_at = yield from _mint(creds, attempts)
    except SfjwtError as exc:
        yield from shared.abandon(creds.cache_key, ticket)  # the next instance need not wait out the lease
        if isinstance(exc, LoginRateExceededError):
            yield from shared.cool_down(creds.cache_key, time.time() + RATE_LIMIT_COOLDOWN)
        raise
    except BaseException:
        shared.abandon_soon(creds.cache_key, ticket)  # cancelled or a bug: in the background, never blocks
        raise
    yield from shared.after_mint(creds.cache_key, ticket, token, expires_at)
    return token


def _consult(
    creds: Credentials, shared: SharedTokens, force: bool, attempts: Attempts
) -> Flow[tuple[AccessToken | None, Ticket]]:
    """Ask the shared cache: a token adopted into the local cache, a cooldown raised, or a ticket to mint."""
    cache, key = creds.cache, creds.cache_key
    while True:
        ticket = yield from shared.before_mint(
            key, force=force, margin=creds.refresh_margin, until=attempts.deadline, dead=cache.is_dead
        )
        if ticket.cooldown_until:
            error = cooldown_error(creds, "another instance sharing the token cache was refused a login")
            cache.cool_down(key, ticket.cooldown_until, error)
            raise error
        if ticket.found is None:
            return None, ticket
        token, expires_at = ticket.found
        if cache.put(key, token, expires_at=expires_at, margin=creds.refresh_margin):
            log.debug("token for %s from the shared cache", creds.username)
            return token, ticket
        # it died (a 401 here) between the store's answer and now: look again, it is filtered out now


def _mint(creds: Credentials, attempts: Attempts) -> Flow[tuple[AccessToken, float]]:
    """Exchange, cache and announce a token (with its expiry), or announce and raise the error."""
    started = time.perf_counter()
    try:
        token = yield from _exchange(creds, attempts)
    except SfjwtError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        if isinstance(exc, LoginRateExceededError):
            until = time.time() + RATE_LIMIT_COOLDOWN
            creds.cache.cool_down(creds.cache_key, until, cooldown_error(creds, "Salesforce refused a login"))
        _notify_failure(creds, exc, elapsed)
        raise
    elapsed = (time.perf_counter() - started) * 1000
    expires_at = token_expiry(token, creds.session_lifetime, time.time())
    creds.cache.put(creds.cache_key, token, expires_at=expires_at, margin=creds.refresh_margin)
    log.debug("token issued for %s via %s in %.1f ms", creds.username, creds.token_url, elapsed)
    creds.plugin_host.notify(
        "sfjwt_token_issued",
        event=TokenIssued(
            token_url=creds.token_url,
            audience=creds.audience,
            consumer_key_hint=consumer_key_hint(creds.consumer_key),
            username=creds.username,
            instance_url=token.instance_url,
            key_scheme=creds.key.scheme,
            duration_ms=elapsed,
        ),
    )
    return token, expires_at


def _exchange(creds: Credentials, attempts: Attempts) -> Flow[AccessToken]:
    """One exchange with its retries: transient failures (the endpoint's, or the key backend's) back
    off, an expired assertion is re-minted once, and (opted in) an invalid assertion is tried once with
    the previous key."""
    key: KeyRef = creds.key
    tried_previous = False
    assertion: str | None = None
    while True:
        error: SfjwtError
        try:
            if assertion is None:
                assertion = yield Call(creds.mint_assertion, key, until=attempts.deadline)
            exchange = creds.route().exchange(creds.timeout, attempts.deadline)
            raw: RawResponse = yield Post(exchange, encoded_body(assertion))
            token = read_token_response(raw)
            _check_clock(raw, exchange.host)
            return token
        except SfjwtError as exc:
            error = exc
        if isinstance(error, InvalidAssertionError) and creds.rotation_fallback and not tried_previous:
            tried_previous = True
            previous = yield Call(creds.plugin_host.previous_key_ref, creds.key, until=attempts.deadline)
            if previous is not None:
                log.info("invalid assertion with the current key of %s; trying the previous version", creds.key)
                key, assertion = previous, None
                continue
        decision = attempts.next(error)
        if decision is None:
            if isinstance(error, AssertionExpiredError):
                error.add_skew(time.time())
            raise error
        wait, fresh = decision
        log.info(
            "token request failed (%s); attempt %d, retrying in %.2f s", type(error).__name__, attempts.count, wait
        )
        if wait:
            yield Sleep(wait)
        if fresh:
            assertion = None


def revoke_flow(creds: Credentials, given: AccessToken | None) -> Flow[bool]:
    """Revoke a session and drop it from every cache: `given`, else this process's cached token, else
    the shared cache's (the fleet's current session). True if Salesforce ended a live session; False if
    there was none, or Salesforce says it was no longer live (expired, revoked already).

    The caches come first, so no caller adopts the token while it is being revoked: locally it is
    remembered as dead (as a 401 does), and the shared store drops it (the call is awaited, bounded by
    the store timeout: a worker shutting down must not leave it behind in a daemon thread)."""
    cache, key = creds.cache, creds.cache_key
    attempts = Attempts(creds.retry)
    shared = creds._shared_tokens()
    target = given or cache.peek(key)
    if target is None and shared is not None:
        target = yield from shared.current(key)
    if target is None:
        log.info("no session of %s to revoke", creds.username)
        return False
    cache.invalidate(key, target)
    if shared is not None:
        yield from shared.forget(key, target)
    route = creds.revoke_route()
    while True:
        exchange = route.exchange(creds.timeout, attempts.deadline)
        try:
            read_revoke_response((yield Post(exchange, revoke_body(target.access_token))))
        except InvalidTokenError:
            log.info("the session of %s was no longer live at %s (expired or revoked)", creds.username, route.host)
            return False
        except SfjwtError as exc:
            decision = attempts.next(exc)
            if decision is None:
                raise
            wait = decision[0]
            log.info("revocation failed (%s); attempt %d, retrying in %.2f s", type(exc).__name__, attempts.count, wait)
            if wait:
                yield Sleep(wait)
            continue
        log.info("revoked the session of %s at %s", creds.username, route.host)
        return True


def _check_clock(raw: RawResponse, host: str) -> None:
    """Warn when this clock runs ahead of the endpoint's: assertions then live longer than meant."""
    remote = server_time(raw.headers)
    if remote is not None and time.time() - remote > CLOCK_AHEAD_WARNING:
        log.warning(
            "this machine's clock is %.0f s ahead of %s's (its Date header): every assertion's exp lands "
            "that much later than the 180 s meant; sync the clock with NTP (chrony, systemd-timesyncd)",
            time.time() - remote,
            host,
        )


def check_cooldown(creds: Credentials) -> None:
    """After `login rate exceeded`, fail fast for a while instead of adding logins to the count."""
    cooldown = creds.cache.cooldown(creds.cache_key)
    if cooldown is not None:
        template = cooldown.error
        raise LoginRateExceededError(
            template.error, template.description, check=template.check, hint=template.hint or ""
        )


def cooldown_error(creds: Credentials, who: str) -> LoginRateExceededError:
    """The error a caller gets during a cooldown: no request was sent."""
    return LoginRateExceededError(
        "invalid_grant",
        "login rate exceeded",
        check=Check.API_PERMISSION,
        hint=f"not retried: {who} for {creds.username} within the last {RATE_LIMIT_COOLDOWN:.0f} s for "
        "exceeding 3,600 logins per hour; every caller of this app and user waits that long. Cache the "
        "token: one Credentials per process, and a shared token cache (SFJWT_TOKEN_CACHE) for a fleet.",
    )


def _notify_failure(creds: Credentials, exc: SfjwtError, elapsed: float) -> None:
    error = getattr(exc, "error", type(exc).__name__)
    description = getattr(exc, "description", exc.message)
    log.debug("token request for %s failed: %s", creds.username, error)
    creds.plugin_host.notify(
        "sfjwt_exchange_failed",
        event=ExchangeFailed(
            token_url=creds.token_url,
            audience=creds.audience,
            consumer_key_hint=consumer_key_hint(creds.consumer_key),
            username=creds.username,
            key_scheme=creds.key.scheme,
            error=error,
            description=description,
            retryable=exc.retryable,
            duration_ms=elapsed,
        ),
    )


# -- the drivers -----------------------------------------------------------------------------------------


def run(flow: Flow[T]) -> T:
    """Drive a flow on this thread."""
    try:
        action = next(flow)
        while True:
            try:
                result = _perform(action)
            except BaseException as exc:  # noqa: BLE001 - thrown into the flow: it decides, its finally blocks run
                action = flow.throw(exc)
            else:
                action = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def _perform(action: Action) -> Any:
    if isinstance(action, Post):
        return action.exchange.post(action.body)
    if isinstance(action, Call):
        return action.fn(*action.args)  # a blocking backend on a thread cannot be cut; its own timeouts apply
    if isinstance(action, Store):
        try:
            return in_thread(action.fn, *action.args).result(action.timeout)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since Python 3.11
            raise _store_timeout(action) from None
    if isinstance(action, Wait):
        return action.flight.done.wait(max(0.0, action.until - time.monotonic()))
    time.sleep(action.seconds)
    return None


async def arun(flow: Flow[T]) -> T:
    """Drive a flow on the running event loop; blocking work goes to threads."""
    try:
        action = next(flow)
        while True:
            try:
                result = await _aperform(action)
            except BaseException as exc:  # noqa: BLE001 - cancellation too: the flow lands its flight, re-raises
                action = flow.throw(exc)
            else:
                action = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def _aperform(action: Action) -> Any:
    import asyncio

    if isinstance(action, Post):
        return await action.exchange.apost(action.body)
    if isinstance(action, Call):
        try:
            return await asyncio.wait_for(asyncio.to_thread(action.fn, *action.args), _left(action.until))
        except TimeoutError:
            raise TransientError(
                "the key backend did not answer before the retry deadline",
                hint="check the key store's availability (a sealed or unreachable Vault, AWS throttling)",
            ) from None
    if isinstance(action, Store):
        try:
            return await asyncio.wait_for(asyncio.wrap_future(in_thread(action.fn, *action.args)), action.timeout)
        except TimeoutError:
            raise _store_timeout(action) from None
    if isinstance(action, Wait):
        loop = asyncio.get_running_loop()
        landed = loop.create_future()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(_resolve, landed)
            except RuntimeError:  # the loop closed meanwhile: nobody waits any more
                pass

        action.flight.notify(wake)
        try:
            await asyncio.wait_for(landed, _left(action.until))
        except TimeoutError:
            return False
        return True
    await asyncio.sleep(action.seconds)
    return None


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(True)


def _left(until: float) -> float:
    return max(0.0, until - time.monotonic())


def in_thread(fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
    """Run `fn` in a daemon thread: a call that hangs is abandoned by its caller's timeout and does not
    keep the interpreter from exiting (a thread pool's workers would)."""
    import concurrent.futures  # only with a shared cache: not part of `import sfjwt_vault`

    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=target, name="sfjwt-store", daemon=True).start()
    return future


def _store_timeout(action: Store) -> StoreTimeout:
    name = getattr(getattr(action.fn, "__self__", None), "name", "the shared token cache")
    return StoreTimeout(
        f"{name} did not answer within {action.timeout:g} s",
        hint="a hung or overloaded store; the store timeout is the cache reference's timeout= option",
    )
