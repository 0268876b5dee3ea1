"""Output files of `sfjwt keygen --cert-out` and `sfjwt cert --out` (issue 13 item 9): never through a
symlink, never over an existing file without --force, never the key file itself; refused before any key
is made, so a refusal leaves everything as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import pem_of, write_key

UNRELATED = b"an unrelated file that must survive\n"


def sfjwt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    return subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "SFJWT_PLUGINS": "file"},
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and "\nhint: " in result.stderr and "Traceback" not in result.stderr


def test_a_symlink_to_the_new_key_is_refused_and_no_key_is_stored(tmp_path: Path) -> None:
    key, link = tmp_path / "sf.key", tmp_path / "sf.crt"
    link.symlink_to(key)
    result = sfjwt("keygen", "--store", f"file:{key}", "--cert-out", str(link))
    assert_refused(result, "names the key file itself")
    assert not key.exists() and link.is_symlink()


@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_to_an_unrelated_file_is_never_followed(tmp_path: Path, force: bool) -> None:
    key, other, link = tmp_path / "sf.key", tmp_path / "other.key", tmp_path / "sf.crt"
    other.write_bytes(UNRELATED)
    link.symlink_to(other)
    result = sfjwt("keygen", "--store", f"file:{key}", "--cert-out", str(link), *(["--force"] if force else []))
    assert_refused(result, "is a symbolic link")
    assert other.read_bytes() == UNRELATED and link.is_symlink() and not key.exists()


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "sf.crt"
    link.symlink_to(tmp_path / "elsewhere.crt")
    assert_refused(sfjwt("keygen", "--store", f"file:{tmp_path / 'sf.key'}", "--cert-out", str(link)), "symbolic link")
    assert not (tmp_path / "elsewhere.crt").exists()


def test_an_existing_file_is_kept_without_force_and_replaced_with_it(tmp_path: Path) -> None:
    key, cert = tmp_path / "sf.key", tmp_path / "sf.crt"
    cert.write_bytes(UNRELATED)
    assert_refused(sfjwt("keygen", "--store", f"file:{key}", "--cert-out", str(cert)), "already exists")
    assert cert.read_bytes() == UNRELATED and not key.exists()
    result = sfjwt("keygen", "--store", f"file:{key}", "--cert-out", str(cert), "--force")
    assert result.returncode == 0, result.stderr
    x509.load_pem_x509_certificate(cert.read_bytes())
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_hard_link_to_the_key_is_the_key(tmp_path: Path, rsa_key: object) -> None:
    key = write_key(tmp_path / "sf.key", pem_of(rsa_key))  # type: ignore[arg-type]
    before = key.read_bytes()
    os.link(key, tmp_path / "sf.crt")
    result = sfjwt("keygen", "--store", f"file:{key}", "--cert-out", str(tmp_path / "sf.crt"), "--force")
    assert_refused(result, "names the key file itself")
    assert key.read_bytes() == before


def test_cert_out_follows_the_same_rules(tmp_path: Path, key_file: Path) -> None:
    other, link, cert = tmp_path / "other", tmp_path / "link.crt", tmp_path / "app.crt"
    other.write_bytes(UNRELATED)
    link.symlink_to(other)
    assert_refused(sfjwt("cert", "--key", str(key_file), "--out", str(link), "--force"), "symbolic link")
    assert other.read_bytes() == UNRELATED
    cert.write_bytes(UNRELATED)
    assert_refused(sfjwt("cert", "--key", str(key_file), "--out", str(cert)), "already exists")
    assert cert.read_bytes() == UNRELATED
    result = sfjwt("cert", "--key", str(key_file), "--out", str(cert), "--force")
    assert result.returncode == 0, result.stderr
    x509.load_pem_x509_certificate(cert.read_bytes())
    fresh = tmp_path / "fresh.crt"
    assert sfjwt("cert", "--key", str(key_file), "--out", str(fresh)).returncode == 0
    assert fresh.stat().st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
