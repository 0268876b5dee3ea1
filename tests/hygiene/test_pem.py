"""pem_to_der: our own base64 decoding of the key, so no unwiped copy is made while parsing."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault.pem import pem_to_der
from sfjwt_vault.secret import SecretBuffer
from tests.conftest import pem_of


def _der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)


@pytest.mark.parametrize("pkcs8", [True, False])
@pytest.mark.parametrize("password", [None, b"pw"])
def test_decodes_like_base64(rsa_key: rsa.RSAPrivateKey, pkcs8: bool, password: bytes | None) -> None:
    pem = pem_of(rsa_key, pkcs8=pkcs8 or password is not None, password=password)
    der = pem_to_der(SecretBuffer.from_buffer(pem))
    assert der is not None
    assert bytes(der.view()) == _der(pem)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 47, 48])
def test_every_padding_length(size: int) -> None:
    data = bytes(range(size))
    pem = b"-----BEGIN PRIVATE KEY-----\r\n" + base64.encodebytes(data) + b"-----END PRIVATE KEY-----\n"
    der = pem_to_der(SecretBuffer.from_buffer(pem))
    assert der is not None and bytes(der.view()) == data


@pytest.mark.parametrize(
    "pem",
    [
        b"no markers at all",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n",  # no end marker
        b"-----BEGIN PRIVATE KEY-----\nAA*A\n-----END PRIVATE KEY-----\n",  # stray character
        b"-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n",  # truncated quad
        b"-----BEGIN PRIVATE KEY-----\nA===\n-----END PRIVATE KEY-----\n",  # too much padding
        b"-----BEGIN PRIVATE KEY-----\nAA==AAAA\n-----END PRIVATE KEY-----\n",  # data after padding
        b"-----BEGIN PRIVATE KEY-----\n\n-----END PRIVATE KEY-----\n",  # empty body
        b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    ],
)
def test_anything_unusual_is_left_to_cryptography(pem: bytes) -> None:
    assert pem_to_der(SecretBuffer.from_buffer(pem)) is None
