"""The token exchange's transport against hostile servers: deadlines, messages, proxies, TLS trust, sharing.

Behaviour and counts only: a dripping server counts the bytes it got out before the client hung up,
never how long that took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sfjwt_vault import ConfigurationError, Credentials, TransientError
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.retry import NO_RETRY, RetryPolicy
from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair, make_tls_context
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.conftest import pem_of, write_key
from tests.helpers import credentials_for
from tests.hostile import Drip, ProxyRecorder, drip_in_body, drip_in_headers, reply, reset_mid_answer

# A drip of 60 bytes at 0.5 s lasts 30 s; an exchange with a 1 s timeout must hang up after ~2 bytes.
MOST_BYTES_IN_ONE_SECOND = 10


def creds_at(token_url: str, host: PluginHost, key_file: Path, **overrides: object) -> Credentials:
    settings: dict[str, object] = {"token_url": token_url, "cache": TokenCache(), "plugin_host": host}
    settings.update(overrides)
    return Credentials("3MVG9consumer", "user@acme.com", f"file:{key_file}", **settings)  # type: ignore[arg-type]


# -- the deadline is enforced while reading (issue 13 item 6, issue 21 item 2) ------------------------------


@pytest.mark.parametrize("make", [drip_in_headers, drip_in_body], ids=["headers", "body"])
def test_a_dripping_server_cannot_stretch_an_exchange_past_its_timeout(
    make: Callable[[], Drip], host: PluginHost, key_file: Path
) -> None:
    drip = make()
    with drip.server:
        with pytest.raises(TransientError, match="timed out"):
            creds_at(drip.server.token_url, host, key_file, timeout=1.0, retry=NO_RETRY).get_token()
        assert drip.server.connections == 1
        assert drip.sent <= MOST_BYTES_IN_ONE_SECOND  # the client hung up at its timeout
        assert drip.finished == 0


@pytest.mark.parametrize("make", [drip_in_headers, drip_in_body], ids=["headers", "body"])
def test_a_dripping_server_cannot_stretch_an_async_exchange(
    make: Callable[[], Drip], host: PluginHost, key_file: Path
) -> None:
    drip = make()
    with drip.server:
        creds = creds_at(drip.server.token_url, host, key_file, timeout=1.0, retry=NO_RETRY)
        with pytest.raises(TransientError, match="timed out"):
            asyncio.run(creds.get_token_async())
        assert drip.sent <= MOST_BYTES_IN_ONE_SECOND
        assert drip.finished == 0


def test_threads_waiting_on_a_dripping_leader_all_return_by_the_deadline(host: PluginHost, key_file: Path) -> None:
    """8 threads, one exchange: the leader retries within the 3 s deadline, the followers wait no longer."""
    drip = drip_in_body(length=200)  # 100 s of drip
    policy = RetryPolicy(max_attempts=10, base_delay=0.05, max_delay=0.1, deadline=3.0)
    outcomes: list[str] = []
    with drip.server:
        creds = creds_at(drip.server.token_url, host, key_file, timeout=1.0, retry=policy)
        barrier = threading.Barrier(8)

        def ask() -> None:
            barrier.wait()
            try:
                creds.get_token()
                outcomes.append("token")
            except TransientError as exc:
                outcomes.append(exc.message)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert len(outcomes) == 8 and all("timed out" in outcome for outcome in outcomes)
        assert drip.finished == 0  # every thread was back long before the drip could end
        assert drip.server.connections <= 4  # about 3 s / 1 s attempts, never one per thread
        assert drip.sent <= 4 * MOST_BYTES_IN_ONE_SECOND


# -- messages (issue 21 item 6) -----------------------------------------------------------------------------


def test_a_reset_mid_answer_is_not_called_unreachable(host: PluginHost, key_file: Path) -> None:
    with reset_mid_answer() as server:
        with pytest.raises(TransientError) as info:
            creds_at(server.token_url, host, key_file, retry=NO_RETRY).get_token()
    assert "could not reach" not in info.value.message
    assert "broke during the token exchange" in info.value.message
    assert len(server.requests) == 1  # it was reached: the request arrived


def test_valid_json_without_a_token_is_not_called_no_json(host: PluginHost, key_file: Path) -> None:
    with reply(200, json.dumps({"instance_url": "https://x.my.salesforce.com"}).encode()) as server:
        with pytest.raises(TransientError) as info:
            creds_at(server.token_url, host, key_file, retry=NO_RETRY).get_token()
    assert "no JSON" not in info.value.message
    assert "JSON without an access_token" in info.value.message


def test_a_clock_ahead_of_the_endpoint_is_warned_about_on_success(
    salesforce_app: SalesforceApp, host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    salesforce_app.emulator.clock_skew = -600.0  # the endpoint is 10 minutes behind: our clock is ahead
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    token = credentials_for(salesforce_app, host).get_token()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ahead of" in warnings[0] and "NTP" in warnings[0]
    assert token.access_token not in caplog.text


def test_a_clock_in_sync_gets_no_warning(
    salesforce_app: SalesforceApp, host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    credentials_for(salesforce_app, host).get_token()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- proxies (issue 13 item 5) ---------------------------------------------------------------------------------


def test_a_loopback_exchange_never_goes_through_a_proxy(
    salesforce_app: SalesforceApp, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ProxyRecorder(tmp_path / "proxy.log") as proxy:
        proxy.set_as_every_proxy(monkeypatch)
        assert credentials_for(salesforce_app, host).get_token()
        localhost = credentials_for(
            salesforce_app, host, token_url=salesforce_app.token_url.replace("127.0.0.1", "localhost")
        )
        assert localhost.get_token()
    assert proxy.received() == b""
    assert salesforce_app.emulator.exchange_count == 2


def test_a_proxy_sees_only_a_tunnel_and_ciphertext(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY for a real (non-loopback) token host: CONNECT, then TLS. The proxy here routes
    login.salesforce.com to a local TLS emulator and records every byte the client sent it."""
    context, ca_pem = make_tls_context(["login.salesforce.com"])
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem)
    key, cert = make_test_keypair()
    key_file = write_key(tmp_path / "k.pem", pem_of(key))
    with SalesforceEmulator(ssl_context=context) as org:
        app = org.add_app(cert)
        org.add_user("proxied@acme.com")
        with ProxyRecorder(tmp_path / "proxy.log", {"login.salesforce.com": org.port}) as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            creds = Credentials(
                app.consumer_key,
                "proxied@acme.com",
                f"file:{key_file}",
                token_url="https://login.salesforce.com",
                verify=str(ca),
                cache=TokenCache(),
                plugin_host=host,
            )
            token = creds.get_token()
        seen = proxy.received()
    assert org.exchange_count == 1
    assert seen.startswith(b"CONNECT login.salesforce.com:443 HTTP/1.1")
    for secret in (app.consumer_key.encode(), b"assertion", b"grant_type", b"eyJ", token.access_token.encode()):
        assert secret not in seen


