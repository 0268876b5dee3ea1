"""The client integrations against the emulator over TLS (simple-salesforce and aiosalesforce speak only
https): Credentials that trust its throwaway CA, and a short emulator session that the tests end by
moving the emulator's clock (`expire`), never by sleeping."""

from __future__ import annotations

import pytest

from sfjwt_vault import Credentials
from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.helpers import credentials_for

SESSION_SECONDS = 30.0


@pytest.fixture
def app(salesforce_tls_app: SalesforceApp, monkeypatch: pytest.MonkeyPatch) -> SalesforceApp:
    """The TLS emulator's app, with short sessions; no proxy or CA bundle from the machine's environment."""
    salesforce_tls_app.emulator.session_lifetime = SESSION_SECONDS
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return salesforce_tls_app


@pytest.fixture
def creds(app: SalesforceApp) -> Credentials:
    return credentials_for(app, verify=str(app.ca_file))


def expire(emulator: SalesforceEmulator) -> None:
    """Every session issued so far runs out: the emulator's clock moves past the session lifetime.
    The credentials' cache still believes its token is fresh (it assumes 15 minutes)."""
    emulator.clock_skew += SESSION_SECONDS + 1
