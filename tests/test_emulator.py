"""The emulator over real HTTP: every answer a client can meet, checked against salesforce-facts.md."""

from __future__ import annotations

import email.utils
import os
import ssl
import stat
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair, make_tls_context
from sfjwt_vault.testing.emulator import JWT_BEARER_GRANT
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

AUD = "https://login.salesforce.com"
# One keep-alive client: a new httpx client per request costs ~40 ms of TLS-store loading.
CLIENT = httpx.Client()


def mint(app: SalesforceApp, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": app.consumer_key,
        "sub": app.username,
        "aud": app.audience,
        "exp": int(time.time()) + 180,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, app.private_key_pem, algorithm="RS256")


def post(emulator: SalesforceEmulator, assertion: str, **kwargs: Any) -> httpx.Response:
    data = kwargs.pop("data", {"grant_type": JWT_BEARER_GRANT, "assertion": assertion})
    return CLIENT.post(emulator.token_url, data=data, headers={"Accept": "application/json"}, **kwargs)


def assert_error(response: httpx.Response, error: str, description: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": description}


def token_for(app: SalesforceApp) -> str:
    response = post(app.emulator, mint(app))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def limits(emulator: SalesforceEmulator, token: str) -> httpx.Response:
    return CLIENT.get(emulator.base_url + "/services/data/v65.0/limits", headers={"Authorization": f"Bearer {token}"})


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
    assert body["id"] == f"{AUD}/id/{em.org_id}/{salesforce_app.user.user_id}"
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


def test_sandbox_success_id_uses_test_host() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(sandbox=True) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com.uat")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com.uat", "aud": em.audience, "exp": int(time.time()) + 60}
        response = post(em, jwt.encode(claims, key, algorithm="RS256"))
        assert response.status_code == 200
        assert response.json()["id"].startswith("https://test.salesforce.com/id/")


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


@pytest.mark.parametrize("exp", [None, "1700000000", 1.7e9 + 0.5])
def test_exp_missing_or_not_integer(salesforce_app: SalesforceApp, exp: Any) -> None:
    claims = {"iss": salesforce_app.consumer_key, "sub": salesforce_app.username, "aud": AUD}
    if exp is not None:
        claims["exp"] = exp
    assertion = jwt.encode(claims, salesforce_app.private_key_pem, algorithm="RS256")
    assert_error(post(salesforce_app.emulator, assertion), "invalid_grant", "invalid assertion")


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


# -- REST -----------------------------------------------------------------------------------------


def test_versions_list_is_public(salesforce_emulator: SalesforceEmulator) -> None:
    response = CLIENT.get(salesforce_emulator.base_url + "/services/data/")
    assert response.status_code == 200
    assert response.json() == [{"label": "Winter '26", "url": "/services/data/v65.0", "version": "65.0"}]


