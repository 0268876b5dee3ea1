"""A token cache shared by a fleet (Lambda instances, workers): one exchange per session, not per instance.

Every exchange is a Salesforce login and a user gets 3,600 an hour; a hundred cold instances each
minting for themselves burn through that. A shared store (a plugin: DynamoDB, Vault KV) holds the
encrypted token and a short lease, so one instance mints and the others read its token.

The in-process `TokenCache` stays in front: a local hit never touches the store. On a local miss the
flight's leader runs `SharedTokens.before_mint` (a stored token, a fleet-wide login cooldown, or a
ticket to mint, with the lease when it got it); after minting `after_mint` publishes; on failure
`abandon` frees the lease. These steps are generators of flow actions (`sfjwt_vault.flow`), so the
sync and the async driver run the same code; the store calls run in daemon threads.

Bounds (see docs/fleet.md): each store call gets the store's `timeout` (default STORE_TIMEOUT); a
failed or timed-out call opens a circuit breaker and the store is skipped (the instance mints for
itself, availability over sharing) for BREAKER_FIRST seconds, doubling to BREAKER_MAX while it keeps
failing, with one warning per outage and never the token in it. Waiting for another instance's lease
ends at the caller's retry deadline. The lease holder renews its lease while it mints, so a slow
exchange is not taken over; a holder that dies stops renewing and its lease runs out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from .cache import CacheKey
from .errors import ConfigurationError, TransientError
from .flow import Flow, Sleep, Store, in_thread
from .token import AccessToken

log = logging.getLogger("sfjwt_vault")

LOCAL = "local"
DEFAULT_LEASE_TTL = 30.0
STORE_TIMEOUT = 3.0  # seconds per store call, unless the reference says timeout=
BREAKER_FIRST = 30.0  # seconds a failed store is skipped, doubling while it keeps failing
BREAKER_MAX = 300.0
POLL_FIRST = 0.025
POLL_MAX = 0.25  # a follower sees the token at most ~250 ms after it is stored


class Stored(NamedTuple):
    """What a store holds for a key: a token and its expiry, and/or a login cooldown (epoch seconds)."""

    token: AccessToken | None
    expires_at: float
    cooldown_until: float = 0.0


class SharedCache(Protocol):
    """What a shared store offers. Implementations encrypt the token; none keeps it in plaintext.

    Every method may raise: any exception means "store unavailable" and the caller mints locally.
    Optional: `timeout` (seconds per call), `renew(key, lease, ttl) -> bool` (extend a held lease; without
    it a lease is taken for the whole retry deadline) and `set_cooldown(key, until)` (share a login
    cooldown; `get` then returns it in `Stored.cooldown_until`).
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


