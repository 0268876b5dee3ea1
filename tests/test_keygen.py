"""`sfjwt keygen` with the file backend, and the store-hook contract with an in-memory versioned store."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sfjwt_vault_file
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault import KeyBackendError, KeyRef, SecretBuffer, cli, hookimpl
from sfjwt_vault.certs import same_public_key
from sfjwt_vault.errors import ConfigurationError
from sfjwt_vault.keygen import generate_and_store
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost, reset_host
from sfjwt_vault.testing import SalesforceEmulator


@pytest.fixture(autouse=True)
def only_file_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SFJWT_PLUGINS", "file")
    reset_host()
    yield
    reset_host()


def keygen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["keygen", *args])
    out, err = capsys.readouterr()
    return code, out, err


def secret_lines(key_path: Path) -> list[str]:
    """The base64 body lines of the stored PEM: none may ever appear in any output."""
    return [line for line in key_path.read_text().splitlines() if line and not line.startswith("-----")]


def assert_no_key_in(key_path: Path, *texts: str) -> None:
    joined = "\n".join(texts)
    assert "PRIVATE KEY" not in joined
    assert not any(line in joined for line in secret_lines(key_path))


def public_of(ref: str, host: PluginHost) -> rsa.RSAPublicKey:
    with open_signer(ref, host) as signer:
        return signer.public_key()


def test_new_key_is_0600_and_matches_the_certificate(
    tmp_path: Path, host: PluginHost, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the key file
    try:
        key_path, cert_path = tmp_path / "sf.key", tmp_path / "sf.crt"
        code, out, err = keygen(
            capsys, "--store", f"file:{key_path}", "--cert-out", str(cert_path), "--common-name", "acme-int"
        )
    finally:
        os.umask(old_umask)
    assert code == 0, err
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert same_public_key(public_of(f"file:{key_path}", host), cert.public_key())
    assert cert.subject.rfc4514_string() == "CN=acme-int"
    assert f"wrote new key file {key_path} (mode 0600)" in out
    assert "Use digital signatures" in out and "Admin approved users are pre-authorized" in out
    assert "2 to 10 minutes" in out and "sfjwt doctor" in out and "Rotation" not in out
    assert_no_key_in(key_path, out, err)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_certificate_on_stdout_and_steps_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_path = tmp_path / "sf.key"
    code, out, err = keygen(capsys, "--store", f"file:{key_path}")
    assert code == 0
    assert out.startswith("-----BEGIN CERTIFICATE-----") and out.rstrip().endswith("-----END CERTIFICATE-----")
    x509.load_pem_x509_certificate(out.encode())
    assert "Next steps in Salesforce" in err and "Next steps" not in out
    assert_no_key_in(key_path, out, err)


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_path = tmp_path / "sf.key"
    assert keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(tmp_path / "a.crt"))[0] == 0
    before = key_path.read_bytes()
    code, _, err = keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(tmp_path / "b.crt"))
    assert code == 3
    assert "already exists" in err and "--force" in err
    assert key_path.read_bytes() == before
    assert not (tmp_path / "b.crt").exists()  # no certificate for a key that was not stored


def test_force_rotates_the_key(tmp_path: Path, host: PluginHost, capsys: pytest.CaptureFixture[str]) -> None:
    key_path, first, second = tmp_path / "sf.key", tmp_path / "1.crt", tmp_path / "2.crt"
    assert keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(first))[0] == 0
    old_public = public_of(f"file:{key_path}", host)
    code, out, err = keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(second), "--force")
    assert code == 0, err
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    new_public = public_of(f"file:{key_path}", host)
    assert not same_public_key(old_public, new_public)
    assert same_public_key(new_public, x509.load_pem_x509_certificate(second.read_bytes()).public_key())
    assert "replaced key file" in out and "Rotation" in out
    assert "upload the new certificate now" in out and "SFJWT_ROTATION_FALLBACK=1" in out
    assert_no_key_in(key_path, out, err)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("bits", ["1024", "2047", "8192", "2000"])
def test_bits_outside_the_offer_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], bits: str) -> None:
    code, out, err = keygen(capsys, "--store", f"file:{tmp_path / 'k'}", "--bits", bits)
    assert code == 2 and "2048, 3072 or 4096" in err
    assert not (tmp_path / "k").exists() and out == ""


def test_3072_bits(tmp_path: Path, host: PluginHost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = keygen(
        capsys, "--store", f"file:{tmp_path / 'k'}", "--bits", "3072", "--cert-out", str(tmp_path / "c")
    )
    assert code == 0 and public_of(f"file:{tmp_path / 'k'}", host).key_size == 3072


def test_store_is_required_and_no_key_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        keygen(capsys)
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    assert "error: sfjwt keygen: the following arguments are required: --store" in err
    assert "hint: keygen writes the private key only into a store" in err and "file:" in err


def test_library_callers_get_the_same_refusal_without_a_store(capsys: pytest.CaptureFixture[str]) -> None:
    from sfjwt_vault.keygen import run

    with pytest.raises(ConfigurationError, match="--store is required"):
        run(store=None, bits=2048, common_name="x", days=1, force=False, cert_out=None)


def test_passphrase_reference_is_refused(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(ConfigurationError, match="passphrase"):
        generate_and_store(f"file:{tmp_path / 'k'}?passphrase_env=PW", host=host)
    assert not (tmp_path / "k").exists()


def test_missing_folder_is_a_clear_error(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(KeyBackendError, match="does not exist"):
        generate_and_store(f"file:{tmp_path / 'no' / 'k'}", host=host)


def test_keygen_then_doctor_passes(
    tmp_path: Path, salesforce_emulator: SalesforceEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole setup: keygen, upload the certificate, doctor says all PASS."""
    key_path, cert_path = tmp_path / "sf.key", tmp_path / "sf.crt"
    assert keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(cert_path))[0] == 0
    app = salesforce_emulator.add_app(cert_path.read_bytes())
    user = salesforce_emulator.add_user("integration@acme.com")
    args = ["--consumer-key", app.consumer_key, "--username", user.username, "--key", f"file:{key_path}"]
    code = cli.main(
        ["doctor", "--format", "json", *args, "--token-url", salesforce_emulator.token_url, "--cert", str(cert_path)]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and {f["status"] for f in report["findings"]} == {"PASS"}


# -- the hook contract, with an in-memory versioned store (moto / OpenBao tests come with those backends) --


class MemoryStore:
    """A versioned store: writing makes a new version, as AWS Secrets Manager and Vault KV v2 do."""

    def __init__(self) -> None:
        self.versions: list[bytes] = []
        self.received: list[SecretBuffer] = []

    @hookimpl
    def sfjwt_schemes(self) -> list[str]:
        return ["mem"]

    @hookimpl
    def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer | None:
        if ref.scheme != "mem":
            return None
        if not self.versions:
            raise KeyBackendError(f"no secret at {ref}")
        return SecretBuffer.from_buffer(self.versions[-1])

    @hookimpl
    def sfjwt_store_key(self, ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str | None:
        if ref.scheme != "mem":
            return None
        self.received.append(pem)
        self.versions.append(bytes(pem.view()))  # a test store; real backends avoid bytes copies
        return f"new version {len(self.versions)}"


def test_store_hook_gets_a_buffer_that_is_wiped_after() -> None:
    store = MemoryStore()
    host = PluginHost(load_entry_points=False)
    host.register(store, "mem")
    first = generate_and_store("mem:sf/jwt", host=host)
    assert first.stored == "new version 1" and first.replaced is False
    assert len(store.received[0]) == 0 and not any(store.received[0].writable())  # wiped by the core
    second = generate_and_store("mem:sf/jwt", host=host)
    assert second.stored == "new version 2" and second.replaced is True
    cert = x509.load_pem_x509_certificate(second.certificate_pem)
    assert same_public_key(public_of("mem:sf/jwt", host), cert.public_key())


def test_backend_without_store_support_says_so(tmp_path: Path) -> None:
    class ReadOnly:
        @hookimpl
        def sfjwt_schemes(self) -> list[str]:
            return ["ro"]

    host = PluginHost(load_entry_points=False)
    host.register(ReadOnly(), "ro")
    host.register(sfjwt_vault_file, "file")
    with pytest.raises(KeyBackendError, match="cannot store keys"):
        generate_and_store("ro:x", host=host)


def test_certificate_path_must_not_be_the_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_path = tmp_path / "sf.key"
    code, out, err = keygen(capsys, "--store", f"file:{key_path}", "--cert-out", str(key_path))
    assert code == 2 and "names the key file itself" in err
    assert not key_path.exists() and out == ""
