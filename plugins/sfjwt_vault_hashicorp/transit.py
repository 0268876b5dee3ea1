"""Keyless signing with Vault Transit: `vault-transit:<mount>/<key>` (mount = all but the last segment,
or `?mount=`). The private key never leaves Vault; this process sees signatures and the public key.

Transit signs RSA with PSS by default, which Salesforce rejects, so every request asks for PKCS#1 v1.5
with SHA-256 explicitly, and for the key version whose public key we hold (so a rotated Transit key
cannot make signatures that do not match the certificate made from the cached public key).
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sfjwt_vault.plugin_api import ConfigurationError, KeyBackendError, KeyRef

from .errors import VaultNotFoundError
from .kv import mount_option
from .session import VaultSession

RSA_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096")
OPTIONS = {"mount"}  # the key never leaves Vault: there is no PEM to decrypt

_public_keys: dict[tuple[object, ...], tuple[int, RSAPublicKey]] = {}
_public_keys_lock = threading.Lock()


class TransitKey(NamedTuple):
    mount: str
    name: str

    @classmethod
    def parse(cls, ref: KeyRef) -> TransitKey:
        ref.check_options(OPTIONS, "vault-transit:transit/salesforce-jwt (or ?mount=team/transit)")
        full = ref.path.strip("/")
        mount = mount_option(ref)
        if mount:
            name = full[len(mount) + 1 :] if full.startswith(mount + "/") else full
        else:
            mount, _, name = full.rpartition("/")
        if not mount or not name or "/" in name:
            raise ConfigurationError(
                f"{ref}: expected vault-transit:<mount>/<key name>",
                hint="for example vault-transit:transit/salesforce-jwt",
            )
        return cls(mount=mount, name=name)


class TransitSigner:
    """A Signer whose RS256 signatures are made by Vault Transit."""

    key_id: str | None = None

    def __init__(self, key: TransitKey, session: VaultSession) -> None:
        self.key = key
        self._session = session

    def __repr__(self) -> str:
        return f"<TransitSigner {self.key.mount}/keys/{self.key.name}>"

    def _cache_key(self) -> tuple[object, ...]:
        return (*self._session.settings.cache_key(), self.key.mount, self.key.name)

    def _version_and_key(self) -> tuple[int, RSAPublicKey]:
        with _public_keys_lock:
            cached = _public_keys.get(self._cache_key())
        if cached is not None:
            return cached
        loaded = self._load()
        with _public_keys_lock:
            _public_keys[self._cache_key()] = loaded
        return loaded

    def _load(self) -> tuple[int, RSAPublicKey]:
        path = f"{self.key.mount}/keys/{self.key.name}"
        try:
            body = self._session.request("GET", path, what=f"read Transit key {path}", capability="read")
        except VaultNotFoundError:
            raise VaultNotFoundError(
                f"no Transit key at {path}",
                hint=f"create it: bao write -f {self.key.mount}/keys/{self.key.name} type=rsa-2048 "
                "(and check the mount name)",
            ) from None
        data = (body or {}).get("data") or {}
        key_type = str(data.get("type") or "unknown")
        if key_type not in RSA_TYPES:
            raise KeyBackendError(
                f"Transit key {path} is of type {key_type!r}, but Salesforce's JWT Bearer flow needs RSA (RS256)",
                hint=f"create an RSA key: bao write -f {self.key.mount}/keys/<name> type=rsa-2048",
            )
        version = int(data.get("latest_version") or 0)
        entry = (data.get("keys") or {}).get(str(version)) or {}
        pem = entry.get("public_key") if isinstance(entry, dict) else None
        if not isinstance(pem, str) or not pem:
            raise KeyBackendError(f"Transit key {path} returned no public key for version {version}")
        public = load_pem_public_key(pem.encode())
        if not isinstance(public, RSAPublicKey):
            raise KeyBackendError(f"Transit key {path} has a public key that is not RSA")
        return version, public

    def public_key(self) -> RSAPublicKey:
        return self._version_and_key()[1]

    def sign(self, message: bytes) -> bytes:
        version, public = self._version_and_key()
        path = f"{self.key.mount}/sign/{self.key.name}"
        body = self._session.request(
            "POST",
            path,
            what=f"sign with Transit key {self.key.mount}/keys/{self.key.name}",
            capability="update",
            json={
                "input": base64.b64encode(message).decode("ascii"),
                "signature_algorithm": "pkcs1v15",
                "hash_algorithm": "sha2-256",
                "key_version": version,
            },
        )
        signature = str(((body or {}).get("data") or {}).get("signature") or "")
        return decode_signature(signature, public.key_size // 8, path)


def decode_signature(signature: str, size: int, path: str) -> bytes:
    """`vault:v<N>:<standard base64>` -> raw signature bytes of the modulus size."""
    parts = signature.split(":", 2)
    if len(parts) != 3 or parts[0] != "vault" or not parts[1].startswith("v"):
        raise KeyBackendError(f"Transit at {path} returned a signature in an unknown format")
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        raise KeyBackendError(f"Transit at {path} returned a signature that is not base64") from None
    if len(raw) != size:
        raise KeyBackendError(f"Transit at {path} returned a {len(raw)}-byte signature; expected {size}")
    return raw


def reset_cache() -> None:
    """Forget cached Transit public keys (tests; after rotating a Transit key)."""
    with _public_keys_lock:
        _public_keys.clear()
