"""A token cache shared by a fleet (Lambda instances, workers): one exchange per session, not per instance.

Every exchange is a Salesforce login and a user gets 3,600 an hour; a hundred cold instances each
minting for themselves burn through that. A shared store (a plugin: DynamoDB, Vault KV) holds the
encrypted token and a short lease, so one instance mints and the others read its token.

The in-process `TokenCache` stays in front: a local hit never touches the store. On a local miss the
local single-flight leader asks `SharedTokens.before_mint`: a stored token, or a ticket to mint (with
the lease when it got it). After minting, `after_mint` publishes; on failure `abandon` frees the lease.
Sync callers run these directly; async callers run them in a thread, so both paths share this logic.

When the store is down, unreachable or denied, the instance mints for itself (availability over
sharing) and says so in one warning line per outage, without the token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .cache import CacheKey
from .errors import ConfigurationError
from .token import AccessToken

log = logging.getLogger("sfjwt_vault")

ENV = "SFJWT_TOKEN_CACHE"
LOCAL = "local"
DEFAULT_LEASE_TTL = 30.0
POLL_FIRST = 0.025
POLL_MAX = 0.25  # a follower sees the token at most ~250 ms after it is stored


class Stored(NamedTuple):
    token: AccessToken
    expires_at: float


@runtime_checkable
class SharedCache(Protocol):
    """What a shared store offers. Implementations encrypt the token; none keeps it in plaintext.

    Every method may raise: any exception means "store unavailable" and the caller mints locally.
    """

    name: str  # the cache reference without secrets, for log lines
    lease_ttl: float

    def get(self, key: CacheKey) -> Stored | None:
        """The stored token and when it expires, or None (absent, expired or invalidated)."""

    def try_acquire(self, key: CacheKey, ttl: float) -> object | None:
        """Take the mint lease for `ttl` seconds, or None while another instance holds it."""

    def release(self, key: CacheKey, lease: object) -> None:
        """Give the lease back without a token (the mint failed). Never frees someone else's lease."""

    def put(self, key: CacheKey, token: AccessToken, expires_at: float, lease: object) -> bool:
        """Store the token and free the lease; False if the lease was lost to another instance."""

    def invalidate(self, key: CacheKey, token: AccessToken) -> bool:
        """Forget the stored token only if it is still `token` (a newer one is kept)."""


def lease_seconds(raw: str | None, where: str) -> float:
    """The `lease=` option of a shared-cache reference: 0.5 to 600 seconds, default DEFAULT_LEASE_TTL."""
    if raw is None:
        return DEFAULT_LEASE_TTL
    try:
        lease = float(raw)
    except ValueError:
        lease = 0.0
    if not 0.5 <= lease <= 600:
        raise ConfigurationError(f"{where}: lease= must be 0.5 to 600 seconds", hint="the default is 30")
    return lease


def key_hash(key: CacheKey) -> str:
    """The partition key / path name for a CacheKey: a hash of the tuple (no URL quoting issues)."""
    return hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:40]


def fingerprint(key: CacheKey, token: AccessToken) -> str:
    """A hash naming one token, for conditional invalidation. Tokens are long random strings, so the
    hash reveals nothing; it is salted with the key hash so equal tokens in two keys look different."""
    return hashlib.sha256(f"{key_hash(key)}:{token.access_token}".encode()).hexdigest()[:32]


def token_to_bytes(token: AccessToken) -> bytes:
    """The plaintext to encrypt: the whole token response (the token and its non-secret fields)."""
    data = token.to_dict()
    if token.api_instance_url:
        data["api_instance_url"] = token.api_instance_url
    data.update({k: v for k, v in token.extra.items() if k not in data})
    return json.dumps(data, separators=(",", ":")).encode()


def token_from_bytes(raw: bytes) -> AccessToken:
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise ValueError("not a stored token")
    return AccessToken.from_response(data)


class Ticket:
    """The outcome of `before_mint`: a token to use, or the order to mint (with a lease, or alone)."""

    __slots__ = ("found", "lease", "share")

    def __init__(self, found: Stored | None = None, lease: object | None = None, share: bool = True) -> None:
        self.found = found
        self.lease = lease
        self.share = share  # False after a store failure: mint locally, do not touch the store again


