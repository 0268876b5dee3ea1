"""sfjwt_vault.integrations.aiosalesforce.CredentialsAuth with aiosalesforce, unchanged, against the
emulator over TLS. aiosalesforce only accepts My Domain base URLs, so it talks to
https://acme.my.salesforce.com through the emulator's CONNECT proxy (the certificate names that host)."""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiosalesforce
import httpx
import pytest
from aiosalesforce.exceptions import SalesforceError

from sfjwt_vault import Credentials
from sfjwt_vault.integrations.aiosalesforce import CredentialsAuth
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.integrations.conftest import expire

USERS = "SELECT Id, Username FROM User"


def http_client(app: SalesforceApp) -> httpx.AsyncClient:
    """aiosalesforce's HTTP client: through the emulator's proxy, trusting its CA."""
    proxy = app.emulator.base_url.replace("https://", "http://")
    return httpx.AsyncClient(proxy=proxy, verify=ssl.create_default_context(cafile=str(app.ca_file)))


def client(http: httpx.AsyncClient, app: SalesforceApp, auth: CredentialsAuth) -> aiosalesforce.Salesforce:
    return aiosalesforce.Salesforce(http, base_url=app.emulator.my_domain, auth=auth, version="65.0")


async def warmed_up(http: httpx.AsyncClient, app: SalesforceApp, creds: Credentials) -> aiosalesforce.Salesforce:
    """A client on a fresh auth that has made its first call (and so holds a session)."""
    sf = client(http, app, CredentialsAuth(creds))
    await sf.get_limits()
    return sf


async def users(sf: aiosalesforce.Salesforce) -> list[str]:
    return [record["Username"] async for record in sf.query(USERS)]


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_query_before_and_after_expiry(app: SalesforceApp, creds: Credentials) -> None:
    async def scenario() -> None:
        async with http_client(app) as http:
            em = app.emulator
            sf = client(http, app, CredentialsAuth(creds))
            assert await users(sf) == [app.username]
            first = creds.get_token()
            expire(em)
            calls = em.rest_calls
            assert await users(sf) == [app.username]
            assert em.tokens_issued == 2 and em.rest_calls - calls == 2  # the 401, then one retry
            assert creds.get_token().access_token != first.access_token
            calls = em.rest_calls
            assert (await sf.get_limits())["DailyApiRequests"]["Max"] == 15000
            assert em.rest_calls - calls == 1

    run(scenario())


def test_no_second_login_when_a_token_is_cached(app: SalesforceApp, creds: Credentials) -> None:
    creds.get_token()

    async def scenario() -> None:
        async with http_client(app) as http:
            assert await users(client(http, app, CredentialsAuth(creds))) == [app.username]

    run(scenario())
    assert app.emulator.tokens_issued == 1


def test_a_revoked_session_is_replaced_and_crud_reads_work(app: SalesforceApp, creds: Credentials) -> None:
    async def scenario() -> None:
        async with http_client(app) as http:
            em = app.emulator
            sf = await warmed_up(http, app, creds)
            assert em.revoke(creds.get_token().access_token)
            record = await sf.sobject.get("User", app.user.user_id)
            assert record["Username"] == app.username and em.tokens_issued == 2
            em.expire_all_tokens()
            with pytest.raises(SalesforceError, match="METHOD_NOT_ALLOWED"):  # no writable records here
                await sf.sobject.create("User", {"LastName": "New"})
            assert em.tokens_issued == 3  # the write was retried with a new session, past the session check

    run(scenario())


def test_a_policy_denied_session_is_not_reminted(
    app: SalesforceApp, creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with http_client(app) as http:
            em = app.emulator
            sf = await warmed_up(http, app, creds)
            em.set_rest_block("not_rest")
            calls = em.rest_calls
            with pytest.raises(SalesforceError, match="not valid for use with the REST API"):
                await sf.get_limits()
            # aiosalesforce retries any 401 once; the auth hands back the same token: no login spent
            assert em.rest_calls - calls == 2 and em.tokens_issued == 1
            em.set_rest_block(None)
            assert (await sf.get_limits())["DailyApiRequests"]["Max"] == 15000  # the session was never dead
            assert em.tokens_issued == 1

    run(scenario())
    assert creds.get_token().access_token not in caplog.text


def test_tasks_hitting_expiry_together_cause_one_remint(app: SalesforceApp, creds: Credentials) -> None:
    async def scenario() -> None:
        async with http_client(app) as http:
            em = app.emulator
            sf = await warmed_up(http, app, creds)
            expire(em)
            answers = await asyncio.gather(*[sf.get_limits() for _ in range(32)])
            assert len(answers) == 32 and em.tokens_issued == 2

    run(scenario())


def test_a_newer_token_of_the_same_credentials_is_picked_up(app: SalesforceApp, creds: Credentials) -> None:
    """`expired` follows the credentials: a token another caller minted (or a proactive refresh) is used
    on the next request, without a 401 first."""

    async def scenario() -> None:
        async with http_client(app) as http:
            em = app.emulator
            sf = await warmed_up(http, app, creds)
            creds.get_token(force_refresh=True)
            calls = em.rest_calls
            await sf.get_limits()
            assert em.rest_calls - calls == 1 and em.tokens_issued == 2

    run(scenario())


def test_one_auth_shared_by_two_clients(app: SalesforceApp, creds: Credentials) -> None:
    async def scenario() -> None:
        async with http_client(app) as first_http, http_client(app) as second_http:
            em = app.emulator
            auth = CredentialsAuth(creds)
            first, second = client(first_http, app, auth), client(second_http, app, auth)
            await first.get_limits()
            await second.get_limits()
            expire(em)
            await second.get_limits()
            await first.get_limits()
            assert em.tokens_issued == 2

    run(scenario())
