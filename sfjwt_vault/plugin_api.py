"""Everything a plugin may use from sfjwt-vault, in one module. The guide is docs/plugins.md.

    from sfjwt_vault.plugin_api import KeyBackendError, KeyRef, SecretBuffer, hookimpl

The names in `__all__` are the public plugin API: they keep their meaning within a major version, and
`tests/test_plugin_api.py` pins the list. Anything else in `sfjwt_vault.*` is internal, and
sfjwt-vault's own plugins (plugins/) import nothing else, so this boundary is the one they prove.

The shared token cache helpers (`SharedCache`, `Stored`, `key_hash`, ...) are loaded on first access:
a key backend that imports this module does not pay for the fleet cache machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cache import CacheKey
from .endpoints import is_loopback
from .errors import (
    ConfigurationError,
    KeyBackendError,
    KeyFormatError,
    PluginError,
    SfjwtError,
    TransientError,
    scrub,
)
from .events import ExchangeFailed, TokenIssued
from .hookspecs import KeyProblem, hookimpl
from .keyref import KeyRef, has_dot_segment
from .keys import MAX_KEY_BYTES
from .sdk_logging import quiet_sdk_logs
from .secret import SecretBuffer, wipe, wipe_received_bytes
from .signer import Signer
from .token import AccessToken

if TYPE_CHECKING:
    from .shared_cache import (
        DEFAULT_LEASE_TTL,
        SharedCache,
        Stored,
        fingerprint,
        key_hash,
        lease_seconds,
        timeout_seconds,
        token_from_bytes,
        token_to_bytes,
    )

_SHARED_CACHE_NAMES = frozenset(
    {
        "DEFAULT_LEASE_TTL",
        "SharedCache",
        "Stored",
        "fingerprint",
        "key_hash",
        "lease_seconds",
        "timeout_seconds",
        "token_from_bytes",
        "token_to_bytes",
    }
)

__all__ = [
    "DEFAULT_LEASE_TTL",
    "MAX_KEY_BYTES",
    "AccessToken",
    "CacheKey",
    "ConfigurationError",
    "ExchangeFailed",
    "KeyBackendError",
    "KeyFormatError",
    "KeyProblem",
    "KeyRef",
    "PluginError",
    "SecretBuffer",
    "SfjwtError",
    "SharedCache",
    "Signer",
    "Stored",
    "TokenIssued",
    "TransientError",
    "fingerprint",
    "has_dot_segment",
    "hookimpl",
    "is_loopback",
    "key_hash",
    "lease_seconds",
    "quiet_sdk_logs",
    "scrub",
    "timeout_seconds",
    "token_from_bytes",
    "token_to_bytes",
    "wipe",
    "wipe_received_bytes",
]


def __getattr__(name: str) -> Any:
    if name in _SHARED_CACHE_NAMES:
        from . import shared_cache

        value = getattr(shared_cache, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SHARED_CACHE_NAMES)
