"""TLS and namespace settings, variable precedence, lazy imports, and no secret in any log line."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sfjwt_vault_hashicorp import errors
from sfjwt_vault_hashicorp.settings import VaultSettings

from sfjwt_vault import KeyRef, SecretBuffer
from sfjwt_vault.plugins import PluginHost

from .conftest import Bao, DevServer, start_dev_server
from .test_kv import new_pem, put_v2, signs_with
from .test_transit import WORKTREE


def test_settings_precedence() -> None:
    env = {
        "VAULT_ADDR": "https://vault.example:8200/",
        "BAO_ADDR": "https://bao.example:8200",
        "BAO_NAMESPACE": "team",
        "BAO_CACERT": "/etc/ca.pem",
        "BAO_SKIP_VERIFY": "true",
    }
    settings = VaultSettings.from_env(env)
    assert settings.addr == "https://vault.example:8200"  # VAULT_* wins, trailing slash dropped
    assert (settings.namespace, settings.cacert, settings.skip_verify) == ("team", "/etc/ca.pem", True)
    assert settings.verify is False
    assert VaultSettings.from_env({"BAO_CACERT": "/etc/ca.pem"}).verify == "/etc/ca.pem"
    assert VaultSettings.from_env({"VAULT_NAMESPACE": "a", "BAO_NAMESPACE": "b"}).namespace == "a"
    assert VaultSettings.from_env({}).auth == "token"
    assert VaultSettings.from_env({"SFJWT_VAULT_ROLE_ID": "r"}).auth == "approle"
    assert (
        VaultSettings.from_env({"SFJWT_VAULT_AUTH": "approle", "SFJWT_VAULT_AUTH_MOUNT": "/ar-prod/"}).auth_mount
        == "ar-prod"
    )


@pytest.fixture
def tls_bao(tmp_path: Path) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path, tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_needs_the_ca(tls_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tls_bao.home is not None
    import hvac

    pem = new_pem()
    hvac.Client(
        url=tls_bao.addr, token=tls_bao.token, verify=str(tls_bao.home / "vault-ca.pem")
    ).secrets.kv.v2.create_or_update_secret(path="sf/jwt", secret={"private_key": pem.decode()})
    monkeypatch.setenv("BAO_ADDR", tls_bao.addr)
    monkeypatch.setenv("BAO_TOKEN", tls_bao.token)
    with pytest.raises(errors.VaultUnreachableError, match="TLS") as info:
        host.fetch_key(KeyRef.parse("vault:secret/sf/jwt"))
    assert "VAULT_CACERT" in (info.value.hint or "")
    monkeypatch.setenv("BAO_CACERT", str(tls_bao.home / "vault-ca.pem"))
    assert signs_with(host, "vault:secret/sf/jwt", pem)
    monkeypatch.delenv("BAO_CACERT")
    monkeypatch.setenv("BAO_SKIP_VERIFY", "1")
    assert signs_with(host, "vault:secret/sf/jwt", pem)


def test_namespace(root_env: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = "ns" + uuid.uuid4().hex[:8]
    admin = root_env.admin()
    admin.write(f"sys/namespaces/{namespace}")
    admin.adapter.namespace = namespace
    admin.sys.enable_secrets_engine("kv", path="kvns", options={"version": "2"})
    pem = new_pem()
    admin.secrets.kv.v2.create_or_update_secret(path="sf/jwt", secret={"private_key": pem.decode()}, mount_point="kvns")
    with pytest.raises(errors.VaultNotFoundError):
        host.fetch_key(KeyRef.parse("vault:kvns/sf/jwt?kv=2"))
    monkeypatch.setenv("BAO_NAMESPACE", namespace)
    assert signs_with(host, "vault:kvns/sf/jwt", pem)


def test_importing_the_plugin_does_not_import_hvac() -> None:
    code = (
        "import sys, sfjwt_vault, sfjwt_vault_hashicorp; "
        "assert 'hvac' not in sys.modules and 'requests' not in sys.modules, sorted(sys.modules)"
    )
    env = {"PYTHONPATH": f"{WORKTREE}:{WORKTREE / 'plugins'}"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def test_no_secret_in_logs(approle_env: Bao, host: PluginHost, caplog: pytest.LogCaptureFixture) -> None:
    import os

    caplog.set_level(logging.DEBUG)
    ref = KeyRef.parse(f"vault:secret/{approle_env.prefix}/logged")
    pem = new_pem()
    put_v2(approle_env, f"{approle_env.prefix}/logged", private_key="placeholder")
    host.store_key(ref, SecretBuffer.from_buffer(pem), overwrite=False)
    assert signs_with(host, str(ref), pem)
    assert host.previous_key_ref(ref) is not None
    from sfjwt_vault_hashicorp.session import get_session

    session = get_session()
    session.invalidate()
    session.client()
    text = caplog.text + repr(session)
    body_line = pem.decode().splitlines()[1]
    assert body_line not in text and "PRIVATE KEY" not in text
    assert os.environ["SFJWT_VAULT_SECRET_ID"] not in text
    assert session.client().token not in text
