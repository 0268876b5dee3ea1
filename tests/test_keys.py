"""Loading keys through the file backend: formats, refusals, the wipe, and when the key is validated."""

from __future__ import annotations

from pathlib import Path

import pytest
import sfjwt_vault_file
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sfjwt_vault import KeyBackendError, KeyFormatError, KeyRef, SecretBuffer, hookimpl
from sfjwt_vault import keys as keys_module
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keys import MAX_KEY_BYTES, open_signer
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.signer import LocalSigner
from tests.conftest import pem_of, write_key


def sign_with(ref: str, host: PluginHost) -> bytes:
    with open_signer(ref, host) as signer:
        return signer.sign(b"message")


@pytest.mark.parametrize("pkcs8", [True, False], ids=["pkcs8", "pkcs1"])
def test_pkcs1_and_pkcs8_both_load(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost, pkcs8: bool) -> None:
    path = write_key(tmp_path / "k.pem", pem_of(rsa_key, pkcs8=pkcs8))
    signature = sign_with(f"file:{path}", host)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    rsa_key.public_key().verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


def test_bare_path_works(key_file: Path, host: PluginHost) -> None:
    assert len(sign_with(str(key_file), host)) == 256


def test_encrypted_pem_with_passphrase_env(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_key(tmp_path / "enc.pem", pem_of(rsa_key, password=b"correct horse"))
    monkeypatch.setenv("SF_KEY_PW", "correct horse")
    assert len(sign_with(f"file:{path}?passphrase_env=SF_KEY_PW", host)) == 256

    with pytest.raises(KeyFormatError, match="encrypted and no passphrase"):
        sign_with(f"file:{path}", host)
    monkeypatch.setenv("SF_KEY_PW", "wrong")
    with pytest.raises(KeyFormatError, match="wrong passphrase"):
        sign_with(f"file:{path}?passphrase_env=SF_KEY_PW", host)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "the key is EC"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "1024 bits"),
    ],
    ids=["ec", "ed25519", "rsa1024"],
)
def test_unusable_keys_are_refused(tmp_path: Path, host: PluginHost, make: object, message: str) -> None:
    key = make()  # type: ignore[operator]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = write_key(tmp_path / "k.pem", pem)
    with pytest.raises(KeyFormatError, match=message) as info:
        sign_with(str(path), host)
    assert info.value.hint and "keygen" in info.value.hint


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a key at all",
        b"\xff\xfe\x00\x81 non-utf8 bytes",
    ],
    ids=["empty", "garbage", "non-utf8"],
)
def test_malformed_files_are_refused(tmp_path: Path, host: PluginHost, content: bytes) -> None:
    path = write_key(tmp_path / "k.pem", content)
    with pytest.raises(KeyFormatError):
        sign_with(str(path), host)


