"""pytest fixtures for testing code that uses Salesforce's JWT Bearer flow, against the emulator.

Loaded automatically through the package's `pytest11` entry point wherever sfjwt-vault is installed.
`salesforce_emulator` / `salesforce_app` serve plain HTTP; `salesforce_tls_emulator` /
`salesforce_tls_app` serve HTTPS with a throwaway CA (`SalesforceApp.ca_file` is the file to trust).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from .certificates import make_test_keypair
from .emulator import App, SalesforceEmulator, User

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
    ca_file: Path | None = None  # the throwaway CA to trust, for an emulator serving TLS

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


def _register(emulator: SalesforceEmulator, folder: Path) -> SalesforceApp:
    key_pem, cert_pem = _shared_keypair()
    app = emulator.add_app(cert_pem)
    user = emulator.add_user(DEFAULT_USERNAME)
    key_path = folder / "server.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    ca_file: Path | None = None
    if emulator.ca_pem is not None:
        ca_file = folder / "emulator-ca.pem"
        ca_file.write_bytes(emulator.ca_pem)
    return SalesforceApp(
        emulator=emulator,
        app=app,
        user=user,
        consumer_key=app.consumer_key,
        username=user.username,
        private_key_pem=key_pem,
        certificate_pem=cert_pem,
        key_path=key_path,
        ca_file=ca_file,
    )


@pytest.fixture
def salesforce_app(salesforce_emulator: SalesforceEmulator, tmp_path: Path) -> SalesforceApp:
    """A Connected App and a pre-authorized user registered on `salesforce_emulator`.

    The private key is an unencrypted PKCS#8 PEM, also written to `key_path` (mode 0600, in tmp_path).
    The key pair is shared by every test in the process; the consumer key is fresh per test.
    """
    return _register(salesforce_emulator, tmp_path)


@pytest.fixture
def salesforce_tls_emulator() -> Iterator[SalesforceEmulator]:
    """A started emulator serving HTTPS with a throwaway CA (`ca_pem`), stopped after the test.

    Its certificate names 127.0.0.1, ::1, localhost and the Salesforce login and My Domain hosts; it is
    also an HTTPS proxy for those names (see docs/emulator.md).
    """
    with SalesforceEmulator(tls=True) as emulator:
        yield emulator


@pytest.fixture
def salesforce_tls_app(salesforce_tls_emulator: SalesforceEmulator, tmp_path: Path) -> SalesforceApp:
    """`salesforce_app` over TLS; `ca_file` holds the throwaway CA's certificate (in tmp_path)."""
    return _register(salesforce_tls_emulator, tmp_path)
