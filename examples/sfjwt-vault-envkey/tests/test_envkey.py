"""The example plugin tested the way docs/plugins.md shows: a real token from the emulator, through the host."""

from __future__ import annotations

import pytest
import sfjwt_vault_envkey

from sfjwt_vault import ConfigurationError, Credentials, KeyBackendError, KeyRef
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing.pytest_plugin import SalesforceApp


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(load_entry_points=False)  # nothing from entry points: the test holds only this plugin
    host.register(sfjwt_vault_envkey, "envkey")
    return host


def test_a_token_from_a_key_in_the_environment(
    salesforce_app: SalesforceApp, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_TEST_KEY", salesforce_app.private_key_pem.decode())
    creds = Credentials(
        salesforce_app.consumer_key,
        salesforce_app.username,
        "env:SF_TEST_KEY",
        audience=salesforce_app.audience,
        token_url=salesforce_app.token_url,
        plugin_host=host,
    )
    with creds:
        assert creds.get_token().access_token
    assert salesforce_app.emulator.tokens_issued == 1


def test_an_unset_variable_and_a_stray_option_are_typed_errors(host: PluginHost) -> None:
    with pytest.raises(KeyBackendError, match="'SF_NOT_SET' is not set"):
        host.fetch_key(KeyRef.parse("env:SF_NOT_SET"))
    with pytest.raises(ConfigurationError, match="unknown option"):
        host.fetch_key(KeyRef.parse("env:SF_TEST_KEY?region=x"))
