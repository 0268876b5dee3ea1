"""Signers: what makes the RS256 signature, kept apart from the credentials that use it.

A local signer holds a parsed private key for the few milliseconds of one mint. A remote signer (Vault
Transit, AWS KMS) sends the signing input to a service and the private key never enters the process.
Either way the assertion code sees only `Signer.sign`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


@runtime_checkable
class Signer(Protocol):
    """Makes RSASSA-PKCS1-v1_5 SHA-256 signatures (JWS `RS256`).

    Runtime-checkable for callers that want it, but the library itself never tests `isinstance(x,
    Signer)`: since Python 3.12 that check ignores `__getattr__`, so a delegating wrapper fails it.
    """

    @property
    def key_id(self) -> str | None:
        """An identifier for the JWT `kid` header, or None to leave it out."""

    def sign(self, message: bytes) -> bytes:
        """Return the raw RS256 signature of `message`."""

    def public_key(self) -> RSAPublicKey:
        """The public half, for certificates and for checking a certificate matches."""


class LocalSigner:
    """Signs with an in-process RSA key. Call `close()` to drop the key object as soon as possible."""

    key_id: str | None = None

    def __init__(self, private_key: RSAPrivateKey) -> None:
        self._key: RSAPrivateKey | None = private_key

    def sign(self, message: bytes) -> bytes:
        if self._key is None:
            raise RuntimeError("this signer was closed")
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    def public_key(self) -> RSAPublicKey:
        if self._key is None:
            raise RuntimeError("this signer was closed")
        return self._key.public_key()

    def close(self) -> None:
        self._key = None

    def __repr__(self) -> str:
        return "<LocalSigner RS256, key hidden>" if self._key else "<LocalSigner closed>"
