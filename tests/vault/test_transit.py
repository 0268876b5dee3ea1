"""Keyless signing with Transit: signatures, public key, errors, and `sfjwt cert` with a Transit key."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sfjwt_vault_hashicorp import errors
from sfjwt_vault_hashicorp.transit import TransitKey, TransitSigner, decode_signature

from sfjwt_vault import ConfigurationError, KeyBackendError, KeyRef
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost

from .conftest import Bao

REF = "vault-transit:transit/sfjwt-rsa"
WORKTREE = Path(__file__).resolve().parents[2]


def vault_public_key(bao: Bao, name: str = "sfjwt-rsa") -> rsa.RSAPublicKey:
    data = bao.admin().read(f"transit/keys/{name}")["data"]
    key = serialization.load_pem_public_key(data["keys"][str(data["latest_version"])]["public_key"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_transit_signs_pkcs1v15_sha256(root_env: Bao, host: PluginHost) -> None:
    with open_signer(REF, host) as signer:
        assert isinstance(signer, TransitSigner)
        signature = signer.sign(b"header.payload")
        public = signer.public_key()
    assert public.public_numbers() == vault_public_key(root_env).public_numbers()
    assert len(signature) == 256
    # Raises if Transit had used PSS (its default) or another hash.
    public.verify(signature, b"header.payload", padding.PKCS1v15(), hashes.SHA256())


def test_transit_key_parsing() -> None:
    assert TransitKey.parse(KeyRef.parse("vault-transit:transit/k")) == TransitKey("transit", "k")
    assert TransitKey.parse(KeyRef.parse("vault-transit:team/transit/k")) == TransitKey("team/transit", "k")
    assert TransitKey.parse(KeyRef.parse("vault-transit:k?mount=team/transit")) == TransitKey("team/transit", "k")
    with pytest.raises(KeyBackendError.__mro__[1]):  # SfjwtError: ConfigurationError
        TransitKey.parse(KeyRef.parse("vault-transit:k"))


def test_signature_decoding() -> None:
    raw = bytes(range(256))
    assert decode_signature("vault:v3:" + base64.b64encode(raw).decode(), 256, "p") == raw
    with pytest.raises(KeyBackendError, match="unknown format"):
        decode_signature("nope", 256, "p")
    with pytest.raises(KeyBackendError, match="not base64"):
        decode_signature("vault:v1:***", 256, "p")
    with pytest.raises(KeyBackendError, match="expected 256"):
        decode_signature("vault:v1:" + base64.b64encode(b"short").decode(), 256, "p")


def test_wrong_key_type(root_env: Bao, host: PluginHost) -> None:
    with (
        open_signer("vault-transit:transit/sfjwt-ed", host) as signer,
        pytest.raises(KeyBackendError, match=r"type 'ed25519'.*needs RSA"),
    ):
        signer.public_key()


def test_missing_transit_key(root_env: Bao, host: PluginHost) -> None:
    with (
        open_signer("vault-transit:transit/sfjwt-absent", host) as signer,
        pytest.raises(errors.VaultNotFoundError, match="no Transit key") as info,
    ):
        signer.sign(b"x")
    assert "type=rsa-2048" in (info.value.hint or "")


def test_sign_permission_denied_names_sign_path(bao: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.policy_token(["transit-read"]))
    with open_signer(REF, host) as signer:
        assert signer.public_key().key_size == 2048  # reading the key is allowed
        with pytest.raises(errors.VaultPermissionDeniedError) as info:
            signer.sign(b"x")
    assert 'path "transit/sign/sfjwt-rsa"' in (info.value.hint or "")
    assert '"update"' in (info.value.hint or "")


def test_public_key_cached_per_process(root_env: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_signer(REF, host) as signer:
        first = signer.public_key()
    # A later mint (a new signer) with a token that may only sign: the public key is not read again.
    monkeypatch.setenv("VAULT_TOKEN", root_env.policy_token(["transit-sign"]))
    with open_signer(REF, host) as signer:
        assert signer.public_key() is first
        first.verify(signer.sign(b"m"), b"m", padding.PKCS1v15(), hashes.SHA256())


def plugin_path(tmp_path: Path) -> str:
    """A PYTHONPATH that registers this worktree's `vault` entry point (as `pip install` would)."""
    dist = tmp_path / "site" / "sfjwt_vault_vault_test-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sfjwt-vault-vault-test\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[sfjwt_vault]\nvault = sfjwt_vault_hashicorp\n")
    return os.pathsep.join([str(WORKTREE), str(WORKTREE / "plugins"), str(tmp_path / "site")])


def test_sfjwt_cert_with_transit_key(root_env: Bao, tmp_path: Path) -> None:
    out = tmp_path / "transit.crt"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ["HOME"],
        "PYTHONPATH": plugin_path(tmp_path),
        "VAULT_ADDR": root_env.addr,
        "VAULT_TOKEN": root_env.root_token,
        "SFJWT_PLUGINS": "vault",
    }
    code = "from sfjwt_vault.cli import main; raise SystemExit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, "cert", "--key", REF, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate(out.read_bytes())
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == vault_public_key(root_env).public_numbers()
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert "PRIVATE" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "ref",
    [
        "vault-transit:transit/sfjwt-rsa?passphrase_env=PW",  # no PEM to decrypt: the key stays in Vault
        "vault-transit:transit/sfjwt-rsa?mnt=transit",  # a typo of mount
        "vault-transit:transit/sfjwt-rsa?kv=2",  # the KV scheme's option
    ],
)
def test_unknown_options_are_refused(ref: str, root_env: Bao, host: PluginHost) -> None:
    with pytest.raises(ConfigurationError, match="unknown option") as info:
        with open_signer(ref, host) as signer:
            signer.sign(b"x")
    assert info.value.exit_code == 2 and "mount" in (info.value.hint or "")
