"""pytest fixtures for testing code that uses Salesforce's JWT Bearer flow, against the emulator.

Enable with `pytest_plugins = ["sfjwt_vault.testing.pytest_plugin"]` in a conftest.py (a `pytest11`
entry point will load it automatically once the package declares it).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from .emulator import App, SalesforceEmulator, User, make_test_keypair

DEFAULT_USERNAME = "integration@acme.com"


@dataclass(frozen=True)
class SalesforceApp:
    """A registered app, its user and its key: everything a client needs to mint against the emulator."""

    emulator: SalesforceEmulator
    app: App
    user: User
    consumer_key: str
    username: str
    private_key_pem: bytes
    certificate_pem: bytes
    key_path: Path

    @property
    def token_url(self) -> str:
        return self.emulator.token_url

    @property
    def audience(self) -> str:
        return self.emulator.audience


@functools.lru_cache(maxsize=1)
def _shared_keypair() -> tuple[bytes, bytes]:
    """One test key per process: RSA generation costs tens of milliseconds, and test keys guard nothing."""
    key, cert_pem = make_test_keypair()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert_pem


@pytest.fixture
def salesforce_emulator() -> Iterator[SalesforceEmulator]:
    """A started production-org emulator (audience https://login.salesforce.com), stopped after the test.

    Register apps and users with `add_app` / `add_user`, or use `salesforce_app` for a ready pair.
    """
    with SalesforceEmulator() as emulator:
        yield emulator


@pytest.fixture
def salesforce_app(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> SalesforceApp:
    """A Connected App and a pre-authorized user registered on `salesforce_emulator`.

    The private key is an unencrypted PKCS#8 PEM, also written to `key_path` (mode 0600, in tmp_path).
    The key pair is shared by every test in the process; the consumer key is fresh per test.
    """
    key_pem, cert_pem = _shared_keypair()
    app = salesforce_emulator.add_app(cert_pem)
    user = salesforce_emulator.add_user(DEFAULT_USERNAME)
    key_path = tmp_path / "server.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    return SalesforceApp(
        emulator=salesforce_emulator,
        app=app,
        user=user,
        consumer_key=app.consumer_key,
        username=user.username,
        private_key_pem=key_pem,
        certificate_pem=cert_pem,
        key_path=key_path,
    )
