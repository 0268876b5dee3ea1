"""A fleet-wide token cache in Vault KV v2, the token encrypted with Transit: `vault-kv:<mount>/<prefix>`.

    vault-kv:<mount>/<prefix>?transit=<transit mount>/<key>[&mount=<kv mount>][&lease=<s>][&timeout=<s>]

One secret per CacheKey at `<mount>/data/<prefix>/<hash of the key tuple>`, with the fields `ct` (the
token response encrypted by Transit `encrypt/<key>` with the key hash as derivation context: use an
aes256-gcm96 key with derived=true), `fp` (a hash of the token), `expires_at`, `lease_id`/`lease_until`,
`cooldown_until` (a fleet-wide login cooldown) and, for humans, `username` and `token_url`. Every write
is a check-and-set (`cas`) against the version just read, which makes the lease exclusive and lets
invalidation remove only the token it names.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import Any

from sfjwt_vault.plugin_api import (
    AccessToken,
    CacheKey,
    ConfigurationError,
    KeyBackendError,
    KeyRef,
    Stored,
    fingerprint,
    key_hash,
    lease_seconds,
    timeout_seconds,
    token_from_bytes,
    token_to_bytes,
)

from .errors import VaultNotFoundError
from .session import VaultSession, get_session

SCHEME = "vault-kv"
CAS_ROUNDS = 5
_OPTIONS = {"transit", "mount", "lease", "timeout"}
_LEASE = ("lease_id", "lease_until")
_TOKEN = ("ct", "fp", "expires_at")


class _Conflict(Exception):
    """The secret changed between our read and our write (check-and-set refused)."""


class VaultTokenCache:
    """`SharedCache` on a KV v2 prefix. Thread-safe: the Vault session is."""

    def __init__(self, url: str, session: VaultSession | None = None) -> None:
        ref = KeyRef.parse(url)
        ref.check_options(
            _OPTIONS,
            "vault-kv:<mount>/<prefix>?transit=<mount>/<key>[&mount=..][&lease=30][&timeout=3]",
            what="token cache",
        )
        transit = ref.options.get("transit", "").strip("/")
        self.transit_mount, _, self.transit_key = transit.rpartition("/")
        if not self.transit_mount or not self.transit_key:
            raise ConfigurationError(
                f"the token cache {url!r} names no Transit key (transit=<mount>/<key>)",
                hint="tokens are encrypted before they are stored: create one with "
                "`bao write -f transit/keys/sfjwt-cache type=aes256-gcm96 derived=true`",
            )
        full = ref.path.strip("/")
        self.mount = ref.options.get("mount", "").strip("/") or full.split("/", 1)[0]
        if not full.startswith(self.mount + "/") or len(full) <= len(self.mount) + 1:
            raise ConfigurationError(
                f"the token cache {url!r} must be vault-kv:<mount>/<prefix>", hint="e.g. vault-kv:secret/sfjwt-cache"
            )
        self.prefix = full[len(self.mount) + 1 :]
        self.lease_ttl = lease_seconds(ref.options.get("lease"), url)
        self.timeout = timeout_seconds(ref.options.get("timeout"), url)
        self.name = f"{SCHEME}:{full}"
        self._session = session

    def __repr__(self) -> str:
        return f"<VaultTokenCache {self.name} transit={self.transit_mount}/{self.transit_key}>"

    @property
    def session(self) -> VaultSession:
        return self._session or get_session()

    # -- SharedCache -------------------------------------------------------------------------------

    def get(self, key: CacheKey) -> Stored | None:
        pk = key_hash(key)
        data, _ = self._read(pk)
        cooldown = float(data.get("cooldown_until") or 0)
        now = time.time()
        if not data.get("ct") or not data.get("expires_at") or float(data["expires_at"]) <= now:
            return Stored(None, 0.0, cooldown) if cooldown > now else None
        return Stored(self._decrypt(pk, str(data["ct"])), float(data["expires_at"]), cooldown)

    def try_acquire(self, key: CacheKey, ttl: float) -> object | None:
        pk, lease_id, now = key_hash(key), uuid.uuid4().hex, time.time()
        data, version = self._read(pk)
        if data.get("lease_id") and float(data.get("lease_until") or 0) > now:
            return None
        data.update(lease_id=lease_id, lease_until=f"{now + ttl:.3f}", username=key.username, token_url=key.token_url)
        try:
            self._write(pk, data, version)
        except _Conflict:
            return None
        return lease_id

    def renew(self, key: CacheKey, lease: object, ttl: float) -> bool:
        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            if data.get("lease_id") != lease:
                return None
            return {**data, "lease_until": f"{time.time() + ttl:.3f}"}

        return self._cas_loop(key_hash(key), change)

    def set_cooldown(self, key: CacheKey, until: float) -> None:
        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            if float(data.get("cooldown_until") or 0) >= until:
                return None
            return {**data, "cooldown_until": f"{until:.3f}", "username": key.username, "token_url": key.token_url}

        self._cas_loop(key_hash(key), change)

    def release(self, key: CacheKey, lease: object) -> None:
        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            if data.get("lease_id") != lease:
                return None
            return _without(data, _LEASE)

        self._cas_loop(key_hash(key), change)

    def put(self, key: CacheKey, token: AccessToken, expires_at: float, lease: object) -> bool:
        pk = key_hash(key)
        ct = self._encrypt(pk, token)

        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            held = data.get("lease_id") and float(data.get("lease_until") or 0) > time.time()
            if held and data.get("lease_id") != lease:
                return None  # another instance took the lease over; it publishes its own token
            return {
                "ct": ct,
                "fp": fingerprint(key, token),
                "expires_at": f"{expires_at:.3f}",
                "username": key.username,
                "token_url": key.token_url,
            }

        return self._cas_loop(pk, change)

    def invalidate(self, key: CacheKey, token: AccessToken) -> bool:
        fp = fingerprint(key, token)

        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            return _without(data, _TOKEN) if data.get("fp") == fp else None

        return self._cas_loop(key_hash(key), change)

    # -- KV v2 with check-and-set --------------------------------------------------------------------

    def _path(self, pk: str) -> str:
        return f"{self.mount}/data/{self.prefix}/{pk}"

    def _read(self, pk: str) -> tuple[dict[str, Any], int]:
        try:
            body = self.session.request("GET", self._path(pk), what="read the shared token cache", capability="read")
        except VaultNotFoundError:
            return {}, 0
        data = (body or {}).get("data") or {}
        fields = data.get("data")
        return (dict(fields) if isinstance(fields, dict) else {}), int((data.get("metadata") or {}).get("version") or 0)

    def _write(self, pk: str, data: dict[str, Any], version: int) -> None:
        try:
            self.session.request(
                "POST",
                self._path(pk),
                what="write the shared token cache",
                capability="create" if version == 0 else "update",
                json={"data": data, "options": {"cas": version}},
            )
        except KeyBackendError as exc:
            if "check-and-set" in exc.message:
                raise _Conflict from None
            raise

    def _cas_loop(self, pk: str, change: Any) -> bool:
        """Read, change, write with cas; again on a conflict. False if `change` declines."""
        for _ in range(CAS_ROUNDS):
            data, version = self._read(pk)
            new = change(data)
            if new is None:
                return False
            try:
                self._write(pk, new, version)
                return True
            except _Conflict:
                continue
        return False

    # -- Transit --------------------------------------------------------------------------------------

    def _encrypt(self, pk: str, token: AccessToken) -> str:
        body = self.session.request(
            "POST",
            f"{self.transit_mount}/encrypt/{self.transit_key}",
            what=f"encrypt with Transit key {self.transit_mount}/keys/{self.transit_key}",
            capability="update",
            json={"plaintext": _b64(token_to_bytes(token)), "context": _b64(pk.encode())},
        )
        ct = str(((body or {}).get("data") or {}).get("ciphertext") or "")
        if not ct.startswith("vault:"):
            raise KeyBackendError(f"Transit returned no ciphertext for the token cache {self.name}")
        return ct

    def _decrypt(self, pk: str, ct: str) -> AccessToken:
        body = self.session.request(
            "POST",
            f"{self.transit_mount}/decrypt/{self.transit_key}",
            what=f"decrypt with Transit key {self.transit_mount}/keys/{self.transit_key}",
            capability="update",
            json={"ciphertext": ct, "context": _b64(pk.encode())},
        )
        try:
            plaintext = base64.b64decode(str(((body or {}).get("data") or {}).get("plaintext") or ""), validate=True)
            return token_from_bytes(plaintext)
        except (binascii.Error, ValueError, TypeError):
            raise KeyBackendError(f"the token cache {self.name} holds a secret that is not a token") from None


def _without(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in names}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
