"""The stand-in must not share the code it tests: a signing bug in sfjwt-vault has to be refused by
the emulator, never mirrored by it."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import sfjwt_vault.testing
from sfjwt_vault.errors import InvalidAssertionError
from sfjwt_vault.signer import LocalSigner
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.helpers import credentials_for

from .client import assert_error, post

TESTING = Path(sfjwt_vault.testing.__file__).parent
# What the emulator may use from the package it tests: the error type its CLI raises, and the CLI
# entry point that `python -m sfjwt_vault.testing` hands over to.
ALLOWED_FROM_PACKAGE = {"sfjwt_vault.errors", "sfjwt_vault.cli"}
# DigestInfo prefix of a SHA-256 hash (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _imports(path: Path) -> set[str]:
    package = "sfjwt_vault.testing"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_emulator_imports_nothing_it_tests() -> None:
    modules = sorted(TESTING.glob("*.py"))
    assert len(modules) > 8
    for module in modules:
        foreign = {
            name
            for name in _imports(module)
            if (name == "jwt" or name.startswith(("jwt.", "sfjwt_vault")))
            and not name.startswith("sfjwt_vault.testing")
            and not any(name == a or name.startswith(a + ".") for a in ALLOWED_FROM_PACKAGE)
        }
        assert not foreign, f"{module.name} imports {foreign}: the emulator must not use the code it tests"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(app: SalesforceApp, **claims: Any) -> bytes:
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = {"iss": app.consumer_key, "sub": app.username, "aud": app.audience, "exp": int(time.time()) + 120}
    return f"{header}.{b64url(json.dumps(payload | claims).encode())}".encode()


def textbook_rs256(key: rsa.RSAPrivateKey, message: bytes, *, digest_info: bytes = SHA256_DIGEST_INFO) -> bytes:
    """RSASSA-PKCS1-v1_5 by the book, with Python integers: no cryptography signing, no sfjwt-vault."""
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    size = (n.bit_length() + 7) // 8
    t = digest_info + hashlib.sha256(message).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(size, "big")


def private_key(app: SalesforceApp) -> rsa.RSAPrivateKey:
    key = load_pem_private_key(app.private_key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_signature_made_by_the_book_is_accepted(salesforce_app: SalesforceApp) -> None:
    message = signing_input(salesforce_app)
    signature = textbook_rs256(private_key(salesforce_app), message)
    response = post(salesforce_app.emulator, f"{message.decode()}.{b64url(signature)}")
    assert response.status_code == 200, response.text


WRONG_SIGNATURES: dict[str, Callable[[rsa.RSAPrivateKey, bytes], bytes]] = {
    # The mistakes a signer (or a KMS/Transit call) makes: each gives a signature that is valid for
    # something, just not for RS256 over this signing input.
    "PSS padding": lambda k, m: k.sign(
        m, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    ),
    "SHA-1": lambda k, m: k.sign(m, padding.PKCS1v15(), hashes.SHA1()),  # noqa: S303
    "SHA-512": lambda k, m: k.sign(m, padding.PKCS1v15(), hashes.SHA512()),
    "hash signed twice (digest sent as the message)": lambda k, m: k.sign(
        hashlib.sha256(m).digest(), padding.PKCS1v15(), hashes.SHA256()
    ),
    "no DigestInfo": lambda k, m: textbook_rs256(k, m, digest_info=b""),
    "payload only": lambda k, m: k.sign(m.split(b".")[1], padding.PKCS1v15(), hashes.SHA256()),
    "padded base64 input": lambda k, m: k.sign(m + b"=", padding.PKCS1v15(), hashes.SHA256()),
}


@pytest.mark.parametrize("mistake", sorted(WRONG_SIGNATURES))
def test_signature_made_wrongly_is_refused(salesforce_app: SalesforceApp, mistake: str) -> None:
    message = signing_input(salesforce_app)
    signature = WRONG_SIGNATURES[mistake](private_key(salesforce_app), message)
    response = post(salesforce_app.emulator, f"{message.decode()}.{b64url(signature)}")
    assert_error(response, "invalid_grant", "invalid assertion")


def test_signature_in_standard_base64_is_refused(salesforce_app: SalesforceApp) -> None:
    message = signing_input(salesforce_app)
    signature = private_key(salesforce_app).sign(message, padding.PKCS1v15(), hashes.SHA256())
    standard = base64.b64encode(signature).decode()  # '+', '/' and '=' are not base64url
    assert any(c in standard for c in "+/=")
    response = post(salesforce_app.emulator, f"{message.decode()}.{standard}")
    assert_error(response, "invalid_grant", "invalid assertion")


def test_a_broken_signer_in_the_library_is_refused(
    salesforce_app: SalesforceApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the emulator to verify with our own code, this bug would pass unnoticed."""

    def sign_digest(self: LocalSigner, message: bytes) -> bytes:
        key = self._key
        assert key is not None
        return key.sign(hashlib.sha256(message).digest(), padding.PKCS1v15(), hashes.SHA256())

    monkeypatch.setattr(LocalSigner, "sign", sign_digest)
    with credentials_for(salesforce_app) as creds, pytest.raises(InvalidAssertionError):
        creds.get_token()
    assert salesforce_app.emulator.exchange_count >= 1 and salesforce_app.emulator.tokens_issued == 0
