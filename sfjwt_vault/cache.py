"""The token cache and its single-flight: one exchange per session, however many callers ask at once.

Every exchange is a Salesforce login (3,600 per user per hour), so caching is a correctness feature.
Only access tokens are cached, never keys. The response carries no expiry, so a token's life is the
configured session lifetime, or the `exp` of a JWT-format access token when it has one.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import NamedTuple

from .errors import SalesforceAuthError
from .token import AccessToken

# Salesforce sessions default to 2 hours and slide with use, but an admin can set the timeout as low as
# 15 minutes per org or profile. Assume the shortest: a token re-minted early costs one login, a token
# assumed alive too long costs a failed request (then a re-mint, on the 401 path).
DEFAULT_SESSION_LIFETIME = 15 * 60.0
DEFAULT_REFRESH_MARGIN = 60.0
DEAD_TOKENS_KEPT = 8  # per cache key: more than a session's worth of late 401s


class CacheKey(NamedTuple):
    token_url: str
    audience: str
    consumer_key: str
    username: str


class CachedToken(NamedTuple):
    token: AccessToken
    expires_at: float
    refresh_at: float

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at


def token_expiry(token: AccessToken, session_lifetime: float, received_at: float) -> float:
    """When the token stops working: the `exp` of a JWT access token, else receipt + lifetime.

    Receipt time is our clock, not the server's `issued_at`, so clock skew cannot stretch a session.
    """
    jwt_exp = _jwt_exp(token.access_token)
    if jwt_exp is not None:
        return jwt_exp
    return received_at + session_lifetime


def _jwt_exp(access_token: str) -> float | None:
    if not access_token.startswith("eyJ") or access_token.count(".") != 2:
        return None
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


class Flight:
    """One mint in progress. Callers arriving meanwhile wait on it and share its result or error.

    Threads wait on `done`; asyncio tasks of any event loop register a callback with `notify` (called
    from the landing thread, so it must be thread-safe: `loop.call_soon_threadsafe`). A flight that
    lands with neither token nor error (its leader was cancelled) tells followers to try again.
    """

    __slots__ = ("_callbacks", "_lock", "done", "error", "token")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.token: AccessToken | None = None
        self.error: Exception | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def notify(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when the flight lands (at once if it already has)."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def land(self) -> None:
        with self._lock:
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class SingleFlight:
    """Per-key leader election for every caller of the process, threads and tasks alike: one leader
    mints, followers wait (bounded by their deadline) for its outcome.

    A failed mint is shared with the followers that were waiting for it (they do not all retry at
    once) and is not cached: the next caller after it starts a new flight.
    """

    def __init__(self) -> None:
        self._flights: dict[CacheKey, Flight] = {}
        self._lock = threading.Lock()

    def join(self, key: CacheKey) -> tuple[Flight, bool]:
        """The flight for `key` and whether the caller leads it (and must call `land`)."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Flight()
            return flight, True

    def land(self, key: CacheKey, flight: Flight) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.land()


class Cooldown(NamedTuple):
    until: float  # time.time() instant
    error: SalesforceAuthError


class TokenCache:
    """Thread-safe in-process cache. `get` is a dict read: the warm path takes no lock.

    Besides the tokens it keeps, per cache key, what the process learnt about that app and user: the
    tokens it saw die (never adopted again, from the shared store or a late flight) and the login-rate
    cooldown (every `Credentials` for the key backs off together).
    """

    def __init__(self) -> None:
        self._entries: dict[CacheKey, CachedToken] = {}
        self._dead: dict[CacheKey, collections.deque[bytes]] = {}
        self._cooldowns: dict[CacheKey, Cooldown] = {}
        self._lock = threading.Lock()
        self.flights = SingleFlight()
        _caches.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's flights have no leader here, and its locks may be held by
        threads that do not exist here. Tokens, dead tokens and cooldowns stay valid."""
        self._lock = threading.Lock()
        self.flights = SingleFlight()

    def get(self, key: CacheKey, now: float | None = None) -> AccessToken | None:
        entry = self._entries.get(key)
        if entry is not None and entry.fresh(time.time() if now is None else now):
            return entry.token
        return None

    def peek(self, key: CacheKey) -> AccessToken | None:
        """The cached token, fresh or not."""
        entry = self._entries.get(key)
        return None if entry is None else entry.token

    def put(self, key: CacheKey, token: AccessToken, *, expires_at: float, margin: float) -> bool:
        """Keep `token` until its refresh time; False (nothing kept) if this process saw it die."""
        lifetime = max(expires_at - time.time(), 0.0)
        # Refresh ahead by the margin, but never sooner than halfway through a short session.
        refresh_at = expires_at - min(margin, lifetime / 2)
        mark = _mark(token)
        with self._lock:
            if mark in self._dead.get(key, ()):
                return False
            self._entries[key] = CachedToken(token, expires_at, refresh_at)
            return True

    def invalidate(self, key: CacheKey, token: AccessToken | None = None) -> bool:
        """Drop the entry; with `token`, only if it is still that token (never a newer one), and
        remember that `token` is dead so it is never cached again."""
        with self._lock:
            if token is not None:
                dead = self._dead.setdefault(key, collections.deque(maxlen=DEAD_TOKENS_KEPT))
                mark = _mark(token)
                if mark not in dead:
                    dead.append(mark)
            entry = self._entries.get(key)
            if entry is None or (token is not None and entry.token.access_token != token.access_token):
                return False
            del self._entries[key]
            return True

    def is_dead(self, key: CacheKey, token: AccessToken) -> bool:
        dead = self._dead.get(key)
        return dead is not None and _mark(token) in dead

    def cooldown(self, key: CacheKey) -> Cooldown | None:
        """The login-rate cooldown of `key` if it still runs."""
        cooldown = self._cooldowns.get(key)
        if cooldown is None or cooldown.until > time.time():
            return cooldown
        with self._lock:
            if self._cooldowns.get(key) is cooldown:
                del self._cooldowns[key]
        return None

    def cool_down(self, key: CacheKey, until: float, error: SalesforceAuthError) -> None:
        with self._lock:
            current = self._cooldowns.get(key)
            if current is None or current.until < until:
                self._cooldowns[key] = Cooldown(until, error)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._dead.clear()
            self._cooldowns.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<TokenCache {len(self._entries)} sessions>"


def _mark(token: AccessToken) -> bytes:
    """What the dead-token memory keeps: a digest, not the token."""
    return hashlib.sha256(token.access_token.encode()).digest()


_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


def _after_fork() -> None:
    for cache in list(_caches):
        cache._after_fork()


os.register_at_fork(after_in_child=_after_fork)

# One cache per process by default, so several Credentials for the same app and user share a session.
default_cache = TokenCache()
