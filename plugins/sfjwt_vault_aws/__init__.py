"""AWS backends for sfjwt-vault: `aws-sm:` (private key in Secrets Manager) and `aws-kms:` (keyless
signing in KMS). Entry point `aws`, extra `aws` (boto3).

    aws-sm:<secret name | ARN>[?region=&version_stage=&version_id=][#field]
    aws-kms:<key id | alias/name | key ARN>[?region=]

and the fleet-wide token cache (SFJWT_TOKEN_CACHE):

    dynamodb:<table>?kms_key=<symmetric key>[&region=][&lease=<seconds>]

boto3 is imported on the first aws-* reference, not when this module loads.
"""

from __future__ import annotations

from typing import Any

from sfjwt_vault import KeyRef, SecretBuffer, Signer, hookimpl

from .ref import KMS_SCHEME, SM_SCHEME, previous_version

__all__ = ["KMS_SCHEME", "SM_SCHEME"]


@hookimpl
def sfjwt_schemes() -> list[str]:
    return [SM_SCHEME, KMS_SCHEME]


@hookimpl
def sfjwt_fetch_key(ref: KeyRef) -> SecretBuffer | None:
    if ref.scheme != SM_SCHEME:
        return None
    from .secretsmanager import fetch_key

    return fetch_key(ref)


@hookimpl
def sfjwt_remote_signer(ref: KeyRef) -> Signer | None:
    if ref.scheme != KMS_SCHEME:
        return None
    from .kms import KmsSigner

    return KmsSigner(ref)


@hookimpl
def sfjwt_previous_key_ref(ref: KeyRef) -> KeyRef | None:
    return previous_version(ref)


@hookimpl
def sfjwt_store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
    if ref.scheme != SM_SCHEME:
        return None
    from .secretsmanager import store_key

    return store_key(ref, pem, overwrite)


@hookimpl
def sfjwt_shared_cache(url: str) -> Any:
    if not url.startswith("dynamodb:"):
        return None
    from ._token_cache import DynamoTokenCache

    return DynamoTokenCache(url)
