"""Reading and verifying a JWT Bearer assertion the way Salesforce does, with `cryptography` directly.

Deliberately independent of PyJWT and of sfjwt-vault's signing code: an assertion is accepted only if
an RS256 signature made by anyone's correct implementation would be.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Salesforce reads `exp` as seconds whether it arrives as a number or as a string of digits
# (simple-salesforce sends a string); the Salesforce CLI's milliseconds read as a far-future time.
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)


class Refused(Exception):
    """A token request Salesforce would refuse: its OAuth error code and exact description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


def invalid_assertion() -> Refused:
    return Refused("invalid_grant", "invalid assertion")


def _b64url_decode(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def split_assertion(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS; `invalid assertion` if malformed."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise invalid_assertion()
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        raise invalid_assertion() from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise invalid_assertion()
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def certificate_public_key(certificate_pem: bytes) -> rsa.RSAPublicKey:
    """The RSA public key of an app certificate; ValueError/TypeError if it is not one."""
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("Salesforce app certificates must hold an RSA key")
    return key


def verify_rs256(certificate_pem: bytes, signing_input: bytes, signature: bytes) -> None:
    """RSASSA-PKCS1-v1_5 with SHA-256 over the signing input, checked against the app's certificate."""
    try:
        certificate_public_key(certificate_pem).verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        raise invalid_assertion() from None


def read_exp(claims: dict[str, Any]) -> int | None:
    """`exp` as Salesforce reads it: an integer, or a string of ASCII digits; None for anything else."""
    exp = claims.get("exp")
    if isinstance(exp, int) and not isinstance(exp, bool):
        return exp
    if isinstance(exp, str) and _DIGITS.fullmatch(exp):
        return int(exp)
    return None
