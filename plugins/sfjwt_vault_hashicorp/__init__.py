"""The `vault` plugin: keys in HashiCorp Vault / OpenBao KV (`vault:`) and keyless Transit (`vault-transit:`),
and the fleet-wide token cache `vault-kv:<mount>/<prefix>?transit=<mount>/<key>` (SFJWT_TOKEN_CACHE).

hvac is imported on first use, never at import time, so `sfjwt plugins` works without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfjwt_vault.plugin_api import KeyRef, SecretBuffer, Signer, hookimpl

from . import kv
from .session import VaultSession, get_session
from .transit import TransitKey, TransitSigner

if TYPE_CHECKING:
    from sfjwt_vault.plugin_api import SharedCache

__all__ = ["VaultSession", "get_session", "keep_alive"]

KV_SCHEME = "vault"
TRANSIT_SCHEME = "vault-transit"
CACHE_SCHEME = "vault-kv"

# The host calls these hooks only with references of the schemes declared here (and in pyproject.toml's
# `sfjwt_vault.schemes` entry points); `ref.scheme` only tells the plugin's own two schemes apart.


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [KV_SCHEME, TRANSIT_SCHEME]


@hookimpl
def sfjwt_cache_schemes() -> list[str]:
    return [CACHE_SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer:
    return kv.fetch(ref, get_session())


@hookimpl
def sfjwt_remote_signer(ref: KeyRef) -> Signer | None:
    if ref.scheme != TRANSIT_SCHEME:
        return None  # vault: the key is fetched from KV
    return TransitSigner(TransitKey.parse(ref), get_session())


@hookimpl
def sfjwt_previous_key_ref(ref: KeyRef) -> KeyRef | None:
    if ref.scheme != KV_SCHEME:
        return None  # Transit keeps its versions inside the key; nothing to fall back to
    return kv.previous_ref(ref, get_session())


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
    if ref.scheme != KV_SCHEME:
        return None  # Transit generates its keys; they are never imported
    return kv.store(ref, pem, overwrite, get_session())


@hookimpl
def sfjwt_shared_cache(url: str) -> SharedCache:
    from .token_cache import VaultTokenCache

    return VaultTokenCache(url)


def keep_alive() -> VaultSession:
    """Log in or renew now if due, for long-running workers that fetch keys rarely (tokens are cached).

    Returns the process-wide session; its `logins` and `renewals` counters are safe to log.
    """
    session = get_session()
    session.client()
    return session