class SharedTokens:
    """The coordination between the local single-flight leader and the shared store."""

    def __init__(self, store: SharedCache, *, margin: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.margin = margin
        self._sleep = sleep
        self._down = False
        self._lock = threading.Lock()

    def before_mint(self, key: CacheKey, *, force: bool = False) -> Ticket:
        """A live stored token, or a ticket to mint. Waits (bounded, jittered) while another instance
        holds the lease; takes the lease over when it expires."""
        try:
            if force:
                return Ticket(lease=self.store.try_acquire(key, self.store.lease_ttl))
            found = self._live(key)
            if found is not None:
                return self._ok(Ticket(found))
            deadline = time.monotonic() + self.store.lease_ttl + 5.0
            delay = POLL_FIRST
            while True:
                lease = self.store.try_acquire(key, self.store.lease_ttl)
                if lease is not None:
                    found = self._live(key)  # stored between our read and the lease
                    if found is not None:
                        self.store.release(key, lease)
                        return self._ok(Ticket(found))
                    return self._ok(Ticket(lease=lease))
                if time.monotonic() >= deadline:
                    log.info("shared token cache %s: lease still held after waiting; minting here", self.store.name)
                    return self._ok(Ticket())
                self._sleep(random.uniform(delay / 2, delay))  # noqa: S311 # nosec B311 - jitter, not crypto
                delay = min(delay * 2, POLL_MAX)
                found = self._live(key)
                if found is not None:
                    return self._ok(Ticket(found))
        except Exception as exc:  # noqa: BLE001 - any store failure: mint locally
            self._unavailable(exc)
            return Ticket(share=False)

    def after_mint(self, key: CacheKey, ticket: Ticket, token: AccessToken, expires_at: float) -> None:
        if ticket.lease is None or not ticket.share:
            return
        try:
            self.store.put(key, token, expires_at, ticket.lease)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)

    def abandon(self, key: CacheKey, ticket: Ticket) -> None:
        if ticket.lease is None or not ticket.share:
            return
        try:
            self.store.release(key, ticket.lease)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)

    def invalidate(self, key: CacheKey, token: AccessToken) -> bool:
        try:
            return self.store.invalidate(key, token)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)
            return False

    def _live(self, key: CacheKey) -> Stored | None:
        found = self.store.get(key)
        if found is None or found.expires_at - self.margin <= time.time():
            return None
        return found

    def _ok(self, ticket: Ticket) -> Ticket:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.info("shared token cache %s is reachable again", self.store.name)
        return ticket

    def _unavailable(self, exc: Exception) -> None:
        """One warning per outage (not per call), naming the store and the error class, never a value."""
        message = getattr(exc, "message", None)
        reason = f"{type(exc).__name__}: {message}" if isinstance(message, str) else type(exc).__name__
        with self._lock:
            first, self._down = not self._down, True
        if first:
            log.warning(
                "shared token cache %s unavailable (%s); using the local cache and minting locally",
                self.store.name,
                reason,
            )
        else:
            log.debug("shared token cache %s still unavailable (%s)", self.store.name, reason)


def resolve(ref: str | SharedCache | None, host: Any) -> SharedCache | None:
    """A store for a cache reference (`dynamodb:...`, `vault-kv:...`), or None for the local cache."""
    if ref is None or isinstance(ref, SharedCache):
        return ref
    text = ref.strip()
    if not text or text == LOCAL:
        return None
    store: SharedCache | None = host.shared_cache(text)
    if store is None:
        scheme = text.split(":", 1)[0]
        raise ConfigurationError(
            f"no installed plugin serves the shared token cache {scheme!r}",
            hint="use dynamodb:<table>?region=..&kms_key=.. (extra aws), vault-kv:<mount>/<prefix>?transit=.. "
            f"(extra vault), or {LOCAL}; and allow the plugin in SFJWT_PLUGINS",
        )
    return store