# -- TLS trust (issue 13 item 7) -------------------------------------------------------------------------------


@pytest.fixture
def tls_org(tmp_path: Path) -> tuple[SalesforceEmulator, str, Path, Path]:
    context, ca_pem = make_tls_context(["localhost"])
    key, cert = make_test_keypair()
    emulator = SalesforceEmulator(ssl_context=context).start()
    app = emulator.add_app(cert)
    emulator.add_user("user@acme.com")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem)
    yield emulator, app.consumer_key, write_key(tmp_path / "k.pem", pem_of(key)), ca  # type: ignore[misc]
    emulator.stop()


def tls_creds(org: tuple[SalesforceEmulator, str, Path, Path], host: PluginHost, **kw: object) -> Credentials:
    emulator, consumer_key, key, _ = org
    return Credentials(
        consumer_key,
        "user@acme.com",
        f"file:{key}",
        token_url=emulator.token_url,
        retry=NO_RETRY,
        cache=TokenCache(),
        plugin_host=host,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_environment_variables_do_not_widen_trust(
    tls_org: tuple[SalesforceEmulator, str, Path, Path], host: PluginHost, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    """Only verify= / SFJWT_CA_BUNDLE change what the token exchange trusts (docs/security.md)."""
    monkeypatch.setenv(var, str(tls_org[3]))
    with pytest.raises(ConfigurationError, match="TLS certificate verification failed"):
        tls_creds(tls_org, host).get_token()
    assert tls_org[0].exchange_count == 0


def test_sfjwt_ca_bundle_is_the_one_variable_that_adds_a_ca(
    tls_org: tuple[SalesforceEmulator, str, Path, Path], host: PluginHost
) -> None:
    emulator, consumer_key, key, ca = tls_org
    creds = Credentials.from_env(
        {
            "SF_CONSUMER_KEY": consumer_key,
            "SF_USERNAME": "user@acme.com",
            "SFJWT_KEY": f"file:{key}",
            "SF_TOKEN_URL": emulator.token_url,
            "SFJWT_CA_BUNDLE": str(ca),
        },
        cache=TokenCache(),
        plugin_host=host,
    )
    assert creds.get_token()


def test_verification_off_logs_one_warning(
    tls_org: tuple[SalesforceEmulator, str, Path, Path],
    host: PluginHost,
    caplog: pytest.LogCaptureFixture,
    fresh_transports: None,
) -> None:
    caplog.set_level(logging.WARNING, logger="sfjwt_vault")
    for _ in range(3):
        assert tls_creds(tls_org, host, verify=False).get_token()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "verification is OFF" in warnings[0]


# -- shared transports (issue 15 item 4) ------------------------------------------------------------------------


@pytest.fixture
def fresh_transports() -> None:
    from sfjwt_vault import transport

    transport.close_all()


@pytest.fixture
def contexts_created(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """Every SSLContext the process creates from now on."""
    made: list[ssl.SSLContext] = []
    real_new = ssl.SSLContext.__new__

    def counting_new(cls: type[ssl.SSLContext], *args: object, **kwargs: object) -> ssl.SSLContext:
        context = real_new(cls, *args, **kwargs)
        made.append(context)
        return context

    monkeypatch.setattr(ssl.SSLContext, "__new__", counting_new)
    return made


def test_one_tls_context_for_many_credentials(
    tls_org: tuple[SalesforceEmulator, str, Path, Path],
    host: PluginHost,
    fresh_transports: None,
    contexts_created: list[ssl.SSLContext],
) -> None:
    for _ in range(20):
        creds = tls_creds(tls_org, host, verify=str(tls_org[3]))
        assert creds.get_token()  # each has its own cache: 20 exchanges
        creds.close()
    assert tls_org[0].exchange_count == 20
    assert len(contexts_created) == 1


def test_constructing_credentials_builds_no_tls_context(
    tls_org: tuple[SalesforceEmulator, str, Path, Path],
    host: PluginHost,
    fresh_transports: None,
    contexts_created: list[ssl.SSLContext],
) -> None:
    for _ in range(20):
        tls_creds(tls_org, host, verify=str(tls_org[3]))
    assert contexts_created == []


def test_closing_one_credentials_does_not_break_another(
    tls_org: tuple[SalesforceEmulator, str, Path, Path], host: PluginHost
) -> None:
    a = tls_creds(tls_org, host, verify=str(tls_org[3]))
    b = tls_creds(tls_org, host, verify=str(tls_org[3]))
    assert a.get_token() and b.get_token()
    a.close()
    assert b.get_token(force_refresh=True)
    assert a.get_token(force_refresh=True)  # and a closed one still works

    async def both() -> None:
        await a.get_token_async(force_refresh=True)
        await a.aclose()
        await b.get_token_async(force_refresh=True)

    asyncio.run(both())
    assert tls_org[0].exchange_count == 6
