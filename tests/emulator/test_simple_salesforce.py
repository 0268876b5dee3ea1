"""simple-salesforce, unpatched, against the emulator over TLS: its own JWT login (with its string
`exp`) to https://login.salesforce.com, reached through the emulator's proxy and trusted through
REQUESTS_CA_BUNDLE, then queries, limits, identity, an expired session and revocation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceExpiredSession
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp


@pytest.fixture
def sf(salesforce_tls_app: SalesforceApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[Salesforce]:
    em = salesforce_tls_app.emulator
    proxy = em.base_url.replace("https://", "http://")
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(salesforce_tls_app.ca_file))
    yield Salesforce(
        username=salesforce_tls_app.username,
        consumer_key=salesforce_tls_app.consumer_key,
        privatekey_file=str(salesforce_tls_app.key_path),
        domain="login",
        version="65.0",
    )


def test_jwt_login_with_string_exp(sf: Salesforce, salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    assert em.tokens_issued == 1
    claims = em.last_assertion_claims
    assert claims is not None and isinstance(claims["exp"], str) and claims["exp"].isdigit()
    assert claims["aud"] == "https://login.salesforce.com"
    assert sf.sf_instance == em.base_url.removeprefix("https://")


def test_query_user_and_organization(sf: Salesforce, salesforce_tls_app: SalesforceApp) -> None:
    username = salesforce_tls_app.username
    result = sf.query(f"SELECT Id, Username, IsActive FROM User WHERE Username = '{username}'")  # noqa: S608
    assert result["totalSize"] == 1
    assert result["records"][0]["Id"] == salesforce_tls_app.user.user_id
    assert result["records"][0]["attributes"]["type"] == "User"
    assert sf.query_all("SELECT Id FROM User")["totalSize"] == 1
    assert sf.is_sandbox() is False
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.query("SELECT Id FROM Account")
    assert refused.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_limits_and_api_usage(sf: Salesforce) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    usage = sf.api_usage["api-usage"]
    assert usage.total == 15000 and usage.used >= 1  # type: ignore[union-attr]


def test_identity(sf: Salesforce, salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    userinfo = sf.oauth2("userinfo")
    assert userinfo is not None and userinfo["preferred_username"] == salesforce_tls_app.username
    identity = sf.session.get(userinfo["sub"], headers=sf.headers)
    assert identity.status_code == 200
    assert identity.json()["username"] == salesforce_tls_app.username
    assert identity.json()["organization_id"] == em.org_id


def reattach(sf: Salesforce) -> Salesforce:
    """A client holding the same session but unable to log in again (a session id handed over)."""
    return Salesforce(session_id=sf.session_id, instance_url=f"https://{sf.sf_instance}", version="65.0")


def test_expired_session(sf: Salesforce, salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    em.session_lifetime = 30.0  # a short session, then the emulator's clock moves past it
    holder = reattach(sf)
    assert holder.limits()["DailyApiRequests"]["Max"] == 15000
    em.clock_skew += 31
    with pytest.raises(SalesforceExpiredSession):
        holder.limits()
    # The JWT client reads the same 401 INVALID_SESSION_ID body and logs in again by itself.
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    assert em.tokens_issued == 2


def test_revocation(sf: Salesforce, salesforce_tls_app: SalesforceApp) -> None:
    em = salesforce_tls_app.emulator
    holder = reattach(sf)
    response = sf.session.post(sf.oauth2_url + "revoke", data={"token": sf.session_id})
    assert response.status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        holder.query("SELECT Id FROM User")
    again = requests.post(sf.oauth2_url + "revoke", data={"token": sf.session_id}, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    assert em.revoke_requests == 2
