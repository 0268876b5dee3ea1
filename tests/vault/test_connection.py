"""TLS and namespace settings, variable precedence, which variables change TLS trust (only the Vault
CLI's own), proxies, the warnings for an insecure connection, lazy imports, and no secret in any log line."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sfjwt_vault_hashicorp import connection, errors
from sfjwt_vault_hashicorp.session import get_session, reset_sessions
from sfjwt_vault_hashicorp.settings import VaultSettings

from sfjwt_vault import ConfigurationError, KeyRef, SecretBuffer
from sfjwt_vault.plugins import PluginHost

from .conftest import Bao, DevServer, new_key, start_dev_server
from .test_kv import new_pem, put_v2, signs_with
from .test_transit import WORKTREE


def test_settings_precedence() -> None:
    env = {
        "VAULT_ADDR": "https://vault.example:8200/",
        "BAO_ADDR": "https://bao.example:8200",
        "BAO_NAMESPACE": "team",
        "BAO_CACERT": "/etc/ca.pem",
        "BAO_CAPATH": "/etc/ca.d",
        "BAO_SKIP_VERIFY": "true",
    }
    settings = VaultSettings.from_env(env)
    assert settings.addr == "https://vault.example:8200"  # VAULT_* wins, trailing slash dropped
    assert (settings.namespace, settings.cacert, settings.capath, settings.skip_verify) == (
        "team",
        "/etc/ca.pem",
        "/etc/ca.d",
        True,
    )
    assert connection.verify_setting(settings) is False
    assert connection.verify_setting(VaultSettings.from_env({"BAO_CACERT": __file__})) == __file__
    assert connection.verify_setting(VaultSettings.from_env({})) is True
    with pytest.raises(ConfigurationError, match="VAULT_CACERT"):
        connection.verify_setting(VaultSettings.from_env({"VAULT_CACERT": "/nonexistent/ca.pem"}))
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


def _tls_secret(server: DevServer, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Path]:
    """A key in the TLS server's KV, and its CA file; BAO_ADDR/BAO_TOKEN point at it."""
    assert server.home is not None
    import hvac

    ca = server.home / "vault-ca.pem"
    pem = new_pem()
    hvac.Client(url=server.addr, token=server.token, verify=str(ca)).secrets.kv.v2.create_or_update_secret(
        path="sf/jwt", secret={"private_key": pem.decode()}
    )
    monkeypatch.setenv("BAO_ADDR", server.addr)
    monkeypatch.setenv("BAO_TOKEN", server.token)
    return pem, ca


def _refused_for_tls(host: PluginHost) -> errors.VaultUnreachableError:
    with pytest.raises(errors.VaultUnreachableError, match="TLS") as info:
        host.fetch_key(KeyRef.parse("vault:secret/sf/jwt"))
    return info.value


def test_tls_trust_comes_from_vault_cacert_only(
    tls_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, ca = _tls_secret(tls_bao, monkeypatch)
    assert "VAULT_CACERT" in (_refused_for_tls(host).hint or "")
    monkeypatch.setenv("BAO_CACERT", str(ca))
    assert signs_with(host, "vault:secret/sf/jwt", pem)


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_other_tls_variables_do_not_change_vault_trust(
    variable: str, tls_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests reads REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE as its trust store, OpenSSL SSL_CERT_FILE/DIR:
    none of them may make Vault's CA trusted (docs/vault.md: only the Vault CLI's variables do)."""
    _pem, ca = _tls_secret(tls_bao, monkeypatch)
    monkeypatch.setenv(variable, str(ca.parent if variable == "SSL_CERT_DIR" else ca))
    _refused_for_tls(host)


def test_vault_capath_trusts_every_certificate_in_the_directory(
    tls_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pem, ca = _tls_secret(tls_bao, monkeypatch)
    directory = tmp_path / "cas"
    directory.mkdir()
    (directory / "0-unrelated.pem").write_bytes(new_key()[1])
    (directory / "vault-ca.pem").write_bytes(ca.read_bytes())  # a plain file name: no `openssl rehash` needed
    (directory / "README").write_text("not a certificate")
    monkeypatch.setenv("BAO_CAPATH", str(directory))
    assert signs_with(host, "vault:secret/sf/jwt", pem)
    (directory / "vault-ca.pem").unlink()  # the other certificate alone does not vouch for Vault
    reset_sessions()  # trust is read when the client is made
    _refused_for_tls(host)
    (directory / "0-unrelated.pem").unlink()
    monkeypatch.setenv("BAO_CAPATH", str(directory / "missing"))
    with pytest.raises(ConfigurationError, match="VAULT_CAPATH"):
        host.fetch_key(KeyRef.parse("vault:secret/sf/jwt"))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_skip_verify_works_and_warns_once(
    tls_bao: DevServer, host: PluginHost, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pem, _ca = _tls_secret(tls_bao, monkeypatch)
    monkeypatch.setenv("BAO_SKIP_VERIFY", "1")
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    assert signs_with(host, "vault:secret/sf/jwt", pem)
    assert signs_with(host, "vault:secret/sf/jwt", pem)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "verification" in r.getMessage()]
    assert len(warnings) == 1 and tls_bao.addr in warnings[0].getMessage()


def test_plain_http_to_a_remote_host_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    monkeypatch.setenv("VAULT_ADDR", "http://vault.example.com:8200")
    monkeypatch.setenv("VAULT_TOKEN", "not-a-real-token")
    get_session().client()  # builds the client; the token method sends nothing
    get_session().client()
    warnings = [r for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1 and "vault.example.com" in warnings[0].getMessage()
    assert "not-a-real-token" not in caplog.text


def test_no_warning_for_https_or_loopback_http(
    root_env: Bao, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    get_session().client()  # the dev server: http on 127.0.0.1
    monkeypatch.setenv("VAULT_ADDR", "https://vault.example.com:8200")
    get_session().client()
    assert not [r for r in caplog.records if r.name.startswith("sfjwt_vault")]


class _ProxyTrap:
    """A loopback 'proxy' that records whatever reaches it and answers 502."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                trap.seen.append(f"{self.command} {self.path}")
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_CONNECT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def proxy_trap() -> Iterator[_ProxyTrap]:
    trap = _ProxyTrap()
    yield trap
    trap.server.shutdown()
    trap.server.server_close()


def test_a_loopback_vault_is_never_reached_through_a_proxy(
    root_env: Bao, host: PluginHost, monkeypatch: pytest.MonkeyPatch, proxy_trap: _ProxyTrap
) -> None:
    """Plain http to a local Vault (Agent) through a proxy would hand the token and the key to the proxy."""
    pem = new_pem()
    put_v2(root_env, f"{root_env.prefix}/proxied", private_key=pem.decode())  # (a plain hvac client would use it)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy_trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert signs_with(host, f"vault:secret/{root_env.prefix}/proxied", pem)
    assert proxy_trap.seen == []


def test_a_remote_vault_uses_the_environment_proxy_unless_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert connection.proxies_for("https://vault.example.com:8200")["https"] == "http://proxy.example.com:3128"
    assert connection.proxies_for("http://127.0.0.1:8200") == {}
    assert connection.proxies_for("https://localhost:8200") == {}
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert connection.proxies_for("https://vault.example.com:8200") == {}


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
    session = get_session()
    session.invalidate()
    session.client()
    text = caplog.text + repr(session)
    body_line = pem.decode().splitlines()[1]
    assert body_line not in text and "PRIVATE KEY" not in text
    assert os.environ["SFJWT_VAULT_SECRET_ID"] not in text
    assert session.client().token not in text
