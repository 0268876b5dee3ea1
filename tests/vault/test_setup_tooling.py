"""`sfjwt keygen --store vault:` (KV v2 versions) and `sfjwt doctor` with a Transit key and its certificate."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from sfjwt_vault import cli, keygen
from sfjwt_vault import plugins as plugins_module
from sfjwt_vault.certs import certificate_pem, same_public_key, self_signed_certificate
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing import SalesforceEmulator

from .conftest import USERNAME, Bao


def public_key(host: PluginHost, ref: str) -> object:
    with open_signer(ref, host) as signer:
        return signer.public_key()


def test_keygen_writes_new_kv_versions(root_env: Bao, host: PluginHost, tmp_path: Path) -> None:
    ref = f"vault:secret/sfjwt/keygen-{uuid.uuid4().hex[:8]}"
    outputs = []
    for name in ("first.crt", "second.crt"):
        out, err = io.StringIO(), io.StringIO()
        code = keygen.run(
            store=ref,
            bits=2048,
            common_name="acme",
            days=30,
            force=False,
            cert_out=str(tmp_path / name),
            host=host,
            stdout=out,
            stderr=err,
        )
        assert code == 0
        outputs.append(out.getvalue() + err.getvalue())
    first = x509.load_pem_x509_certificate((tmp_path / "first.crt").read_bytes())
    second = x509.load_pem_x509_certificate((tmp_path / "second.crt").read_bytes())
    assert "version 1" in outputs[0] and "Rotation" not in outputs[0]
    assert "version 2" in outputs[1] and "Rotation" in outputs[1]
    assert same_public_key(public_key(host, ref), second.public_key())  # type: ignore[arg-type]
    assert same_public_key(public_key(host, f"{ref}?version=1"), first.public_key())  # type: ignore[arg-type]
    assert all("PRIVATE KEY" not in text for text in outputs)


def test_doctor_passes_with_a_transit_key_and_its_certificate(
    root_env: Bao, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = "vault-transit:transit/sfjwt-rsa"
    with open_signer(ref, host) as signer:
        cert = certificate_pem(self_signed_certificate(signer, common_name="transit"))
    (tmp_path / "transit.crt").write_bytes(cert)
    monkeypatch.setattr(plugins_module, "_host", host)
    with SalesforceEmulator() as org:
        app = org.add_app(cert)
        org.add_user(USERNAME)
        args = [
            "doctor",
            "--format",
            "json",
            "--consumer-key",
            app.consumer_key,
            "--username",
            USERNAME,
            "--key",
            ref,
            "--token-url",
            org.token_url,
            "--cert",
            str(tmp_path / "transit.crt"),
        ]
        code = cli.main(args)
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report
        assert {f["status"] for f in report["findings"]} == {"PASS"}
        assert org.tokens_issued == 1

        other_ref = "vault-transit:transit/sfjwt-other"
        root_env.admin().write("transit/keys/sfjwt-other", type="rsa-2048")
        code = cli.main([*args[:8], other_ref, *args[9:]])
        report = json.loads(capsys.readouterr().out)
        assert code != 0
        failed = {f["line"] for f in report["findings"] if f["status"] == "FAIL"}
        assert failed == {"certificate", "exchange"}  # the key does not match the certificate, and Salesforce agrees