def test_truncated_pem_is_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost) -> None:
    pem = pem_of(rsa_key)
    path = write_key(tmp_path / "k.pem", pem[: len(pem) // 2])
    with pytest.raises(KeyFormatError) as info:
        sign_with(str(path), host)
    assert pem[40:80].decode() not in str(info.value)


def test_certificate_where_key_expected(tmp_path: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost) -> None:
    cert = certificate_pem(self_signed_certificate(LocalSigner(rsa_key)))
    path = write_key(tmp_path / "cert.pem", cert)
    with pytest.raises(KeyFormatError, match="certificate"):
        sign_with(str(path), host)


def test_newline_literals_from_env_vars_are_undone(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, host: PluginHost
) -> None:
    mangled = pem_of(rsa_key).strip().replace(b"\n", b"\\n")
    assert b"\n" not in mangled
    path = write_key(tmp_path / "k.pem", mangled)
    assert len(sign_with(str(path), host)) == 256


def test_oversized_file_is_refused_unread(tmp_path: Path, host: PluginHost) -> None:
    path = write_key(tmp_path / "big.pem", b"A" * (10 * 1024 * 1024))
    with pytest.raises(KeyBackendError, match="larger than any PEM key"):
        sign_with(str(path), host)


def test_missing_file_and_directory(tmp_path: Path, host: PluginHost) -> None:
    with pytest.raises(KeyBackendError, match="does not exist"):
        sign_with(str(tmp_path / "nope.pem"), host)
    with pytest.raises(KeyBackendError, match="not a regular file"):
        sign_with(str(tmp_path), host)


class _Spy:
    """Wraps the file backend and keeps the buffers it hands out, to check they were wiped."""

    def __init__(self) -> None:
        self.buffers: list[SecretBuffer] = []

    @hookimpl
    def sfjwt_schemes(self) -> list[str]:
        return ["spy"]

    @hookimpl
    def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer | None:
        buffer = sfjwt_vault_file.sfjwt_fetch_key(KeyRef.parse(f"file:{ref.path}"))
        assert buffer is not None
        self.buffers.append(buffer)
        return buffer


def _content_is_zero(buffer: SecretBuffer) -> bool:
    return not any(buffer._buf)


def test_key_buffer_is_wiped_after_signing(key_file: Path) -> None:
    spy = _Spy()
    host = PluginHost(load_entry_points=False)
    host.register(spy, "spy")
    with open_signer(f"spy:{key_file}", host) as signer:
        signer.sign(b"x")
    assert len(spy.buffers) == 1
    assert _content_is_zero(spy.buffers[0])
    assert "hidden" in repr(spy.buffers[0])


def test_key_buffer_is_wiped_when_parsing_fails(tmp_path: Path) -> None:
    path = write_key(tmp_path / "bad.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    spy = _Spy()
    host = PluginHost(load_entry_points=False)
    host.register(spy, "spy")
    with pytest.raises(KeyFormatError):
        with open_signer(f"spy:{path}", host):
            pass
    assert _content_is_zero(spy.buffers[0])


def test_signer_drops_the_key_object_after_the_mint(key_file: Path, host: PluginHost) -> None:
    with open_signer(str(key_file), host) as signer:
        assert isinstance(signer, LocalSigner)
    with pytest.raises(RuntimeError, match="closed"):
        signer.sign(b"x")


def _key_with_a_wrong_crt_coefficient(tmp_path: Path) -> tuple[Path, rsa.RSAPublicKey]:
    """A key whose iqmp (q^-1 mod p) is off by one: the damage a bit flip in the store would do."""
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = good.private_numbers()
    damaged = rsa.RSAPrivateNumbers(n.p, n.q, n.d, n.dmp1, n.dmq1, n.iqmp + 1, n.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True
    )
    return write_key(tmp_path / "damaged.pem", pem_of(damaged)), good.public_key()


def test_the_token_path_skips_full_validation_and_the_doctor_does_it(
    tmp_path: Path, key_file: Path, host: PluginHost
) -> None:
    calls: list[bool] = []
    real_parse = keys_module._parse

    def counting_parse(
        view: memoryview, passphrase: bytes | None, *, skip_validation: bool, der: SecretBuffer | None = None
    ) -> object:
        calls.append(skip_validation)
        return real_parse(view, passphrase, skip_validation=skip_validation, der=der)

    keys_module._parse = counting_parse  # type: ignore[assignment]
    try:
        sign_with(str(key_file), host)
        with open_signer(str(key_file), host, full_check=True) as signer:
            signer.sign(b"x")
    finally:
        keys_module._parse = real_parse  # type: ignore[assignment]
    assert calls == [True, False]


def test_a_damaged_key_never_makes_a_signature_that_leaks_it(tmp_path: Path, host: PluginHost) -> None:
    """The safety argument for skipping validation (docs/security.md): OpenSSL checks each CRT signature
    against the public key and recomputes it without CRT when it is wrong, so a damaged CRT value gives
    a correct signature, never a faulty one (a faulty CRT signature reveals a prime factor of n)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    path, public = _key_with_a_wrong_crt_coefficient(tmp_path)
    signature = sign_with(str(path), host)
    public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


def test_the_full_check_refuses_a_damaged_key(tmp_path: Path, host: PluginHost) -> None:
    path, _ = _key_with_a_wrong_crt_coefficient(tmp_path)
    with pytest.raises(KeyFormatError, match="inconsistent"):
        with open_signer(str(path), host, full_check=True):
            pass


def test_max_key_bytes_is_generous_for_real_keys() -> None:
    big = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    assert len(pem_of(big, password=b"pw")) < MAX_KEY_BYTES
