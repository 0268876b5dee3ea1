"""AWS backends for sfjwt-vault: `aws-sm:` (private key in Secrets Manager) and `aws-kms:` (keyless
signing in KMS). Entry point `aws`, extra `aws` (boto3).

    aws-sm:<secret name | ARN>[?region=&version_stage=&version_id=][#field]
    aws-kms:<key id | alias/name | key ARN>[?region=]

and the fleet-wide token cache (SFJWT_TOKEN_CACHE):

    dynamodb:<table>?kms_key=<symmetric key>[&region=][&lease=<seconds>]

boto3 is imported on the first aws-* reference, not when this module loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfjwt_vault.plugin_api import KeyRef, SecretBuffer, Signer, hookimpl

from .ref import KMS_SCHEME, SM_SCHEME, previous_version

if TYPE_CHECKING:
    from sfjwt_vault.plugin_api import SharedCache

__all__ = ["CACHE_SCHEME", "KMS_SCHEME", "SM_SCHEME"]

CACHE_SCHEME = "dynamodb"

# The host calls these hooks only with references of the schemes declared here (and in pyproject.toml's
# `sfjwt_vault.schemes` entry points); `ref.scheme` only tells the plugin's own two schemes apart.


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [SM_SCHEME, KMS_SCHEME]


@hookimpl
def sfjwt_cache_schemes() -> list[str]:
    return [CACHE_SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer:
    from .secretsmanager import fetch_key

    return fetch_key(ref)


@hookimpl
def sfjwt_remote_signer(ref: KeyRef) -> Signer | None:
    if ref.scheme != KMS_SCHEME:
        return None  # aws-sm: the key is fetched
    from .kms import KmsSigner

    return KmsSigner(ref)


@hookimpl
def sfjwt_previous_key_ref(ref: KeyRef) -> KeyRef | None:
    return previous_version(ref)


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
    if ref.scheme != SM_SCHEME:
        return None  # aws-kms: KMS generates its keys; they are never imported
    from .secretsmanager import store_key

    return store_key(ref, pem, overwrite)


@hookimpl
def sfjwt_shared_cache(url: str) -> SharedCache:
    from .token_cache import DynamoTokenCache

    return DynamoTokenCache(url)
