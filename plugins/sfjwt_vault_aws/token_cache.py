"""A fleet-wide token cache in DynamoDB, the token encrypted with KMS: `dynamodb:<table>?kms_key=..`.

    dynamodb:<table name | ARN>?kms_key=<key id | alias/name | ARN>[&region=][&lease=<seconds>][&timeout=<seconds>]

One item per CacheKey, partition key `pk` = a hash of the key tuple. Attributes: `ct` (the token
response encrypted with KMS Encrypt, EncryptionContext {"sfjwt:cache": pk}), `fp` (a hash of the token,
for conditional invalidation), `expires_at`, `lease_id`/`lease_until` (the mint lease), `cooldown_until`
(a fleet-wide login cooldown), `ttl_epoch` (the table's TTL attribute) and, for humans, `username` and
`token_url`. The plaintext token never
reaches DynamoDB. Every write is conditional: one instance holds the lease; invalidation removes only
the token whose fingerprint it names; a lease is only renewed or freed by its holder, or runs out.
Each call is made once: the core bounds it (`timeout=`), and retries belong to the caller's policy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

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

from .clients import forget_client, get_client
from .errors import Operation, call
from .ref import resolve_region

SCHEME = "dynamodb"
CONTEXT_KEY = "sfjwt:cache"
TTL_GRACE = 3600  # items outlive their token by an hour, then DynamoDB's TTL deletes them
_OPTIONS = {"region", "kms_key", "lease", "timeout"}
_CONFLICT = object()

T = TypeVar("T")


class DynamoTokenCache:
    """`SharedCache` on one DynamoDB table. Thread-safe (boto3 clients are)."""

    def __init__(self, url: str) -> None:
        ref = KeyRef.parse(url)
        ref.check_options(
            _OPTIONS, "dynamodb:<table>?kms_key=alias/<name>[&region=..][&lease=30][&timeout=3]", what="token cache"
        )
        kms_key = ref.options.get("kms_key", "").strip()
        if not kms_key:
            raise ConfigurationError(
                f"the token cache {url!r} names no kms_key",
                hint="tokens are encrypted before they are stored: add ?kms_key=alias/<symmetric key>",
            )
        self.table = ref.path
        self.kms_key = kms_key
        self.region = resolve_region(ref.options.get("region") or _arn_region(ref.path), ref)
        self.lease_ttl = lease_seconds(ref.options.get("lease"), str(ref))
        self.timeout = timeout_seconds(ref.options.get("timeout"), str(ref))
        self.name = f"{SCHEME}:{self.table}"
        for service in ("dynamodb", "kms"):  # built now (offline, ~100 ms of CPU), not inside a timed call
            get_client(service, self.region)

    def __repr__(self) -> str:
        return f"<DynamoTokenCache {self.name} kms_key={self.kms_key} lease={self.lease_ttl:g}s>"

    # -- SharedCache -------------------------------------------------------------------------------

    def get(self, key: CacheKey) -> Stored | None:
        pk = key_hash(key)
        response = self._db("dynamodb:GetItem", lambda c: c.get_item(**self._item(pk), ConsistentRead=True))
        item = response.get("Item") or {}
        cooldown = float(item["cooldown_until"]["N"]) if "cooldown_until" in item else 0.0
        now = time.time()
        if "ct" not in item or "expires_at" not in item or float(item["expires_at"]["N"]) <= now:
            return Stored(None, 0.0, cooldown) if cooldown > now else None
        return Stored(self._decrypt(pk, item["ct"]["B"]), float(item["expires_at"]["N"]), cooldown)

    def try_acquire(self, key: CacheKey, ttl: float) -> object | None:
        pk, lease_id, now = key_hash(key), uuid.uuid4().hex, time.time()
        result = self._update(
            "dynamodb:UpdateItem",
            pk,
            update="SET lease_id = :id, lease_until = :until, username = :user, token_url = :url, "
            "ttl_epoch = if_not_exists(ttl_epoch, :ttl)",
            condition="attribute_not_exists(pk) OR attribute_not_exists(lease_until) OR lease_until < :now",
            values={
                ":id": {"S": lease_id},
                ":until": {"N": _num(now + ttl)},
                ":now": {"N": _num(now)},
                ":user": {"S": key.username},
                ":url": {"S": key.token_url},
                ":ttl": {"N": str(int(now + ttl + TTL_GRACE))},
            },
        )
        return None if result is _CONFLICT else lease_id

    def renew(self, key: CacheKey, lease: object, ttl: float) -> bool:
        result = self._update(
            "dynamodb:UpdateItem",
            key_hash(key),
            update="SET lease_until = :until",
            condition="lease_id = :id",
            values={":id": {"S": str(lease)}, ":until": {"N": _num(time.time() + ttl)}},
        )
        return result is not _CONFLICT

    def set_cooldown(self, key: CacheKey, until: float) -> None:
        self._update(
            "dynamodb:UpdateItem",
            key_hash(key),
            update="SET cooldown_until = :until, username = :user, token_url = :url, "
            "ttl_epoch = if_not_exists(ttl_epoch, :ttl)",
            condition="attribute_not_exists(cooldown_until) OR cooldown_until < :until",
            values={
                ":until": {"N": _num(until)},
                ":user": {"S": key.username},
                ":url": {"S": key.token_url},
                ":ttl": {"N": str(int(until + TTL_GRACE))},
            },
        )

    def release(self, key: CacheKey, lease: object) -> None:
        self._update(
            "dynamodb:UpdateItem",
            key_hash(key),
            update="REMOVE lease_id, lease_until",
            condition="lease_id = :id",
            values={":id": {"S": str(lease)}},
        )

    def put(self, key: CacheKey, token: AccessToken, expires_at: float, lease: object) -> bool:
        pk = key_hash(key)
        blob = self._encrypt(pk, token)
        result = self._update(
            "dynamodb:UpdateItem",
            pk,
            update="SET ct = :ct, fp = :fp, expires_at = :exp, ttl_epoch = :ttl, username = :user, "
            "token_url = :url REMOVE lease_id, lease_until, cooldown_until",
            condition="lease_id = :id OR attribute_not_exists(lease_until) OR lease_until < :now",
            values={
                ":ct": {"B": blob},
                ":fp": {"S": fingerprint(key, token)},
                ":exp": {"N": _num(expires_at)},
                ":ttl": {"N": str(int(expires_at + TTL_GRACE))},
                ":user": {"S": key.username},
                ":url": {"S": key.token_url},
                ":id": {"S": str(lease)},
                ":now": {"N": _num(time.time())},
            },
        )
        return result is not _CONFLICT

    def invalidate(self, key: CacheKey, token: AccessToken) -> bool:
        result = self._update(
            "dynamodb:UpdateItem",
            key_hash(key),
            update="REMOVE ct, fp, expires_at",
            condition="fp = :fp",
            values={":fp": {"S": fingerprint(key, token)}},
        )
        return result is not _CONFLICT

    # -- calls ---------------------------------------------------------------------------------------

    def _item(self, pk: str) -> dict[str, Any]:
        return {"TableName": self.table, "Key": {"pk": {"S": pk}}}

    def _update(self, action: str, pk: str, *, update: str, condition: str, values: dict[str, Any]) -> Any:
        def call(client: Any) -> Any:
            try:
                return client.update_item(
                    **self._item(pk),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            except client.exceptions.ConditionalCheckFailedException:
                return _CONFLICT

        return self._db(action, call)

    def _db(self, action: str, fn: Callable[[Any], T]) -> T:
        return self._once("dynamodb", Operation(self.name, action, f"table {self.table}", self.region), fn)

    def _kms(self, action: str, fn: Callable[[Any], T]) -> T:
        extra = f'the key policy must allow it with kms:EncryptionContextKeys "{CONTEXT_KEY}"'
        return self._once("kms", Operation(self.name, action, self.kms_key, self.region, extra), fn)

    def _once(self, service: str, operation: Operation, fn: Callable[[Any], T]) -> T:
        """One AWS call, its failure as our error. SDK logging stays quiet: botocore's DEBUG lines would
        show the plaintext (base64) of a Decrypt."""
        client = get_client(service, self.region)
        return call(operation, lambda: fn(client), on_no_credentials=lambda: forget_client(service, self.region))

    def _encrypt(self, pk: str, token: AccessToken) -> bytes:
        plaintext = token_to_bytes(token)
        response = self._kms(
            "kms:Encrypt",
            lambda c: c.encrypt(KeyId=self.kms_key, Plaintext=plaintext, EncryptionContext={CONTEXT_KEY: pk}),
        )
        blob = response.get("CiphertextBlob")
        if not isinstance(blob, bytes) or not blob:
            raise KeyBackendError(f"KMS returned no ciphertext for the token cache {self.name}")
        return blob

    def _decrypt(self, pk: str, blob: bytes) -> AccessToken:
        response = self._kms(
            "kms:Decrypt",
            lambda c: c.decrypt(KeyId=self.kms_key, CiphertextBlob=blob, EncryptionContext={CONTEXT_KEY: pk}),
        )
        try:
            return token_from_bytes(response["Plaintext"])
        except (KeyError, ValueError, TypeError):
            raise KeyBackendError(f"the token cache {self.name} holds an item that is not a token") from None


def _num(value: float) -> str:
    return f"{value:.3f}"


def _arn_region(path: str) -> str | None:
    parts = path.split(":")
    return parts[3] if path.startswith("arn:") and len(parts) > 4 and parts[2] == "dynamodb" else None