def test_rest_with_token(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    auth = {"Authorization": f"Bearer {token}"}
    resources = CLIENT.get(em.base_url + "/services/data/v65.0/", headers=auth)
    assert resources.status_code == 200 and resources.json()["limits"] == "/services/data/v65.0/limits"
    body = limits(em, token).json()
    assert body["DailyApiRequests"]["Max"] == 15000
    assert CLIENT.get(em.base_url + "/services/data/v65.0/nope", headers=auth).status_code == 404
    assert CLIENT.get(em.base_url + "/services/data/v99.0/limits", headers=auth).status_code == 404
    assert em.rest_calls == 4


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc"])
def test_rest_without_live_token(salesforce_emulator: SalesforceEmulator, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = CLIENT.get(salesforce_emulator.base_url + "/services/data/v65.0/limits", headers=headers)
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert salesforce_emulator.rest_calls == 1


def test_userinfo(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    response = CLIENT.get(em.base_url + "/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == salesforce_app.user.user_id
    assert body["organization_id"] == em.org_id
    assert body["preferred_username"] == salesforce_app.username
    assert CLIENT.get(em.base_url + "/services/oauth2/userinfo").status_code == 403


def test_sliding_session() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(session_lifetime=100.0) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com", "aud": AUD, "exp": int(time.time()) + 60}
        token = CLIENT.post(
            em.token_url, data={"grant_type": JWT_BEARER_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}
        ).json()["access_token"]
        for _ in range(4):  # 4 x 60 s > 100 s lifetime, but each call slides it
            em.clock_skew += 60
            assert limits(em, token).status_code == 200
        em.clock_skew += 101
        assert limits(em, token).status_code == 401


def test_session_expires_in_real_time() -> None:
    key, cert = make_test_keypair()
    with SalesforceEmulator(session_lifetime=0.3) as em:
        app = em.add_app(cert)
        em.add_user("u@acme.com")
        claims = {"iss": app.consumer_key, "sub": "u@acme.com", "aud": AUD, "exp": int(time.time()) + 60}
        token = post(em, jwt.encode(claims, key, algorithm="RS256")).json()["access_token"]
        assert limits(em, token).status_code == 200
        time.sleep(0.4)
        assert limits(em, token).status_code == 401


def test_expire_all_tokens(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    assert limits(em, token).status_code == 200
    em.expire_all_tokens()
    assert limits(em, token).json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert limits(em, token_for(salesforce_app)).status_code == 200


def test_rest_blocks(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    token = token_for(salesforce_app)
    em.set_rest_block("not_rest")
    response = limits(em, token)
    assert response.status_code == 401
    assert response.json() == [
        {"message": "This session is not valid for use with the REST API", "errorCode": "INVALID_SESSION_ID"}
    ]
    em.set_rest_block("limit")
    response = limits(em, token)
    assert response.status_code == 403
    assert response.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    em.set_rest_block(None)
    assert limits(em, token).status_code == 200
    with pytest.raises(ValueError):
        em.set_rest_block("bogus")


def test_api_disabled_user(salesforce_app: SalesforceApp) -> None:
    salesforce_app.user.api_enabled = False
    token = token_for(salesforce_app)
    response = limits(salesforce_app.emulator, token)
    assert response.status_code == 403 and response.json()[0]["errorCode"] == "API_DISABLED_FOR_ORG"


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


# -- helpers, TLS, plugin, CLI ------------------------------------------------------------------------


def test_https_with_make_tls_context() -> None:
    context, cert_pem = make_tls_context(["login.salesforce.com"])
    with SalesforceEmulator(ssl_context=context) as em:
        assert em.base_url.startswith("https://127.0.0.1:")
        client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
        client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        r = httpx.get(em.base_url + "/services/data/", verify=client_ctx)
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(em.base_url + "/services/data/")  # not trusted by default


def test_make_test_keypair() -> None:
    key, cert_pem = make_test_keypair(bits=3072, common_name="rotation")
    assert key.key_size == 3072
    assert b"BEGIN CERTIFICATE" in cert_pem


def test_add_app_rejects_bad_certificate(salesforce_emulator: SalesforceEmulator) -> None:
    with pytest.raises(ValueError):
        salesforce_emulator.add_app(b"not a certificate")
    with pytest.raises(ValueError):
        salesforce_emulator.add_app(make_test_keypair()[1], kind="other")


def test_salesforce_app_fixture(salesforce_app: SalesforceApp) -> None:
    assert stat.S_IMODE(os.stat(salesforce_app.key_path).st_mode) == 0o600
    assert salesforce_app.key_path.read_bytes() == salesforce_app.private_key_pem
    serialization.load_pem_private_key(salesforce_app.private_key_pem, password=None)
    assert salesforce_app.token_url == salesforce_app.emulator.token_url


def test_stop_with_open_keepalive_connection(salesforce_app: SalesforceApp) -> None:
    em = SalesforceEmulator().start()
    with httpx.Client() as client:
        assert client.get(em.base_url + "/services/data/").status_code == 200
        started = time.monotonic()
        em.stop()
        assert time.monotonic() - started < 2
    em.stop()  # idempotent


def test_cli_main(tmp_path: Any) -> None:
    _, cert = make_test_keypair()
    cert_file = tmp_path / "server.crt"
    cert_file.write_bytes(cert)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from sfjwt_vault.testing.emulator import main; sys.exit(main(sys.argv[1:]))",
            "--cert",
            str(cert_file),
            "--consumer-key",
            "3MVG9cli",
            "--username",
            "cli@acme.com",
            "--sandbox",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("base URL:  http://127.0.0.1:")
        assert lines[1].strip().endswith("/services/oauth2/token")
        assert lines[2].strip() == "audience:  https://test.salesforce.com"
        base = lines[0].split()[-1]
        assert CLIENT.get(base + "/services/data/").status_code == 200
        proc.terminate()  # SIGTERM stops it cleanly, like Ctrl-C
        assert proc.wait(timeout=5) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
