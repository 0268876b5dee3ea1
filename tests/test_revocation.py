"""Revocation from Python, sync and async: the session dies at the emulator and is gone from the
in-process cache (remembered as dead, never adopted again); Salesforce's answers map to typed errors; the
request follows the exchange's wire rules (its host, TLS trust, proxy rule, deadline, retries)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from sfjwt_vault import ConfigurationError, Credentials, TransientError
from sfjwt_vault.endpoints import revoke_url
from sfjwt_vault.errors import InvalidTokenError, RevocationError, UnsupportedTokenTypeError
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.retry import NO_RETRY
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.helpers import FAST_RETRY, credentials_for
from tests.hostile import ProxyRecorder, drip_in_body, reply
from tests.test_cli import app_env, sfjwt

REVOKE_PATH = b"POST /services/oauth2/revoke "


def rest_status(sf: SalesforceApp, access_token: str) -> int:
    url = f"{sf.emulator.base_url}/services/data/v65.0/limits"
    return httpx.get(url, headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_revoke_ends_the_current_session_everywhere(
    salesforce_app: SalesforceApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    em = salesforce_app.emulator
    creds = credentials_for(salesforce_app)
    token = creds.get_token()
    assert creds.revoke() is True
    assert em.revoke_requests == 1 and em.live_sessions() == 0
    assert rest_status(salesforce_app, token.access_token) == 401  # dead at Salesforce
    assert creds.cache.peek(creds.cache_key) is None and creds.cache.is_dead(creds.cache_key, token)
    fresh = creds.get_token()  # the next call mints: never the revoked token again
    assert fresh.access_token != token.access_token and em.tokens_issued == 2
    assert token.access_token not in caplog.text and fresh.access_token not in caplog.text


def test_arevoke_is_the_async_twin(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    creds = credentials_for(salesforce_app)

    async def scenario() -> tuple[str, bool, bool]:
        token = await creds.get_token_async()
        return token.access_token, await creds.arevoke(), await creds.arevoke()

    revoked_token, first, second = asyncio.run(scenario())
    assert (first, second) == (True, False)  # the second call finds nothing cached: no request
    assert em.revoke_requests == 1 and rest_status(salesforce_app, revoked_token) == 401


def test_a_given_token_string_is_revoked_and_remembered_as_dead(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    minted = credentials_for(salesforce_app).get_token()
    creds = credentials_for(salesforce_app)  # another process's view: it never cached that token
    assert creds.revoke(f"  {minted.access_token}\n") is True
    assert em.live_sessions() == 0 and creds.cache.is_dead(creds.cache_key, minted)


def test_nothing_cached_is_nothing_to_revoke(salesforce_app: SalesforceApp) -> None:
    assert credentials_for(salesforce_app).revoke() is False
    assert salesforce_app.emulator.revoke_requests == 0


def test_an_already_dead_session_is_not_an_error(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    creds = credentials_for(salesforce_app)
    token = creds.get_token()
    em.revoke(token.access_token)  # revoked elsewhere (or expired)
    assert creds.revoke() is False  # Salesforce: invalid_token; the caches drop it all the same
    assert em.revoke_requests == 1 and creds.cache.peek(creds.cache_key) is None
    assert creds.get_token().access_token != token.access_token


def test_an_empty_token_is_refused_before_any_request(salesforce_app: SalesforceApp) -> None:
    with pytest.raises(ConfigurationError, match="empty or contains whitespace"):
        credentials_for(salesforce_app).revoke(" \n")
    assert salesforce_app.emulator.revoke_requests == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"error": "unsupported_token_type", "error_description": "unsupported token type"}, UnsupportedTokenTypeError),
        ({"error": "invalid_request", "error_description": "bad"}, RevocationError),
    ],
)
def test_refusals_are_typed_errors(host: PluginHost, key_file: Path, body: dict[str, str], error: type) -> None:
    with reply(400, json.dumps(body).encode()) as server:
        creds = Credentials("3MVG9k", "u@acme.com", f"file:{key_file}", token_url=server.token_url, plugin_host=host)
        with pytest.raises(error) as refused:
            creds.revoke("00Dx!token")
    assert type(refused.value) is error and refused.value.exit_code == 4
    assert refused.value.error == body["error"] and refused.value.hint
    assert "00Dx!token" not in str(refused.value)
    assert server.requests[0].startswith(REVOKE_PATH) and server.requests[0].endswith(b"token=00Dx%21token")


def test_a_server_echoing_the_token_does_not_get_it_into_the_error(
    host: PluginHost, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "00D5g000004abcdEAA!" + "AQ4AQFk9Yl3rJp0mZqW8sT2uV6xB1nC7dE3fG5hJ" * 2
    body = json.dumps({"error": "invalid_request", "error_description": f"bad token {token}"}).encode()
    with reply(400, body) as server:
        creds = Credentials("3MVG9k", "u@acme.com", f"file:{key_file}", token_url=server.token_url, plugin_host=host)
        with pytest.raises(RevocationError) as refused:
            creds.revoke(token)
    assert token.encode() in server.requests[0].replace(b"%21", b"!")  # it was sent, and echoed back
    shown = f"{refused.value}{refused.value!r}{refused.value.description}{caplog.text}"
    assert token not in shown and token.split("!")[1][:40] not in shown


def test_invalid_token_maps_to_its_type() -> None:
    from sfjwt_vault.exchange import RawResponse, read_revoke_response

    body = json.dumps({"error": "invalid_token", "error_description": "invalid token"}).encode()
    with pytest.raises(InvalidTokenError):
        read_revoke_response(RawResponse(400, httpx.Headers(), body))


def test_a_transient_failure_is_retried(host: PluginHost, key_file: Path) -> None:
    with reply(503, b"<html>down</html>") as server:
        creds = Credentials(
            "3MVG9k", "u@acme.com", f"file:{key_file}", token_url=server.token_url, plugin_host=host, retry=FAST_RETRY
        )
        with pytest.raises(TransientError, match="revocation endpoint answered HTTP 503 with HTML"):
            creds.revoke("00Dx!token")
    assert len(server.requests) == FAST_RETRY.max_attempts


def test_a_redirect_is_not_followed(host: PluginHost, key_file: Path) -> None:
    with reply(302, b"", {"Location": "https://elsewhere.example/revoke"}) as server:
        creds = Credentials("3MVG9k", "u@acme.com", f"file:{key_file}", token_url=server.token_url, plugin_host=host)
        with pytest.raises(ConfigurationError, match="not followed, so the token was not sent there"):
            creds.revoke("00Dx!token")
    assert len(server.requests) == 1


def test_a_dripping_server_cannot_stretch_a_revocation(host: PluginHost, key_file: Path) -> None:
    drip = drip_in_body()
    with drip.server:
        creds = Credentials(
            "3MVG9k", "u@acme.com", f"file:{key_file}", token_url=drip.server.token_url, plugin_host=host,
            timeout=1.0, retry=NO_RETRY,
        )  # fmt: skip
        with pytest.raises(TransientError, match=r"timed out talking to 127\.0\.0\.1"):
            creds.revoke("00Dx!token")
        assert drip.sent <= 10 and drip.finished == 0  # cut at the timeout, as the exchange is


def test_it_goes_to_the_token_urls_host_with_the_exchange_s_tls_trust(
    salesforce_tls_app: SalesforceApp,
) -> None:
    em = salesforce_tls_app.emulator
    assert revoke_url("https://acme.my.salesforce.com/services/oauth2/token") == (
        "https://acme.my.salesforce.com/services/oauth2/revoke"
    )
    assert revoke_url("https://acme.my.site.com/partners/services/oauth2/token") == (
        "https://acme.my.site.com/partners/services/oauth2/revoke"
    )
    trusted = credentials_for(salesforce_tls_app, verify=str(salesforce_tls_app.ca_file))
    token = trusted.get_token()
    untrusted = credentials_for(salesforce_tls_app)  # certifi's CAs only, as for the exchange
    with pytest.raises(ConfigurationError, match="TLS certificate verification failed"):
        untrusted.revoke(token)
    assert em.revoke_requests == 0 and trusted.revoke() is True and em.revoke_requests == 1


def test_a_loopback_revocation_never_goes_through_a_proxy(
    salesforce_app: SalesforceApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ProxyRecorder(tmp_path / "proxy.log") as proxy:
        proxy.set_as_every_proxy(monkeypatch)
        creds = credentials_for(salesforce_app)
        creds.get_token()
        assert creds.revoke() is True
        assert proxy.received() == b""


# -- sfjwt revoke (the shared-cache case is in tests/fleet/test_revocation.py) --------------------------------


def test_cli_revokes_a_token_from_stdin_or_the_environment(salesforce_app: SalesforceApp) -> None:
    em = salesforce_app.emulator
    env = app_env(salesforce_app)
    first = json.loads(sfjwt("token", env=env).stdout)["access_token"]
    done = sfjwt("--debug", "revoke", "--token-from", "stdin", env=env, input=first + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"revoked the session of {salesforce_app.username} at 127.0.0.1")
    assert first not in done.stdout + done.stderr and rest_status(salesforce_app, first) == 401
    second = json.loads(sfjwt("token", env=env).stdout)["access_token"]
    done = sfjwt("revoke", "--token-from", "env", env={**env, "SF_ACCESS_TOKEN": second})
    assert done.returncode == 0 and done.stdout.startswith("revoked"), done.stderr
    assert rest_status(salesforce_app, second) == 401
    done = sfjwt("revoke", "--token-from", "env", env={**env, "SF_ACCESS_TOKEN": second})
    assert done.returncode == 0 and done.stdout.startswith("no live session")
    assert em.revoke_requests == 3 and em.tokens_issued == 2  # revoking never logs in


def test_cli_needs_a_token_or_a_shared_cache(salesforce_app: SalesforceApp) -> None:
    done = sfjwt("revoke", env=app_env(salesforce_app))
    assert done.returncode == 2 and done.stderr.startswith("error: nothing to revoke")
    assert "--token-from stdin" in done.stderr and "SFJWT_TOKEN_CACHE" in done.stderr
    done = sfjwt("revoke", "--token-from", "env", env=app_env(salesforce_app))
    assert done.returncode == 2 and "no access token in SF_ACCESS_TOKEN" in done.stderr
    assert salesforce_app.emulator.revoke_requests == 0
