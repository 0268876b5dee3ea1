"""The whole flow over real HTTP against the emulator: success, and every Salesforce error mapped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import sfjwt_vault_file
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfjwt_vault import (
    ConfigurationError,
    Credentials,
    KeyRef,
    LocalSigner,
    SecretBuffer,
    Signer,
    TransientError,
    errors,
    hookimpl,
)
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.exchange import RawResponse, read_token_response
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.conftest import pem_of, write_key
from tests.helpers import FAST_RETRY, credentials_for


def test_token_and_rest_call(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    creds = credentials_for(salesforce_app, host)
    token = creds.get_token()
    org = salesforce_app.emulator
    assert token.instance_url == org.base_url
    assert token.id.endswith(f"/{org.org_id}/{salesforce_app.user.user_id}")
    assert (token.org_id, token.user_id) == (org.org_id, salesforce_app.user.user_id)
    assert token.token_type == "Bearer" and token.scope == "api" and token.issued_at > 0
    assert token.access_token not in repr(token) and token.access_token not in str(token)
    claims = org.last_assertion_claims or {}
    assert (claims["iss"], claims["sub"], claims["aud"]) == (creds.consumer_key, creds.username, org.audience)
    assert isinstance(claims["exp"], int) and 0 < org.last_exp_ahead <= 180  # type: ignore[operator]
    response = httpx.get(
        f"{token.instance_url}/services/data/v65.0/limits", headers={"Authorization": token.authorization_header()}
    )
    assert response.status_code == 200
    assert org.tokens_issued == 1


def test_from_env(salesforce_app: SalesforceApp, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SF_CONSUMER_KEY": salesforce_app.consumer_key,
        "SF_USERNAME": salesforce_app.username,
        "SFJWT_KEY": str(salesforce_app.key_path),
        "SF_TOKEN_URL": salesforce_app.emulator.base_url,
    }
    creds = Credentials.from_env(env)
    assert creds.audience == "https://login.salesforce.com"
    assert creds.token_url == salesforce_app.token_url
    assert creds.get_token().instance_url == salesforce_app.emulator.base_url


def test_from_env_names_every_missing_setting() -> None:
    with pytest.raises(ConfigurationError) as info:
        Credentials.from_env({"SF_USERNAME": "u@x.com"})
    assert "SF_CONSUMER_KEY" in info.value.message and "SFJWT_KEY" in info.value.message
    assert "SF_USERNAME" not in info.value.message


def test_sandbox_shortcut_and_default_token_url() -> None:
    creds = Credentials("3MVG9abc", "u@acme.com.uat", "file:/k.pem", sandbox=True)
    assert creds.audience == "https://test.salesforce.com"
    assert creds.token_url == "https://test.salesforce.com/services/oauth2/token"
    my_domain = Credentials("3MVG9abc", "u@acme.com", "k.pem", token_url="https://acme.my.salesforce.com")
    assert my_domain.audience == "https://login.salesforce.com"
    assert my_domain.token_url == "https://acme.my.salesforce.com/services/oauth2/token"


@pytest.mark.parametrize(
    "url",
    [
        "http://login.salesforce.com",
        "http://10.0.0.5:8080",
        "ftp://login.salesforce.com",
        "https://acme.lightning.force.com",
    ],
)
def test_unsafe_token_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Credentials("3MVG9abc", "u@acme.com", "k.pem", token_url=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"])
def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    assert Credentials("3MVG9abc", "u@acme.com", "k.pem", token_url=url).token_url.startswith("http://")


def expect(creds: Credentials, cls: type[errors.SfjwtError]) -> errors.SfjwtError:
    with pytest.raises(cls) as info:
        creds.get_token()
    return info.value


def test_wrong_consumer_key(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    exc = expect(credentials_for(salesforce_app, host, consumer_key="3MVG9nope"), errors.InvalidClientIdError)
    assert exc.check is errors.Check.CONSUMER_KEY  # type: ignore[attr-defined]
    assert salesforce_app.emulator.exchange_count == 1  # configuration errors are not retried


def test_unknown_username(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    exc = expect(credentials_for(salesforce_app, host, username="someone@else.com"), errors.UserNotApprovedError)
    assert "username" in (exc.hint or "")


def test_user_states(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    cases = [
        (dict(active=False), errors.InactiveUserError),
        (dict(preauthorized=False), errors.UserNotApprovedError),
        (dict(admin_approved=False), errors.InvalidAppAccessError),
        (dict(ip_restricted=True), errors.IpRestrictedError),
    ]
    for i, (flags, cls) in enumerate(cases):
        user = org.add_user(f"user{i}@acme.com", **flags)  # type: ignore[arg-type]
        expect(credentials_for(salesforce_app, host, username=user.username), cls)


def test_wrong_key_is_invalid_assertion(salesforce_app: SalesforceApp, host: PluginHost, tmp_path: object) -> None:
    other = write_key(
        salesforce_app.key_path.parent / "other.pem",
        pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    )
    exc = expect(credentials_for(salesforce_app, host, key=str(other)), errors.InvalidAssertionError)
    assert exc.check is errors.Check.CERTIFICATE  # type: ignore[attr-defined]
    assert salesforce_app.emulator.exchange_count == 1


def test_production_audience_against_a_sandbox(host: PluginHost, tmp_path: object) -> None:
    from sfjwt_vault.testing import make_test_keypair

    key, cert = make_test_keypair()
    with SalesforceEmulator(sandbox=True) as org:
        app = org.add_app(cert)
        org.add_user("u@acme.com.uat")
        path = write_key(__import__("pathlib").Path(str(tmp_path)) / "k.pem", pem_of(key))
        creds = Credentials(app.consumer_key, "u@acme.com.uat", str(path), token_url=org.token_url, plugin_host=host)
        exc = expect(creds, errors.AudienceInvalidError)
        assert "sandbox" in (exc.hint or "")
        ok = Credentials(
            app.consumer_key, "u@acme.com.uat", str(path), sandbox=True, token_url=org.token_url, plugin_host=host
        )
        assert ok.get_token().instance_url == org.base_url


def test_external_client_app_through_login_host(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    eca = org.add_app(salesforce_app.certificate_pem, kind="external")
    exc = expect(credentials_for(salesforce_app, host, consumer_key=eca.consumer_key), errors.AppNotFoundError)
    assert "My Domain" in (exc.hint or "")
    ok = credentials_for(salesforce_app, host, consumer_key=eca.consumer_key, audience=org.my_domain)
    assert ok.get_token()


def test_clock_behind_retries_once_then_reports_the_skew(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    org.clock_skew = 600.0  # the endpoint is 10 minutes ahead: our exp is already past for it
    exc = expect(credentials_for(salesforce_app, host), errors.AssertionExpiredError)
    assert org.exchange_count == 2  # one retry with a fresh assertion, then the hint
    assert "behind the token endpoint" in (exc.hint or "")
    assert "600 s" in (exc.hint or "") or "599 s" in (exc.hint or "") or "601 s" in (exc.hint or "")


def test_login_rate_exceeded_is_surfaced_and_not_hammered(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    org.login_rate_limit = 1
    creds = credentials_for(salesforce_app, host)
    creds.get_token()
    expect(credentials_for(salesforce_app, host), errors.LoginRateExceededError)
    assert org.exchange_count == 2
    rate_limited = credentials_for(salesforce_app, host)
    expect(rate_limited, errors.LoginRateExceededError)
    exchanges = org.exchange_count
    exc = expect(rate_limited, errors.LoginRateExceededError)  # cooldown: refused without a request
    assert org.exchange_count == exchanges
    assert "not retried" in (exc.hint or "")


def test_unsupported_grant_type_over_http(salesforce_app: SalesforceApp) -> None:
    response = httpx.post(salesforce_app.token_url, data={"grant_type": "password", "assertion": "x"})
    with pytest.raises(errors.UnsupportedGrantTypeError):
        read_token_response(RawResponse(response.status_code, response.headers, response.content))


@pytest.mark.parametrize("fault", ["503", "500", "html", "empty", "unknown_error"])
def test_transient_answers_are_retried(salesforce_app: SalesforceApp, host: PluginHost, fault: str) -> None:
    salesforce_app.emulator.inject(fault, times=2)
    assert credentials_for(salesforce_app, host).get_token()
    assert salesforce_app.emulator.exchange_count == 3
    assert salesforce_app.emulator.tokens_issued == 1


def test_retries_are_bounded(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    salesforce_app.emulator.inject("503", times=10)
    exc = expect(credentials_for(salesforce_app, host), TransientError)
    assert exc.exit_code == 5
    assert salesforce_app.emulator.exchange_count == 4  # FAST_RETRY.max_attempts


def test_stalled_endpoint_times_out(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    from sfjwt_vault.retry import NO_RETRY

    salesforce_app.emulator.inject("stall", seconds=2.0)
    exc = expect(credentials_for(salesforce_app, host, timeout=0.3, retry=NO_RETRY), TransientError)
    assert "timed out" in exc.message


def test_redirect_is_not_followed(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    salesforce_app.emulator.inject("redirect")
    exc = expect(credentials_for(salesforce_app, host), ConfigurationError)
    assert "evil.example.com" in exc.message and "not followed" in exc.message
    assert salesforce_app.emulator.exchange_count == 1


def test_huge_answer_is_capped(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    from sfjwt_vault.retry import NO_RETRY

    salesforce_app.emulator.inject("huge")
    exc = expect(credentials_for(salesforce_app, host, retry=NO_RETRY), TransientError)
    assert "exceeds" in exc.message


def test_events_carry_no_secret(salesforce_app: SalesforceApp, key_file: object) -> None:
    import sfjwt_vault_file

    from sfjwt_vault import hookimpl

    seen: list[object] = []

    class Recorder:
        @hookimpl
        def sfjwt_token_issued(self, event: object) -> None:
            seen.append(event)

        @hookimpl
        def sfjwt_exchange_failed(self, event: object) -> None:
            seen.append(event)

    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    host.register(Recorder(), "recorder")
    token = credentials_for(salesforce_app, host).get_token()
    with pytest.raises(errors.InvalidClientIdError):
        credentials_for(salesforce_app, host, consumer_key="3MVG9unknownkey").get_token()
    assert [type(e).__name__ for e in seen] == ["TokenIssued", "ExchangeFailed"]
    assert seen[1].error == "invalid_client_id"  # type: ignore[attr-defined]
    for event in seen:
        assert token.access_token not in repr(event)
        assert salesforce_app.consumer_key not in repr(event)


# -- a backend's transient failure goes through the one retry policy (issue 15 item 2) --------------------------


class FlakyBackend:
    """The file backend under the `flaky` scheme, failing its first `failures` fetches (or signatures,
    as a remote signer under `flaky-remote`) with a retryable TransientError, as a sealed Vault does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.fetches = 0
        self.signatures = 0

    @hookimpl
    def sfjwt_schemes(self) -> list[str]:
        return ["flaky", "flaky-remote"]

    @hookimpl
    def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer | None:
        self.fetches += 1
        if self.fetches <= self.failures:
            raise TransientError("the key store is sealed", hint="unseal it")
        return sfjwt_vault_file.sfjwt_fetch_key(KeyRef.parse(f"file:{ref.path}"))

    @hookimpl
    def sfjwt_remote_signer(self, ref: KeyRef) -> Signer | None:
        if ref.scheme != "flaky-remote":
            return None
        backend = self

        class Remote:
            key_id = None

            def __init__(self) -> None:
                pem = Path(ref.path).read_bytes()
                self._key = serialization.load_pem_private_key(pem, None)

            def sign(self, message: bytes) -> bytes:
                backend.signatures += 1
                if backend.signatures <= backend.failures:
                    raise TransientError("the signing service throttled the request", hint="retry")
                return LocalSigner(self._key).sign(message)  # type: ignore[arg-type]

            def public_key(self) -> Any:
                return self._key.public_key()

        return Remote()  # type: ignore[return-value]


