"""The `vault` plugin: keys in HashiCorp Vault / OpenBao KV (`vault:`) and keyless Transit (`vault-transit:`),
and the fleet-wide token cache `vault-kv:<mount>/<prefix>?transit=<mount>/<key>` (SFJWT_TOKEN_CACHE).

hvac is imported on first use, never at import time, so `sfjwt plugins` works without the extra.
"""

from __future__ import annotations

from typing import Any

from sfjwt_vault import KeyRef, SecretBuffer, hookimpl
from sfjwt_vault.signer import Signer

from . import kv
from .session import VaultSession, get_session
from .transit import TransitKey, TransitSigner

__all__ = ["VaultSession", "get_session", "keep_alive"]

KV_SCHEME = "vault"
TRANSIT_SCHEME = "vault-transit"


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [KV_SCHEME, TRANSIT_SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer | None:
    if ref.scheme != KV_SCHEME:
        return None
    return kv.fetch(ref, get_session())


@hookimpl
def sfjwt_remote_signer(ref: KeyRef) -> Signer | None:
    if ref.scheme != TRANSIT_SCHEME:
        return None
    return TransitSigner(TransitKey.parse(ref), get_session())


@hookimpl
def sfjwt_previous_key_ref(ref: KeyRef) -> KeyRef | None:
    if ref.scheme != KV_SCHEME:
        return None
    return kv.previous_ref(ref, get_session())


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
    if ref.scheme != KV_SCHEME:
        return None
    return kv.store(ref, pem, overwrite, get_session())


@hookimpl
def sfjwt_shared_cache(url: str) -> Any:
    if not url.startswith("vault-kv:"):
        return None
    from .token_cache import VaultTokenCache

    return VaultTokenCache(url)


def keep_alive() -> VaultSession:
    """Log in or renew now if due, for long-running workers that fetch keys rarely (tokens are cached).

    Returns the process-wide session; its `logins` and `renewals` counters are safe to log.
    """
    session = get_session()
    session.client()
    return session
