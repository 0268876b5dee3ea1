"""The hook contract between sfjwt-vault and its plugins (first-party backends and yours alike).

A key backend implements `sfjwt_schemes` and `sfjwt_fetch_key`; a remote signer (the key stays in the
store) implements `sfjwt_remote_signer` instead or as well; a fleet token store implements
`sfjwt_cache_schemes` and `sfjwt_shared_cache`. Event hooks let a plugin observe exchanges; their
payloads carry no secret. Implement hooks with the `hookimpl` marker from `sfjwt_vault.plugin_api`.

The routing rule: the host calls a reference hook only on the plugin that serves the reference's
scheme, so a hook never receives a reference of a scheme its plugin did not declare and never checks
"is this mine?". A plugin that serves several schemes tells them apart by `ref.scheme`. The guide for
plugin authors is docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import pluggy

if TYPE_CHECKING:
    from .events import ExchangeFailed, TokenIssued
    from .keyref import KeyRef
    from .secret import SecretBuffer
    from .shared_cache import SharedCache
    from .signer import Signer

PROJECT = "sfjwt_vault"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class KeyProblem(NamedTuple):
    """A setup problem with a key that still works (e.g. a key file others can read), and its fix."""

    message: str
    hint: str


@hookspec
def sfjwt_schemes() -> list[str]:  # type: ignore[empty-body]
    """Return the key-reference schemes this plugin serves, e.g. ``["file"]``.

    Must equal the schemes the distribution declares in its `sfjwt_vault.schemes` entry points (the
    host routes by those without importing the plugin, and refuses a plugin whose answer differs).
    """


@hookspec
def sfjwt_cache_schemes() -> list[str]:  # type: ignore[empty-body]
    """Return the shared token cache schemes this plugin serves (`SFJWT_TOKEN_CACHE`), e.g. ``["dynamodb"]``.

    Must equal the distribution's `sfjwt_vault.cache_schemes` entry points, like `sfjwt_schemes`.
    """


@hookspec(firstresult=True)
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer | None:  # type: ignore[empty-body]
    """Fetch the PEM private key that `ref` names, as a `SecretBuffer`.

    Called for every mint (keys are never cached), for references of your schemes only. Put the PEM
    bytes in a `SecretBuffer` without making `str` or `bytes` copies you cannot wipe, and wipe any
    buffer of your own before returning. The core parses the buffer and wipes it when the mint ends,
    errors included. Raise `ConfigurationError` for a malformed reference (unknown options included)
    and `KeyBackendError` (with a hint, never with key material in it) when the key cannot be fetched;
    `TransientError` when a retry may help.
    """


@hookspec(firstresult=True)
def sfjwt_remote_signer(ref: KeyRef) -> Signer | None:  # type: ignore[empty-body]
    """Return a `Signer` that signs inside the store, or None for a scheme of yours whose key is fetched.

    For stores that keep the private key and sign on request (Vault Transit, AWS KMS): the key never
    enters the process. The signer must produce RSASSA-PKCS1-v1_5 with SHA-256 (JWS RS256). The host
    asks this hook before `sfjwt_fetch_key`, so one scheme is served by one of the two.
    """


@hookspec(firstresult=True)
def sfjwt_previous_key_ref(ref: KeyRef) -> KeyRef | None:  # type: ignore[empty-body]
    """Return a reference to the version of the key before the current one, or None if there is none.

    Used only when the user opts in to rotation fallback: a Connected App holds one certificate, so for
    a few minutes after rotating the key Salesforce may still expect the old one. On `invalid assertion`
    the core retries once with the key this reference names (AWS: `AWSPREVIOUS`; Vault KV v2: the
    previous version).
    """


@hookspec(firstresult=True)
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:  # type: ignore[empty-body]
    """Store a new PEM private key at `ref` (for `sfjwt keygen --store`); None if this scheme cannot store.

    Return a short description of what was written (e.g. "new version 3", never the key). Where the
    store keeps versions, writing to an existing secret makes a new version (that is how keys rotate);
    where it does not, refuse to replace an existing key unless `overwrite` is true. Do not keep or log
    `pem`; the core wipes it.
    """


@hookspec(firstresult=True)
def sfjwt_key_problems(ref: KeyRef) -> list[KeyProblem] | None:  # type: ignore[empty-body]
    """Return setup problems with the key `ref` names that do not stop it from working (`sfjwt doctor`).

    For example a key file that other users can read. Never fetch or return key material here.
    """


@hookspec(firstresult=True)
def sfjwt_shared_cache(url: str) -> SharedCache | None:  # type: ignore[empty-body]
    """Return a shared token store for the cache reference `url`, one of your declared cache schemes.

    Selected by SFJWT_TOKEN_CACHE (e.g. `dynamodb:<table>?region=..&kms_key=..`, `vault-kv:<mount>/<prefix>
    ?transit=<mount>/<key>`) so a fleet makes one exchange per session. The store must encrypt the
    access token (never store it in plaintext), grant a short mint lease to one caller at a time, and
    invalidate only the token it is asked about. Create SDK clients lazily. See `SharedCache` in
    `sfjwt_vault.plugin_api`.
    """


@hookspec
def sfjwt_token_issued(event: TokenIssued) -> None:
    """Observe a successful exchange (metrics, audit). An exception here is logged, not raised."""


@hookspec
def sfjwt_exchange_failed(event: ExchangeFailed) -> None:
    """Observe a failed mint or exchange (alerting). An exception here is logged, not raised."""
