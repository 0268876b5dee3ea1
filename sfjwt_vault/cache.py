"""The token cache and its single-flight: one exchange per session, however many callers ask at once.

Every exchange is a Salesforce login (3,600 per user per hour), so caching is a correctness feature.
Only access tokens are cached, never keys. The response carries no expiry, so a token's life is the
configured session lifetime, or the `exp` of a JWT-format access token when it has one.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from typing import NamedTuple

from .token import AccessToken

# Salesforce sessions default to 2 hours and slide with use, but an admin can set the timeout as low as
# 15 minutes per org or profile. Assume the shortest: a token re-minted early costs one login, a token
# assumed alive too long costs a failed request (then a re-mint, on the 401 path).
DEFAULT_SESSION_LIFETIME = 15 * 60.0
DEFAULT_REFRESH_MARGIN = 60.0


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
    """One mint in progress. Callers arriving meanwhile wait on it and share its result or error."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.token: AccessToken | None = None
        self.error: BaseException | None = None


class SingleFlight:
    """Per-key leader election for thread callers: one leader mints, followers wait for its outcome.

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
        flight.done.set()


class TokenCache:
    """Thread-safe in-process cache. `get` is a dict read: the warm path takes no lock."""

    def __init__(self) -> None:
        self._entries: dict[CacheKey, CachedToken] = {}
        self._lock = threading.Lock()
        self.flights = SingleFlight()

    def get(self, key: CacheKey, now: float | None = None) -> AccessToken | None:
        entry = self._entries.get(key)
        if entry is not None and entry.fresh(time.time() if now is None else now):
            return entry.token
        return None

    def put(self, key: CacheKey, token: AccessToken, *, expires_at: float, margin: float) -> None:
        lifetime = max(expires_at - time.time(), 0.0)
        # Refresh ahead by the margin, but never sooner than halfway through a short session.
        refresh_at = expires_at - min(margin, lifetime / 2)
        with self._lock:
            self._entries[key] = CachedToken(token, expires_at, refresh_at)

    def invalidate(self, key: CacheKey, token: AccessToken | None = None) -> bool:
        """Drop the entry; with `token`, only if it is still that token (never a newer one)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (token is not None and entry.token.access_token != token.access_token):
                return False
            del self._entries[key]
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<TokenCache {len(self._entries)} sessions>"


# One cache per process by default, so several Credentials for the same app and user share a session.
default_cache = TokenCache()
