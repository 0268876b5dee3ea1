"""Shared fixtures: throwaway RSA keys on disk (mode 0600 in pytest's tmp_path) and a plugin host."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sfjwt_vault_file
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault.plugins import PluginHost, reset_host


def pytest_configure(config: pytest.Config) -> None:
    # A job started in the background by a non-interactive shell (`cmd &`, as CI scripts and nohup do)
    # inherits SIGINT ignored, and so would every process the tests start. Tests that stop a child with
    # Ctrl-C need it as a terminal gives it; a Python handler here becomes the default again in children.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pem_of(key: rsa.RSAPrivateKey, *, pkcs8: bool = True, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def write_key(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    return write_key(tmp_path / "key.pem", pem_of(rsa_key))


@pytest.fixture
def host() -> PluginHost:
    """A host with only the file backend, registered the way an entry point would be."""
    plugin_host = PluginHost(load_entry_points=False)
    plugin_host.register(sfjwt_vault_file, "file")
    return plugin_host


@pytest.fixture
def fresh_default_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget the process-wide host before and after a test that changes SFJWT_PLUGINS."""
    reset_host()
    yield
    reset_host()
