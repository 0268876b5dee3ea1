"""A real OpenBao dev server for the Vault plugin's tests, configured once per session.

Reuses SFJWT_TEST_BAO_ADDR / SFJWT_TEST_BAO_TOKEN when set (CI starts the server with start_bao.sh),
else starts `bao server -dev` on a free port with HOME in a temporary folder and stops it at the end.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import jwt as pyjwt
import pytest
import sfjwt_vault_hashicorp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sfjwt_vault_hashicorp import session as vault_session
from sfjwt_vault_hashicorp import transit

from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.signer import LocalSigner
from sfjwt_vault.testing.emulator import SalesforceEmulator
from tests.servers import DevServer, start_dev_server

__all__ = ["DevServer", "start_dev_server"]

USERNAME = "integration@acme.com"
ROLE_TTL = 3
ROLE_MAX_TTL = 8

POLICY = """
path "secret/data/sfjwt/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/sfjwt/*" { capabilities = ["read"] }
path "kv1/sfjwt/*" { capabilities = ["create", "read", "update"] }
path "team/kv/data/sfjwt/*" { capabilities = ["read"] }
path "transit/sign/sfjwt-*" { capabilities = ["update"] }
path "transit/keys/sfjwt-*" { capabilities = ["read"] }
"""


@dataclass
class Bao:
    """The configured server: addresses, the root token, and what setup created."""

    addr: str
    root_token: str
    role_id: str = ""
    jwt_key: rsa.RSAPrivateKey | None = None
    prefix: str = field(default_factory=lambda: "sfjwt/" + uuid.uuid4().hex[:8])

    def admin(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.root_token)

    def secret_id(self, **params: object) -> str:
        return str(self.admin().auth.approle.generate_secret_id("worker", **params)["data"]["secret_id"])

    def wrapped_secret_id(self) -> str:
        response = self.admin().adapter.post(
            "/v1/auth/approle/role/worker/secret-id", headers={"X-Vault-Wrap-TTL": "60s"}
        )
        return str(response["wrap_info"]["token"])

    def policy_token(self, policies: list[str], ttl: str = "1h") -> str:
        created = self.admin().auth.token.create(policies=policies, ttl=ttl)
        return str(created["auth"]["client_token"])

    def sign_jwt(self, **claims: object) -> str:
        now = datetime.datetime.now(datetime.UTC)
        body = {"sub": "sfjwt-worker", "aud": "sfjwt-tests", "iat": now, "exp": now + datetime.timedelta(minutes=5)}
        body.update(claims)
        assert self.jwt_key is not None
        return pyjwt.encode(body, self.jwt_key, algorithm="RS256")


def configure(bao: Bao) -> None:
    client = bao.admin()
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    if "kv1/" not in mounts:
        client.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    if "team/kv/" not in mounts:
        client.sys.enable_secrets_engine("kv", path="team/kv", options={"version": "2"})
    if "transit/" not in mounts:
        client.sys.enable_secrets_engine("transit", path="transit")
    if "secret/" not in mounts:
        client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    client.sys.create_or_update_policy("sfjwt", POLICY)
    client.sys.create_or_update_policy("transit-read", 'path "transit/keys/*" { capabilities = ["read"] }')
    client.sys.create_or_update_policy("transit-sign", 'path "transit/sign/*" { capabilities = ["update"] }')
    client.sys.create_or_update_policy("nothing", 'path "sys/nothing" { capabilities = ["deny"] }')
    auths = client.sys.list_auth_methods()["data"]
    if "approle/" not in auths:
        client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle(
        "worker", token_policies=["sfjwt"], token_ttl=f"{ROLE_TTL}s", token_max_ttl=f"{ROLE_MAX_TTL}s"
    )
    bao.role_id = str(client.auth.approle.read_role_id("worker")["data"]["role_id"])
    if "jwt/" not in auths:
        client.sys.enable_auth_method("jwt")
    bao.jwt_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        bao.jwt_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client.write("auth/jwt/config", jwt_validation_pubkeys=[public_pem])
    client.write(
        "auth/jwt/role/worker",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=["sfjwt-tests"],
        token_policies=["sfjwt"],
        token_ttl="60s",
    )
    client.write("transit/keys/sfjwt-rsa", type="rsa-2048")
    client.write("transit/keys/sfjwt-ed", type="ed25519")


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    addr, token = os.environ.get("SFJWT_TEST_BAO_ADDR"), os.environ.get("SFJWT_TEST_BAO_TOKEN")
    server: DevServer | None = None
    if not (addr and token):
        server = start_dev_server(tmp_path_factory.mktemp("bao-home"))
        addr, token = server.addr, server.token
    configured = Bao(addr=addr, root_token=token)
    configure(configured)
    try:
        yield configured
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def throwaway_bao(tmp_path: Path) -> Iterator[DevServer]:
    """A separate dev server that a test may seal or stop without breaking the others."""
    server = start_dev_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No Vault variable from the caller's shell, no real ~/.vault-token, no cached client or key."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_", "SFJWT_VAULT_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    vault_session.reset_sessions()
    transit.reset_cache()
    yield
    vault_session.reset_sessions()
    transit.reset_cache()


@pytest.fixture
def root_env(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Bao:
    """VAULT_ADDR and VAULT_TOKEN set to the dev server's root token."""
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    return bao


@pytest.fixture
def approle_env(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Bao:
    monkeypatch.setenv("VAULT_ADDR", bao.addr)
    monkeypatch.setenv("SFJWT_VAULT_AUTH", "approle")
    monkeypatch.setenv("SFJWT_VAULT_ROLE_ID", bao.role_id)
    monkeypatch.setenv("SFJWT_VAULT_SECRET_ID", bao.secret_id())
    return bao


@pytest.fixture
def host() -> PluginHost:
    plugin_host = PluginHost(load_entry_points=False)
    plugin_host.register(sfjwt_vault_hashicorp, "vault")
    return plugin_host


@pytest.fixture(scope="session")
def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emu:
        emu.add_user(USERNAME)
        yield emu


def new_key() -> tuple[bytes, bytes]:
    """A PEM private key and the self-signed certificate a Connected App would hold for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, certificate_pem(self_signed_certificate(LocalSigner(key)))