def flaky_host(failures: int) -> tuple[FlakyBackend, PluginHost]:
    backend = FlakyBackend(failures)
    plugin_host = PluginHost(load_entry_points=False)
    plugin_host.register(backend, "flaky")
    return backend, plugin_host


def test_a_key_fetch_failing_once_still_gives_a_token(salesforce_app: SalesforceApp) -> None:
    backend, plugin_host = flaky_host(failures=1)
    creds = credentials_for(salesforce_app, plugin_host, key=f"flaky:{salesforce_app.key_path}")
    assert creds.get_token()
    assert backend.fetches == 2
    assert salesforce_app.emulator.exchange_count == 1


def test_a_key_fetch_failing_once_still_gives_a_token_async(salesforce_app: SalesforceApp) -> None:
    backend, plugin_host = flaky_host(failures=1)
    creds = credentials_for(salesforce_app, plugin_host, key=f"flaky:{salesforce_app.key_path}")
    assert asyncio.run(creds.get_token_async())
    assert backend.fetches == 2


def test_a_remote_signer_failing_once_still_gives_a_token(salesforce_app: SalesforceApp) -> None:
    backend, plugin_host = flaky_host(failures=1)
    creds = credentials_for(salesforce_app, plugin_host, key=f"flaky-remote:{salesforce_app.key_path}")
    assert creds.get_token()
    assert backend.signatures == 2
    assert salesforce_app.emulator.exchange_count == 1


