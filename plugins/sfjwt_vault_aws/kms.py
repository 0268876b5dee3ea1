"""AWS KMS as a remote signer: RS256 signatures made inside KMS, the private key never in this process.

`Sign` is called with MessageType RAW and RSASSA_PKCS1_V1_5_SHA_256, so KMS hashes the JWT signing
input itself (RAW takes up to 4096 bytes, far more than an assertion or a certificate's TBS part).
The public key and the key's spec come from `GetPublicKey`, once per process per key. Both calls go
through `errors.call`: the `Sign` request holds the signing input and its answer the signature, and
botocore's DEBUG log of the two would be a valid assertion.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from sfjwt_vault.plugin_api import KeyBackendError, KeyRef

from .clients import endpoint_for, forget_client, get_client
from .errors import Operation, call
from .ref import KmsKeyRef, parse_kms_ref, resolve_region

SERVICE = "kms"
ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
RSA_SPECS = {"RSA_2048", "RSA_3072", "RSA_4096"}
MAX_RAW_MESSAGE = 4096


class _KeyInfo(NamedTuple):
    public_key: RSAPublicKey
    key_arn: str


_infos: dict[tuple[str, str, str | None], _KeyInfo] = {}
_infos_lock = threading.Lock()


class KmsSigner:
    """A `Signer` over one KMS key. Cheap to create; the public key is cached per process."""

    key_id: str | None = None  # the JWT `kid` is left out: Salesforce does not use it

    def __init__(self, ref: KeyRef) -> None:
        self._kref: KmsKeyRef = parse_kms_ref(ref)
        self._region = resolve_region(self._kref.region, ref)
        self._client: Any = get_client(SERVICE, self._region)

    def public_key(self) -> RSAPublicKey:
        return self._info().public_key

    def sign(self, message: bytes) -> bytes:
        info = self._info()  # checks spec and usage before the first Sign, with a clear error
        if len(message) > MAX_RAW_MESSAGE:
            raise KeyBackendError(
                f"the message to sign is {len(message)} bytes; KMS signs at most {MAX_RAW_MESSAGE} bytes RAW",
                hint="keep the assertion's claims short",
            )
        response = call(
            self._operation("kms:Sign", info.key_arn),
            lambda: self._client.sign(
                KeyId=self._kref.key_id, Message=message, MessageType="RAW", SigningAlgorithm=ALGORITHM
            ),
            on_no_credentials=lambda: forget_client(SERVICE, self._region),
        )
        signature = response.get("Signature")
        if not isinstance(signature, bytes) or len(signature) != (info.public_key.key_size + 7) // 8:
            raise KeyBackendError(
                f"KMS returned no RSA signature of the expected size for {str(self._kref.ref)!r}",
                hint="check the endpoint (AWS_ENDPOINT_URL) is really KMS",
            )
        return signature

    def _info(self) -> _KeyInfo:
        cache_key = (self._region, self._kref.key_id, endpoint_for(SERVICE))
        info = _infos.get(cache_key)
        if info is None:
            info = self._fetch_info()
            with _infos_lock:
                _infos.setdefault(cache_key, info)
        return info

    def _fetch_info(self) -> _KeyInfo:
        response = call(
            self._operation("kms:GetPublicKey", self._kref.key_id),
            lambda: self._client.get_public_key(KeyId=self._kref.key_id),
            on_no_credentials=lambda: forget_client(SERVICE, self._region),
        )
        ref = str(self._kref.ref)
        spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec") or "unknown"
        usage = response.get("KeyUsage") or "unknown"
        fix = (
            "create one with `aws kms create-key --key-spec RSA_2048 --key-usage SIGN_VERIFY` and point "
            "the reference at it (Salesforce needs RS256: RSA PKCS#1 v1.5 with SHA-256)"
        )
        if spec not in RSA_SPECS:
            raise KeyBackendError(f"the KMS key {ref!r} has key spec {spec}, not an RSA signing key", hint=fix)
        if usage != "SIGN_VERIFY":
            raise KeyBackendError(f"the KMS key {ref!r} has key usage {usage}, not SIGN_VERIFY", hint=fix)
        if ALGORITHM not in (response.get("SigningAlgorithms") or []):
            raise KeyBackendError(f"the KMS key {ref!r} does not offer {ALGORITHM}", hint=fix)
        public = load_der_public_key(response["PublicKey"])
        if not isinstance(public, RSAPublicKey):  # pragma: no cover - KeySpec said RSA
            raise KeyBackendError(f"the KMS key {ref!r} did not return an RSA public key", hint=fix)
        return _KeyInfo(public_key=public, key_arn=str(response.get("KeyId") or self._kref.key_id))

    def _operation(self, action: str, resource: str) -> Operation:
        return Operation(ref=str(self._kref.ref), action=action, resource=resource, region=self._region)

    def __repr__(self) -> str:
        return f"<KmsSigner {str(self._kref.ref)!r} RS256>"


def reset_cache() -> None:
    """Forget cached public keys (tests)."""
    with _infos_lock:
        _infos.clear()
