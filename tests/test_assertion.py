"""The assertion: claims Salesforce requires, and a signature checked without PyJWT (openssl)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault.assertion import MAX_LIFETIME, build_claims, sign_assertion
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_claims_are_what_salesforce_wants() -> None:
    now = 1_700_000_000.7
    claims = build_claims("3MVG9key", "user@acme.com.uat", "https://test.salesforce.com", now=now)
    assert claims["iss"] == "3MVG9key"
    assert claims["sub"] == "user@acme.com.uat"
    assert claims["aud"] == "https://test.salesforce.com"
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_000 + MAX_LIFETIME
    assert isinstance(claims["exp"], int)
    assert len(claims["jti"]) == 32
    assert build_claims("k", "u", "a")["jti"] != build_claims("k", "u", "a")["jti"]


@pytest.mark.parametrize("lifetime", [0, 181, -5])
def test_lifetime_is_bounded_to_three_minutes(lifetime: int) -> None:
    with pytest.raises(ValueError, match="1 to 180"):
        build_claims("k", "u", "a", lifetime=lifetime)


def test_username_is_not_html_escaped() -> None:
    claims = build_claims("k", "o'brien+jwt@acme.com", "https://login.salesforce.com")
    assert claims["sub"] == "o'brien+jwt@acme.com"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
def test_signature_verifies_with_openssl(
    tmp_path: Path, key_file: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost
) -> None:
    with open_signer(str(key_file), host) as signer:
        token = sign_assertion(build_claims("ck", "u@x.com", "https://login.salesforce.com"), signer)
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["alg"] == "RS256"
    payload = json.loads(b64url_decode(payload_b64))
    assert payload["exp"] - int(time.time()) <= MAX_LIFETIME

    (tmp_path / "input").write_bytes(f"{header_b64}.{payload_b64}".encode())
    (tmp_path / "sig").write_bytes(b64url_decode(signature_b64))
    (tmp_path / "pub.pem").write_bytes(
        rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verify = ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature", str(tmp_path / "sig")]
    ok = subprocess.run([*verify, str(tmp_path / "input")], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    (tmp_path / "tampered").write_bytes(f"{header_b64}.{payload_b64}x".encode())
    bad = subprocess.run([*verify, str(tmp_path / "tampered")], capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_a_signer_behind_a_delegating_wrapper_signs(key_file: Path, host: PluginHost) -> None:
    """Instrumented signers (a proxy forwarding through __getattr__) work on every Python: since 3.12 an
    isinstance check against a runtime-checkable Protocol would refuse them."""

    class Delegating:
        def __init__(self, inner: object) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    with open_signer(str(key_file), host) as signer:
        token = sign_assertion(build_claims("ck", "u@x.com", "https://login.salesforce.com"), Delegating(signer))  # type: ignore[arg-type]
    assert token.count(".") == 2
