"""`sfjwt keygen --store aws-sm:` against moto: create, then rotate (AWSCURRENT / AWSPREVIOUS)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from cryptography import x509

from sfjwt_vault import keygen
from sfjwt_vault.certs import same_public_key
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost


def run_keygen(host: PluginHost, ref: str, cert_out: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = keygen.run(
        store=ref,
        bits=2048,
        common_name="acme-int",
        days=30,
        force=False,
        cert_out=str(cert_out),
        host=host,
        stdout=out,
        stderr=err,
    )
    assert code == 0
    return out.getvalue(), err.getvalue()


def public_key(host: PluginHost, ref: str) -> Any:
    with open_signer(ref, host) as signer:
        return signer.public_key()


def test_keygen_creates_then_rotates_the_secret(
    aws_host: PluginHost, sm: Any, secret_name: str, tmp_path: Path
) -> None:
    ref = f"aws-sm:{secret_name}"
    first_out, _ = run_keygen(aws_host, ref, tmp_path / "first.crt")
    assert "created secret" in first_out and "Rotation" not in first_out
    first_cert = x509.load_pem_x509_certificate((tmp_path / "first.crt").read_bytes())
    assert same_public_key(public_key(aws_host, ref), first_cert.public_key())

    second_out, _ = run_keygen(aws_host, ref, tmp_path / "second.crt")
    assert "staged AWSCURRENT; previous version staged AWSPREVIOUS" in second_out
    assert "Rotation" in second_out and "SFJWT_ROTATION_FALLBACK=1" in second_out
    second_cert = x509.load_pem_x509_certificate((tmp_path / "second.crt").read_bytes())
    assert same_public_key(public_key(aws_host, ref), second_cert.public_key())
    previous = public_key(aws_host, f"{ref}?version_stage=AWSPREVIOUS")
    assert same_public_key(previous, first_cert.public_key())
    for text in (first_out, second_out):
        assert "PRIVATE KEY" not in text
    stored = sm.get_secret_value(SecretId=secret_name, VersionStage="AWSCURRENT")["SecretString"]
    assert stored.splitlines()[1] not in first_out + second_out
