"""The JWT Bearer assertion: claims as Salesforce wants them, signed by whatever `Signer` is given.

PyJWT does the JWS encoding; signing goes through an algorithm object that hands the signing input to
the signer, so a local key and a remote signer (Transit, KMS) share one code path.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from jwt.algorithms import Algorithm
from jwt.api_jws import PyJWS

from .signer import Signer

MAX_LIFETIME = 180  # Salesforce: exp "within 3 minutes"
DEFAULT_LIFETIME = 180


class _SignerRS256(Algorithm):
    """RS256 for PyJWT where the 'key' is a Signer: the private key (if any) stays inside it."""

    def prepare_key(self, key: Any) -> Any:
        # Duck-typed, not isinstance(key, Signer): since Python 3.12 a runtime-checkable Protocol
        # ignores __getattr__, so a signer behind a delegating wrapper would be refused.
        if not callable(getattr(key, "sign", None)):
            raise TypeError("expected a Signer")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        signature: bytes = key.sign(msg)
        return signature

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:  # pragma: no cover - never verifies
        raise NotImplementedError("assertions are only signed here")

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def from_jwk(jwk: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


_jws = PyJWS(algorithms=[])
_jws.register_algorithm("RS256", _SignerRS256())


def build_claims(
    consumer_key: str,
    username: str,
    audience: str,
    *,
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> dict[str, Any]:
    """iss/sub/aud/exp as Salesforce requires, plus iat and a unique jti (accepted, useful in audits)."""
    if not 1 <= lifetime <= MAX_LIFETIME:
        raise ValueError(f"assertion lifetime must be 1 to {MAX_LIFETIME} seconds")
    issued = int(now if now is not None else time.time())
    return {
        "iss": consumer_key,
        "sub": username,
        "aud": audience,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": uuid.uuid4().hex,
    }


def sign_assertion(claims: dict[str, Any], signer: Signer) -> str:
    """Encode and sign the claims as a compact RS256 JWS."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    headers = {"kid": signer.key_id} if signer.key_id else None
    return _jws.encode(payload, key=signer, algorithm="RS256", headers=headers)  # type: ignore[arg-type]