def test_a_key_fetch_that_keeps_failing_stops_at_the_policy(salesforce_app: SalesforceApp) -> None:
    backend, plugin_host = flaky_host(failures=100)
    creds = credentials_for(salesforce_app, plugin_host, key=f"flaky:{salesforce_app.key_path}")
    exc = expect(creds, TransientError)
    assert "sealed" in exc.message
    assert backend.fetches == 4  # FAST_RETRY.max_attempts
    assert salesforce_app.emulator.exchange_count == 0


# -- the login-rate cooldown belongs to the app and user, not to an object (issue 21 item 3) --------------------


def test_new_credentials_per_job_share_the_cooldown(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    """Code that builds a Credentials per job (the same cache, as the process-wide default is) sends
    one refused login, not one per job."""
    org = salesforce_app.emulator
    org.inject("rate", times=100)
    shared = TokenCache()
    for job in range(20):
        exc = expect(credentials_for(salesforce_app, host, cache=shared), errors.LoginRateExceededError)
        if job:
            assert "not retried" in (exc.hint or "")
    assert org.exchange_count == 1


def test_the_default_cache_shares_the_cooldown_across_from_env_objects(
    salesforce_app: SalesforceApp, host: PluginHost
) -> None:
    from sfjwt_vault.cache import default_cache

    env = {
        "SF_CONSUMER_KEY": salesforce_app.consumer_key,
        "SF_USERNAME": salesforce_app.username,
        "SFJWT_KEY": f"file:{salesforce_app.key_path}",
        "SF_TOKEN_URL": salesforce_app.token_url,
    }
    salesforce_app.emulator.inject("rate", times=100)
    try:
        for _ in range(10):
            with pytest.raises(errors.LoginRateExceededError):
                Credentials.from_env(env, plugin_host=host, retry=FAST_RETRY).get_token()
    finally:
        default_cache.clear()
    assert salesforce_app.emulator.exchange_count == 1
