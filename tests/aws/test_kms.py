"""aws-kms: RS256 signing inside KMS (moto server), spec checks, and `sfjwt cert` with a KMS key."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sfjwt_vault_aws import kms as kms_plugin

import sfjwt_vault.plugins
from sfjwt_vault import KeyBackendError
from sfjwt_vault.assertion import build_claims, sign_assertion
from sfjwt_vault.cli import main
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost


@pytest.fixture
def kms_key(kms: Any) -> dict[str, Any]:
    meta = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    return {
        "id": meta["KeyId"],
        "arn": meta["Arn"],
        "public": load_der_public_key(kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"]),
    }


def test_kms_assertion_verifies_with_get_public_key(aws_host: PluginHost, kms_key: dict[str, Any]) -> None:
    with open_signer(f"aws-kms:{kms_key['id']}", aws_host) as signer:
        assert isinstance(signer, kms_plugin.KmsSigner)
        assertion = sign_assertion(build_claims("3MVGkey", "u@acme.com", "https://login.salesforce.com"), signer)
    signing_input, _, signature = assertion.rpartition(".")
    kms_key["public"].verify(
        jwt.utils.base64url_decode(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    claims = jwt.decode(assertion, kms_key["public"], algorithms=["RS256"], audience="https://login.salesforce.com")
    assert claims["iss"] == "3MVGkey"


def test_alias_and_arn_refs(aws_host: PluginHost, kms: Any, kms_key: dict[str, Any]) -> None:
    kms.create_alias(AliasName=f"alias/sfjwt-{kms_key['id'][:8]}", TargetKeyId=kms_key["id"])
    for ref in (f"aws-kms:alias/sfjwt-{kms_key['id'][:8]}", f"aws-kms:{kms_key['arn']}"):
        with open_signer(ref, aws_host) as signer:
            signature = signer.sign(b"message")
            assert signer.public_key().public_numbers() == kms_key["public"].public_numbers()
        kms_key["public"].verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


def test_public_key_cached_per_process(aws_host: PluginHost, kms_key: dict[str, Any]) -> None:
    with open_signer(f"aws-kms:{kms_key['id']}", aws_host) as signer:
        signer.sign(b"a")
    assert len(kms_plugin._infos) == 1
    cached = next(iter(kms_plugin._infos.values()))
    with open_signer(f"aws-kms:{kms_key['id']}", aws_host) as signer:
        signer.sign(b"b")
    assert next(iter(kms_plugin._infos.values())) is cached


def test_wrong_usage_and_spec(aws_host: PluginHost, kms: Any) -> None:
    encrypt = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(KeyBackendError, match="key usage ENCRYPT_DECRYPT") as info:
        with open_signer(f"aws-kms:{encrypt}", aws_host) as signer:
            signer.sign(b"x")
    assert "SIGN_VERIFY" in (info.value.hint or "")
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(KeyBackendError, match="key spec ECC_NIST_P256"):
        with open_signer(f"aws-kms:{ecc}", aws_host) as signer:
            signer.public_key()


def test_missing_key(aws_host: PluginHost) -> None:
    with pytest.raises(KeyBackendError, match="not found"):
        with open_signer("aws-kms:alias/does-not-exist", aws_host) as signer:
            signer.sign(b"x")


def test_sfjwt_cert_with_kms_key_and_openssl_verify(
    aws_host: PluginHost, kms_key: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sfjwt cert --key aws-kms:...` through the CLI's process-wide host; openssl checks the result."""
    monkeypatch.setattr(sfjwt_vault.plugins, "_host", aws_host)
    out = tmp_path / "kms.crt"
    assert main(["cert", "--key", f"aws-kms:{kms_key['id']}", "--common-name", "kms-test", "--out", str(out)]) == 0
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    assert cert.public_key().public_numbers() == kms_key["public"].public_numbers()  # type: ignore[union-attr]
    cert.verify_directly_issued_by(cert)
    # openssl: the self-signature verifies, and a KMS-signed message verifies with the cert's key.
    subprocess.run(
        ["openssl", "verify", "-CAfile", str(out), "-partial_chain", str(out)], check=True, capture_output=True
    )
    pub = tmp_path / "pub.pem"
    subprocess.run(["openssl", "x509", "-in", str(out), "-noout", "-pubkey", "-out", str(pub)], check=True)
    message = tmp_path / "signing-input"
    message.write_bytes(b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0")
    with open_signer(f"aws-kms:{kms_key['id']}", aws_host) as signer:
        (tmp_path / "sig").write_bytes(signer.sign(message.read_bytes()))
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(tmp_path / "sig"), str(message)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Verified OK" in result.stdout
