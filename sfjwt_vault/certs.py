"""Self-signed certificates for the Connected App, made by any Signer (local key, Transit or KMS).

Salesforce only needs the certificate for its public key. cryptography's certificate builder wants an
`RSAPrivateKey`; `SignerKey` is one whose `sign` goes to our Signer, so a remote signer can sign its own
certificate without the private key ever being here.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from .signer import Signer

DEFAULT_DAYS = 730


class SignerKey(rsa.RSAPrivateKey):
    """An RSAPrivateKey facade over a Signer: signing only, PKCS#1 v1.5 with SHA-256 only."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self._public = signer.public_key()

    def sign(self, data: bytes, padding_: Any, algorithm: Any) -> bytes:
        if not isinstance(padding_, padding.PKCS1v15) or isinstance(algorithm, Prehashed):
            raise ValueError("this signer makes RSASSA-PKCS1-v1_5 signatures over the message only")
        if not isinstance(algorithm, hashes.SHA256):
            raise ValueError("this signer makes SHA-256 signatures only")
        return self._signer.sign(bytes(data))

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: Any) -> bytes:
        self._refuse()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        self._refuse()

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        self._refuse()

    def __copy__(self) -> SignerKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SignerKey:
        return self

    def _refuse(self) -> NoReturn:
        raise TypeError("the private key is held by the signer and cannot be exported or used to decrypt")


def self_signed_certificate(
    signer: Signer, *, common_name: str = "sfjwt-vault", days: int = DEFAULT_DAYS
) -> x509.Certificate:
    """A self-signed X.509 certificate for the signer's public key, signed by the signer itself."""
    if days < 1:
        raise ValueError("days must be at least 1")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    public = signer.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(SignerKey(signer), hashes.SHA256())


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def same_public_key(a: rsa.RSAPublicKey, b: Any) -> bool:
    """True when two public keys are the same RSA key (certificate vs private key checks)."""
    return isinstance(b, rsa.RSAPublicKey) and a.public_numbers() == b.public_numbers()
