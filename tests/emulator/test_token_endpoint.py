"""The token endpoint over real HTTP: every answer a client can meet, in the documented check order."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import jwt
import pytest

from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair
from sfjwt_vault.testing.emulator import JWT_BEARER_GRANT
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .client import AUD, CLIENT, assert_error, mint, post

# -- success ------------------------------------------------------------------------------------


def test_success_response_shape(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    before = int(time.time() * 1000)
    response = post(em, mint(salesforce_app))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "scope", "issued_at", "signature"}
    assert "refresh_token" not in body and "expires_in" not in body
    assert body["access_token"].startswith(em.org_id + "!")
    assert len(body["access_token"]) == len(em.org_id) + 1 + 96
    assert body["instance_url"] == em.base_url
    # The identity URL is the emulator's own identity service, never the real login host.
    assert body["id"] == f"{em.base_url}/id/{em.org_id}/{salesforce_app.user.user_id}"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "api"
    assert before - 1000 <= int(body["issued_at"]) <= int(time.time() * 1000) + 1000
    assert body["signature"]
    assert em.exchange_count == 1 and em.tokens_issued == 1


def test_ids_and_urls() -> None:
    em = SalesforceEmulator(sandbox=True)
    assert em.audience == "https://test.salesforce.com"
    assert em.org_id.startswith("00D") and len(em.org_id) == 18
    user = em.add_user("u@acme.com.uat")
    assert user.user_id.startswith("005") and len(user.user_id) == 18
    _, cert = make_test_keypair()
    app = em.add_app(cert)
    assert app.consumer_key.startswith("3MVG9") and len(app.consumer_key) == 85
    with em:
        assert em.base_url.startswith("http://127.0.0.1:")
        assert em.token_url == em.base_url + "/services/oauth2/token"


def test_sandbox_success() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(sandbox=True) as em:
        app = em.add_app(cert)
        user = em.add_user("u@acme.com.uat")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com.uat", "aud": em.audience, "exp": int(time.time()) + 60}
        response = post(em, jwt.encode(claims, key, algorithm="RS256"))
        assert response.status_code == 200
        assert response.json()["id"] == f"{em.base_url}/id/{em.org_id}/{user.user_id}"


def test_last_assertion_recorded(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    post(em, mint(salesforce_app, jti="abc", exp=int(time.time()) + 3000))
    assert em.last_assertion_claims is not None
    assert em.last_assertion_claims["jti"] == "abc"
    assert em.last_assertion_header is not None and em.last_assertion_header["alg"] == "RS256"
    assert em.last_exp_ahead is not None and 2990 < em.last_exp_ahead <= 3000


def test_date_header_uses_skewed_clock() -> None:
    with SalesforceEmulator(clock_skew=3600) as em:
        response = CLIENT.get(em.base_url + "/services/data/")
        served = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
        assert abs(served - (time.time() + 3600)) < 5


# -- token endpoint errors, in check order ------------------------------------------------------


def test_not_form_encoded(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    response = CLIENT.post(em.token_url, json={"grant_type": JWT_BEARER_GRANT, "assertion": mint(salesforce_app)})
    assert_error(response, "unsupported_grant_type", "grant type not supported")


def test_wrong_grant_type(salesforce_app: SalesforceApp) -> None:
    response = post(salesforce_app.emulator, "", data={"grant_type": "password", "assertion": mint(salesforce_app)})
    assert_error(response, "unsupported_grant_type", "grant type not supported")


@pytest.mark.parametrize("assertion", ["", "not-a-jwt", "a.b.c", "e30.e30"])
def test_unparseable_assertion(salesforce_app: SalesforceApp, assertion: str) -> None:
    assert_error(post(salesforce_app.emulator, assertion), "invalid_grant", "invalid assertion")


def test_alg_not_rs256(salesforce_app: SalesforceApp) -> None:
    claims = {
        "iss": salesforce_app.consumer_key,
        "sub": salesforce_app.username,
        "aud": AUD,
        "exp": int(time.time()) + 60,
    }
    assertion = jwt.encode(claims, "secret-for-hs256-test-at-least-32-bytes", algorithm="HS256")
    assert_error(post(salesforce_app.emulator, assertion), "invalid_grant", "invalid assertion")


def test_unknown_iss(salesforce_app: SalesforceApp) -> None:
    response = post(salesforce_app.emulator, mint(salesforce_app, iss="3MVG9unknown"))
    assert_error(response, "invalid_client_id", "client identifier invalid")


@pytest.mark.parametrize(
    "aud", ["https://test.salesforce.com", "https://acme.my.salesforce.com", "https://elsewhere.example.com"]
)
def test_audience_invalid_for_connected_app(salesforce_app: SalesforceApp, aud: str) -> None:
    assert_error(post(salesforce_app.emulator, mint(salesforce_app, aud=aud)), "invalid_grant", "audience is invalid")


def test_sandbox_rejects_login_audience() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(sandbox=True) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com.uat")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com.uat", "aud": AUD, "exp": int(time.time()) + 60}
        assert_error(post(em, jwt.encode(claims, key, algorithm="RS256")), "invalid_grant", "audience is invalid")


def test_external_client_app_audiences(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    app = em.add_app(salesforce_app.certificate_pem, kind="external")
    ext = SalesforceApp(**{**salesforce_app.__dict__, "app": app, "consumer_key": app.consumer_key})
    for aud in (AUD, "https://test.salesforce.com"):
        assert_error(post(em, mint(ext, aud=aud)), "app_not_found", "External client app is not installed in this org")
    assert_error(post(em, mint(ext, aud="https://other.example.com")), "invalid_grant", "audience is invalid")
    assert post(em, mint(ext, aud="https://acme.my.salesforce.com")).status_code == 200


def test_site_url_audience() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(site_urls=("https://acme.my.site.com/partners",)) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com")
        claims = {
            "iss": app.consumer_key,
            "sub": "u@acme.com",
            "aud": "https://acme.my.site.com/partners",
            "exp": int(time.time()) + 60,
        }
        assert post(em, jwt.encode(claims, key, algorithm="RS256")).status_code == 200


def test_signature_from_other_key(salesforce_app: SalesforceApp) -> None:
    other, _ = make_test_keypair()
    claims = {
        "iss": salesforce_app.consumer_key,
        "sub": salesforce_app.username,
        "aud": AUD,
        "exp": int(time.time()) + 60,
    }
    assert_error(
        post(salesforce_app.emulator, jwt.encode(claims, other, algorithm="RS256")),
        "invalid_grant",
        "invalid assertion",
    )


def test_tampered_claims(salesforce_app: SalesforceApp) -> None:
    header, _, signature = mint(salesforce_app).split(".")
    forged = jwt.encode(
        {"iss": salesforce_app.consumer_key, "sub": "admin@acme.com", "aud": AUD, "exp": int(time.time()) + 60},
        "k" * 32,
    )
    assertion = f"{header}.{forged.split('.')[1]}.{signature}"
    assert_error(post(salesforce_app.emulator, assertion), "invalid_grant", "invalid assertion")


def test_certificate_rotation(salesforce_app: SalesforceApp) -> None:
    new_key, new_cert = make_test_keypair()
    salesforce_app.app.certificate_pem = new_cert
    em = salesforce_app.emulator
    assert_error(post(em, mint(salesforce_app)), "invalid_grant", "invalid assertion")
    claims = {
        "iss": salesforce_app.consumer_key,
        "sub": salesforce_app.username,
        "aud": AUD,
        "exp": int(time.time()) + 60,
    }
    assert post(em, jwt.encode(claims, new_key, algorithm="RS256")).status_code == 200


# What Salesforce is not known to accept stays refused: no exp, text that is not digits, a float.
@pytest.mark.parametrize(
    "exp", [None, 1.7e9 + 0.5, "soon", "", "-60", "1.7e9", " 1795963898", "1795963898 ", "١٧٩٥٩٦٣٨٩٨", True, [1]]
)
def test_exp_missing_or_unreadable(salesforce_app: SalesforceApp, exp: Any) -> None:
    claims = {"iss": salesforce_app.consumer_key, "sub": salesforce_app.username, "aud": AUD}
    if exp is not None:
        claims["exp"] = exp
    assertion = jwt.encode(claims, salesforce_app.private_key_pem, algorithm="RS256")
    assert_error(post(salesforce_app.emulator, assertion), "invalid_grant", "invalid assertion")


def test_exp_as_string_of_digits(salesforce_app: SalesforceApp) -> None:
    """simple-salesforce sends `exp` as a string (f"{ts:.0f}"); Salesforce reads it as a time."""
    em = salesforce_app.emulator
    assert post(em, mint(salesforce_app, exp=f"{time.time() + 180:.0f}")).status_code == 200
    assert em.last_exp_ahead is not None and 170 < em.last_exp_ahead <= 181
    assert_error(
        post(em, mint(salesforce_app, exp=str(int(time.time()) - 60))), "invalid_grant", "expired authorization code"
    )


def test_exp_in_milliseconds(salesforce_app: SalesforceApp) -> None:
    """The Salesforce CLI sends milliseconds: read as seconds it is far in the future, and accepted."""
    em = salesforce_app.emulator
    assert post(em, mint(salesforce_app, exp=int(time.time() * 1000) + 180_000)).status_code == 200
    assert em.last_exp_ahead is not None and em.last_exp_ahead > 10**12


def test_expired_and_leeway(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    assert_error(
        post(em, mint(salesforce_app, exp=int(time.time()) - 60)), "invalid_grant", "expired authorization code"
    )
    assert post(em, mint(salesforce_app, exp=int(time.time()) - 2)).status_code == 200  # within exp_leeway
    assert post(em, mint(salesforce_app, exp=int(time.time()) + 86400)).status_code == 200  # no upper bound


def test_clock_skew_expires_fresh_assertion() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(clock_skew=600) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com", "aud": AUD, "exp": int(time.time()) + 180}
        assert_error(
            post(em, jwt.encode(claims, key, algorithm="RS256")), "invalid_grant", "expired authorization code"
        )


@pytest.mark.parametrize(
    ("flag", "value", "error", "description"),
    [
        ("active", False, "invalid_grant", "inactive user"),
        ("preauthorized", False, "invalid_grant", "user hasn't approved this consumer"),
        ("admin_approved", False, "invalid_app_access", "user is not admin approved to access this app"),
        ("ip_restricted", True, "invalid_grant", "ip restricted"),
    ],
)
def test_user_errors(salesforce_app: SalesforceApp, flag: str, value: bool, error: str, description: str) -> None:
    setattr(salesforce_app.user, flag, value)
    assert_error(post(salesforce_app.emulator, mint(salesforce_app)), error, description)


def test_unknown_user(salesforce_app: SalesforceApp) -> None:
    response = post(salesforce_app.emulator, mint(salesforce_app, sub="nobody@acme.com"))
    assert_error(response, "invalid_grant", "user hasn't approved this consumer")


def test_login_rate_limit() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(login_rate_limit=2) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com")
        em.add_user("v@acme.com")

        def assertion(sub: str) -> str:
            claims = {"iss": app.consumer_key, "sub": sub, "aud": AUD, "exp": int(time.time()) + 60}
            return jwt.encode(claims, key, algorithm="RS256")

        assert post(em, assertion("u@acme.com")).status_code == 200
        assert_error(post(em, assertion("nobody@acme.com")), "invalid_grant", "user hasn't approved this consumer")
        assert post(em, assertion("u@acme.com")).status_code == 200
        assert_error(post(em, assertion("u@acme.com")), "invalid_grant", "login rate exceeded")
        assert post(em, assertion("v@acme.com")).status_code == 200  # per user
        em.clock_skew = 3601  # an hour later the window has rolled
        claims = {"iss": app.consumer_key, "sub": "u@acme.com", "aud": AUD, "exp": int(time.time()) + 3700}
        assert post(em, jwt.encode(claims, key, algorithm="RS256")).status_code == 200
        assert em.exchange_count == 6 and em.tokens_issued == 4


def test_get_on_token_endpoint(salesforce_emulator: SalesforceEmulator) -> None:
    response = CLIENT.get(salesforce_emulator.token_url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# -- injected faults --------------------------------------------------------------------------------


def test_faults_fifo_then_normal(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.inject("503")
    em.inject("500")
    em.inject("html")
    em.inject("empty")
    em.inject("unknown_error")
    em.inject("rate")
    r = post(em, mint(salesforce_app))
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    r = post(em, mint(salesforce_app))
    assert r.status_code == 500 and r.content == b""
    r = post(em, mint(salesforce_app))
    assert r.status_code == 200 and r.text.lstrip().startswith("<!DOCTYPE html>")
    r = post(em, mint(salesforce_app))
    assert r.status_code == 200 and r.content == b""
    assert_error(post(em, mint(salesforce_app)), "unknown_error", "retry your request")
    assert_error(post(em, mint(salesforce_app)), "invalid_grant", "login rate exceeded")
    assert post(em, mint(salesforce_app)).status_code == 200
    assert em.exchange_count == 7 and em.tokens_issued == 1


def test_fault_times(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.inject("503", times=2)
    assert [post(em, mint(salesforce_app)).status_code for _ in range(3)] == [503, 503, 200]


def test_fault_stall(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.inject("stall", seconds=2.0)
    with pytest.raises(httpx.ReadTimeout):
        post(em, mint(salesforce_app), timeout=0.3)
    em.inject("stall", seconds=0.3)
    started = time.monotonic()
    assert post(em, mint(salesforce_app)).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_redirect(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.inject("redirect")
    r = post(em, mint(salesforce_app))  # httpx does not follow redirects by default
    assert r.status_code == 302
    assert r.headers["location"] == "https://evil.example.com/services/oauth2/token"


def test_fault_huge(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    em.inject("huge")
    r = post(em, mint(salesforce_app))
    assert r.status_code == 200 and len(r.content) > 5_000_000


def test_inject_unknown_fault(salesforce_emulator: SalesforceEmulator) -> None:
    with pytest.raises(ValueError):
        salesforce_emulator.inject("teapot")