def option_seconds(raw: str | None, where: str, name: str, default: float, low: float, high: float) -> float:
    """A seconds option of a shared-cache reference (`lease=`, `timeout=`), checked against its range."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigurationError(
            f"{where}: {name}= must be {low:g} to {high:g} seconds", hint=f"the default is {default:g}"
        )
    return value


def lease_seconds(raw: str | None, where: str) -> float:
    """The `lease=` option of a shared-cache reference: 0.5 to 600 seconds, default DEFAULT_LEASE_TTL."""
    return option_seconds(raw, where, "lease", DEFAULT_LEASE_TTL, 0.5, 600)


def timeout_seconds(raw: str | None, where: str) -> float:
    """The `timeout=` option of a shared-cache reference: 0.1 to 60 seconds per store call."""
    return option_seconds(raw, where, "timeout", STORE_TIMEOUT, 0.1, 60)


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
    """The outcome of `before_mint`: a token to use, a cooldown, or the order to mint (with a lease or alone)."""

    __slots__ = ("cooldown_until", "found", "keeper", "lease", "share")

    def __init__(
        self,
        found: tuple[AccessToken, float] | None = None,
        lease: object | None = None,
        share: bool = True,
        cooldown_until: float = 0.0,
    ) -> None:
        self.found = found
        self.lease = lease
        self.share = share  # False after a store failure: mint locally, do not touch the store again
        self.cooldown_until = cooldown_until
        self.keeper: LeaseKeeper | None = None


class SharedTokens:
    """The coordination between the local flight leader and one shared store, for the whole process."""

    def __init__(self, store: SharedCache) -> None:
        self.store = store
        timeout = getattr(store, "timeout", None)
        self.timeout = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else STORE_TIMEOUT
        self._lock = threading.Lock()
        self._down = False
        self._failures = 0
        self._skip_until = 0.0  # time.monotonic(): the breaker is open until then

    def before_mint(
        self, key: CacheKey, *, force: bool, margin: float, until: float, dead: Callable[[CacheKey, AccessToken], bool]
    ) -> Flow[Ticket]:
        """A live stored token, a cooldown, or a ticket to mint. While another instance holds the lease,
        poll (jittered) until its token appears or its lease runs out, at most until `until`."""
        if not self.available():
            return Ticket(share=False)
        try:
            ttl = self._lease_ttl(until)
            if force:
                return self._ok(self._leased(key, (yield self._call(self.store.try_acquire, key, ttl)), ttl, until))
            found = self._usable(key, (yield self._call(self.store.get, key)), margin, dead)
            delay = POLL_FIRST
            while found is None:
                lease = yield self._call(self.store.try_acquire, key, ttl)
                if lease is not None:
                    found = self._usable(key, (yield self._call(self.store.get, key)), margin, dead)
                    if found is None:
                        return self._ok(self._leased(key, lease, ttl, until))
                    self._background(self.store.release, key, lease)  # stored between our read and the lease
                    break
                if time.monotonic() + delay >= until:
                    break
                yield Sleep(random.uniform(delay / 2, delay))  # noqa: S311 # nosec B311 - jitter, not crypto
                delay = min(delay * 2, POLL_MAX)
                found = self._usable(key, (yield self._call(self.store.get, key)), margin, dead)
        except Exception as exc:  # noqa: BLE001 - any store failure: mint locally
            self._unavailable(exc)
            return Ticket(share=False)
        if found is None:
            raise TransientError(
                f"another instance held the mint lease of {self.store.name} until this call's retry deadline",
                hint="its token exchange is slow or failing: check the token endpoint and the other instances' logs",
            )
        return self._ok(found)

    def after_mint(self, key: CacheKey, ticket: Ticket, token: AccessToken, expires_at: float) -> Flow[None]:
        """Publish the token (freeing the lease), bounded by the store timeout."""
        if ticket.lease is None or not ticket.share:
            return
        try:
            yield self._call(self.store.put, key, token, expires_at, ticket.lease)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)
        finally:
            if ticket.keeper is not None:
                ticket.keeper.stop()

    def abandon(self, key: CacheKey, ticket: Ticket) -> Flow[None]:
        """Free the lease of a failed mint, bounded by the store timeout."""
        if ticket.keeper is not None:
            ticket.keeper.stop()
        if ticket.lease is None or not ticket.share or not self.available():
            return
        try:
            yield self._call(self.store.release, key, ticket.lease)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)

    def abandon_soon(self, key: CacheKey, ticket: Ticket) -> None:
        """`abandon` in the background, for a flow that is being cancelled and cannot wait."""
        if ticket.keeper is not None:
            ticket.keeper.stop()
        if ticket.lease is not None and ticket.share:
            self._background(self.store.release, key, ticket.lease)

    def invalidate(self, key: CacheKey, token: AccessToken) -> None:
        """Forget `token` in the store, in the background: a 401 path never waits for the store."""
        self._background(self.store.invalidate, key, token)

    def current(self, key: CacheKey) -> Flow[AccessToken | None]:
        """The unexpired token the store holds for `key` (the fleet's current session), for a revocation.
        A store that cannot be read is an error here: there is nothing else to revoke."""
        try:
            stored: Stored | None = yield self._call(self.store.get, key)
        except Exception as exc:  # noqa: BLE001 - any store failure
            self._unavailable(exc)
            raise TransientError(
                f"the shared token cache {self.store.name} could not be read ({type(exc).__name__})",
                hint="check the store's availability and permissions, or revoke a token given on stdin",
            ) from None
        if stored is None or stored.token is None or stored.expires_at <= time.time():
            return None
        return stored.token

    def forget(self, key: CacheKey, token: AccessToken) -> Flow[None]:
        """Drop a revoked `token` from the store and wait for it (bounded by the store timeout), unlike
        `invalidate`: a revocation must not leave it for the fleet, nor in a daemon thread of a process
        that is exiting. A failure is a warning: instances that read the token get a 401 and mint again."""
        try:
            yield self._call(self.store.invalidate, key, token)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)
            log.warning(
                "the revoked session could not be dropped from the shared token cache %s (%s); instances "
                "that read it get a 401 and mint a new one",
                self.store.name,
                type(exc).__name__,
            )

    def cool_down(self, key: CacheKey, until: float) -> Flow[None]:
        """Tell the fleet this user's logins are refused until `until` (if the store can hold it)."""
        set_cooldown = getattr(self.store, "set_cooldown", None)
        if set_cooldown is None or not self.available():
            return
        try:
            yield self._call(set_cooldown, key, until)
        except Exception as exc:  # noqa: BLE001
            self._unavailable(exc)

    # -- the pieces -----------------------------------------------------------------------------------

    def available(self) -> bool:
        """False while the breaker is open after a failure; then one call probes the store again."""
        return time.monotonic() >= self._skip_until

    def _call(self, fn: Callable[..., Any], *args: Any) -> Store:
        return Store(fn, *args, timeout=self.timeout)

    def _lease_ttl(self, until: float) -> float:
        """The lease asked for: the store's, or (a store that cannot renew) the whole retry deadline."""
        if hasattr(self.store, "renew"):
            return self.store.lease_ttl
        return max(self.store.lease_ttl, until - time.monotonic())

    def _leased(self, key: CacheKey, lease: object | None, ttl: float, until: float) -> Ticket:
        ticket = Ticket(lease=lease)
        if lease is not None and hasattr(self.store, "renew"):
            ticket.keeper = LeaseKeeper(self, key, lease, ttl, until)
        return ticket

    def _usable(
        self, key: CacheKey, stored: Stored | None, margin: float, dead: Callable[[CacheKey, AccessToken], bool]
    ) -> Ticket | None:
        """A ticket for what the store holds, if it is a live token this process did not see die, or a
        running cooldown."""
        if stored is None:
            return None
        now = time.time()
        if stored.cooldown_until > now:
            return Ticket(cooldown_until=stored.cooldown_until)
        token = stored.token
        if token is None or stored.expires_at - margin <= now or dead(key, token):
            return None
        return Ticket((token, stored.expires_at))

    def _background(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self.available():
            return

        def done(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                self._unavailable(exc)

        in_thread(fn, *args).add_done_callback(done)

    def _ok(self, ticket: Ticket) -> Ticket:
        if self._down:
            with self._lock:
                if self._down:
                    self._down, self._failures = False, 0
                    log.info("shared token cache %s is reachable again", self.store.name)
        return ticket

    def _unavailable(self, exc: BaseException) -> None:
        """Open the breaker; one warning per outage (not per call), naming the store and the error
        class, never a value."""
        message = getattr(exc, "message", None)
        reason = f"{type(exc).__name__}: {message}" if isinstance(message, str) else type(exc).__name__
        with self._lock:
            first, self._down = not self._down, True
            self._failures += 1
            skip = min(BREAKER_MAX, BREAKER_FIRST * 2 ** (self._failures - 1))
            self._skip_until = time.monotonic() + skip
        if first:
            log.warning(
                "shared token cache %s unavailable (%s); using the local cache and minting locally, "
                "asking the store again in %.0f s",
                self.store.name,
                reason,
                skip,
            )
        else:
            log.debug("shared token cache %s still unavailable (%s); next try in %.0f s", self.store.name, reason, skip)


class LeaseKeeper:
    """Renews a held lease every third of its time while the holder mints, so a slow exchange is not
    taken over. It stops when the mint ends, when the lease is lost, or at the holder's deadline; a
    holder that dies stops renewing and its lease runs out."""

    def __init__(self, shared: SharedTokens, key: CacheKey, lease: object, ttl: float, until: float) -> None:
        self._stopped = threading.Event()
        renew = shared.store.renew  # type: ignore[attr-defined] # checked by the caller

        def keep() -> None:
            while not self._stopped.wait(ttl / 3) and time.monotonic() < until:
                try:
                    if not renew(key, lease, ttl):
                        return
                except Exception as exc:  # noqa: BLE001 - the lease may run out: at most one extra login
                    log.debug("shared token cache %s: lease renewal failed (%s)", shared.store.name, type(exc).__name__)

        threading.Thread(target=keep, name="sfjwt-lease", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()


_registry: weakref.WeakKeyDictionary[Any, dict[str, SharedTokens]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child starts with fresh coordination: no lock held by a parent's thread, no lease keeper."""
    global _registry_lock
    _registry.clear()
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def shared_tokens(ref: str, host: Any) -> SharedTokens | None:
    """The process-wide coordination for a cache reference (per plugin host), so every `Credentials`
    built from the same setting shares one store, one breaker and one set of leases; None for local."""
    text = ref.strip()
    if not text or text == LOCAL:
        return None
    with _registry_lock:
        found = _registry.setdefault(host, {}).get(text)
    if found is not None:
        return found
    store = resolve(text, host)
    if store is None:  # pragma: no cover - resolve returns None only for LOCAL, handled above
        return None
    with _registry_lock:
        return _registry.setdefault(host, {}).setdefault(text, SharedTokens(store))


def resolve(ref: str | SharedCache | None, host: Any) -> SharedCache | None:
    """A store for a cache reference (`dynamodb:...`, `vault-kv:...`), or None for the local cache.

    A store object is used as it is. The test is "a string or not", never a structural check: since
    Python 3.12, `isinstance` against a runtime-checkable Protocol ignores `__getattr__`, so a store
    wrapped by a delegating proxy (instrumentation, a test's counter) would not be recognised.
    """
    if ref is None or not isinstance(ref, str):
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
