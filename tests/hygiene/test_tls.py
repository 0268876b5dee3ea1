"""TLS verification is on by default; a private CA is trusted only when given (--ca-bundle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfjwt_vault import ConfigurationError, Credentials, cli, plugins
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.retry import NO_RETRY
from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair, make_tls_context
from tests.conftest import pem_of, write_key


@pytest.fixture
def tls_org(tmp_path: Path) -> tuple[SalesforceEmulator, str, str, Path, Path]:
    context, ca_pem = make_tls_context(["localhost"])
    key, cert = make_test_keypair()
    emulator = SalesforceEmulator(ssl_context=context).start()
    app = emulator.add_app(cert)
    user = emulator.add_user("tls@acme.com")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem)
    yield emulator, app.consumer_key, user.username, write_key(tmp_path / "k.pem", pem_of(key)), ca  # type: ignore[misc]
    emulator.stop()


def _creds(org: tuple[SalesforceEmulator, str, str, Path, Path], host: plugins.PluginHost, **kw: object) -> Credentials:
    emulator, consumer_key, username, key, _ = org
    return Credentials(
        consumer_key,
        username,
        f"file:{key}",
        audience=emulator.audience,
        token_url=emulator.token_url,
        retry=NO_RETRY,
        cache=TokenCache(),
        plugin_host=host,
        **kw,  # type: ignore[arg-type]
    )


def test_default_verification_refuses_an_unknown_ca_with_a_hint(tls_org: tuple, host: plugins.PluginHost) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigurationError) as info:
        _creds(tls_org, host).get_token()
    assert "TLS certificate verification failed" in info.value.message
    assert "--ca-bundle" in (info.value.hint or "")
    assert tls_org[0].exchange_count == 0  # nothing was sent over the unverified connection


def test_ca_bundle_option_trusts_the_private_ca(tls_org: tuple, host: plugins.PluginHost) -> None:  # type: ignore[type-arg]
    token = _creds(tls_org, host, verify=str(tls_org[4])).get_token()
    assert token.instance_url.startswith("https://")


def test_cli_ca_bundle_flag(
    tls_org: tuple,  # type: ignore[type-arg]
    host: plugins.PluginHost,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator, consumer_key, username, key, ca = tls_org
    for var, value in {
        "SF_CONSUMER_KEY": consumer_key,
        "SF_USERNAME": username,
        "SFJWT_KEY": f"file:{key}",
        "SF_AUDIENCE": emulator.audience,
        "SF_TOKEN_URL": emulator.token_url,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(plugins, "_host", host)
    assert cli.main(["token"]) == 2
    assert "--ca-bundle" in capsys.readouterr().err
    assert cli.main(["token", "--ca-bundle", str(ca), "--format", "env"]) == 0
    assert "SF_ACCESS_TOKEN=" in capsys.readouterr().out
