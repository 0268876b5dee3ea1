"""sfjwt_vault.integrations.simple_salesforce.Salesforce against the emulator over TLS: one login through
the credentials, one re-mint and one retry when the session expires or is revoked mid-test, none for a
policy-denied session, one for many threads at once; queries, SFType CRUD, restful, limits, Bulk 2.0."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import SalesforceExpiredSession
from simple_salesforce.exceptions import SalesforceError

from sfjwt_vault import ConfigurationError, Credentials
from sfjwt_vault.integrations.simple_salesforce import Salesforce
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.integrations.conftest import expire

USERS = "SELECT Id, Username FROM User"


@pytest.fixture
def sf(app: SalesforceApp, creds: Credentials) -> Salesforce:
    session = requests.Session()
    session.verify = str(app.ca_file)
    return Salesforce(credentials=creds, version="65.0", session=session)


def test_logs_in_through_the_credentials_without_a_second_login(app: SalesforceApp, creds: Credentials) -> None:
    token = creds.get_token()
    session = requests.Session()
    session.verify = str(app.ca_file)
    sf = Salesforce(credentials=creds, version="65.0", session=session)
    assert app.emulator.tokens_issued == 1  # the cached token, no login of its own
    assert sf.session_id == token.access_token and sf.sf_instance == app.emulator.base_url.removeprefix("https://")
    assert sf.query(USERS)["records"][0]["Username"] == app.username


def test_query_after_expiry_remints_once_and_retries_once(
    sf: Salesforce, app: SalesforceApp, caplog: pytest.LogCaptureFixture
) -> None:
    em = app.emulator
    caplog.set_level(logging.DEBUG)  # every logger: the token must not appear in any of them
    first = sf.session_id
    assert sf.query(USERS)["totalSize"] == 1
    expire(em)
    calls = em.rest_calls
    assert sf.query(USERS)["totalSize"] == 1
    assert em.tokens_issued == 2  # one re-mint
    assert em.rest_calls - calls == 2  # the 401, then one retry
    assert sf.session_id != first and sf.headers["Authorization"] == f"Bearer {sf.session_id}"
    calls = em.rest_calls
    assert sf.query(USERS)["totalSize"] == 1  # the new session is used from now on
    assert em.rest_calls - calls == 1 and em.tokens_issued == 2
    assert first not in caplog.text and sf.session_id not in caplog.text


def test_a_revoked_session_is_replaced(sf: Salesforce, app: SalesforceApp) -> None:
    em = app.emulator
    assert em.revoke(sf.session_id)
    assert sf.query_all(USERS)["totalSize"] == 1
    assert em.tokens_issued == 2


def test_a_policy_denied_session_is_not_retried(sf: Salesforce, app: SalesforceApp) -> None:
    em = app.emulator
    em.set_rest_block("not_rest")
    calls = em.rest_calls
    with pytest.raises(SalesforceExpiredSession) as refused:
        sf.query(USERS)
    assert "not valid for use with the REST API" in str(refused.value.content)
    assert em.rest_calls - calls == 1 and em.tokens_issued == 1  # no re-mint, no retry


def test_a_session_still_refused_after_the_retry_is_raised_not_looped(sf: Salesforce, app: SalesforceApp) -> None:
    em = app.emulator
    em.session_lifetime = 0.0  # every new session is born expired
    expire(em)
    calls = em.rest_calls
    with pytest.raises(SalesforceExpiredSession):
        sf.query(USERS)
    assert em.rest_calls - calls == 2 and em.tokens_issued == 2  # one re-mint, one retry, then the error


def test_threads_hitting_expiry_together_cause_one_remint(sf: Salesforce, app: SalesforceApp) -> None:
    em = app.emulator
    sf.limits()
    expire(em)
    threads = 16
    barrier = threading.Barrier(threads)
    results: list[int] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            results.append(sf.query(USERS)["totalSize"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors and results == [1] * threads
    assert em.tokens_issued == 2


CALLS: dict[str, Callable[[Salesforce, SalesforceApp], Any]] = {
    "query": lambda sf, app: sf.query(USERS)["totalSize"],
    "query_all": lambda sf, app: sf.query_all(USERS)["totalSize"],
    "restful": lambda sf, app: sf.restful("limits")["DailyApiRequests"]["Max"],
    "limits": lambda sf, app: sf.limits()["DailyApiRequests"]["Max"],
    "describe": lambda sf, app: len(sf.describe()["sobjects"]),
    "sobject get": lambda sf, app: sf.User.get(app.user.user_id)["Username"],
    "is_sandbox": lambda sf, app: sf.is_sandbox(),
}


@pytest.mark.parametrize("name", CALLS)
def test_each_call_survives_an_expired_session(sf: Salesforce, app: SalesforceApp, name: str) -> None:
    em = app.emulator
    before = CALLS[name](sf, app)
    expire(em)
    assert CALLS[name](sf, app) == before
    assert em.tokens_issued == 2


WRITES: dict[str, Callable[[Salesforce, SalesforceApp], Any]] = {
    "create": lambda sf, app: sf.User.create({"LastName": "New"}),
    "update": lambda sf, app: sf.User.update(app.user.user_id, {"LastName": "Renamed"}),
    "upsert": lambda sf, app: sf.User.upsert(app.user.user_id, {"LastName": "Renamed"}),
    "delete": lambda sf, app: sf.User.delete(app.user.user_id),
    "bulk2 query": lambda sf, app: list(sf.bulk2.User.query(USERS)),
}


@pytest.mark.parametrize("name", WRITES)
def test_writes_and_bulk2_are_retried_with_the_new_session(sf: Salesforce, app: SalesforceApp, name: str) -> None:
    """The emulator holds no writable records and no Bulk API: past the session check a write answers
    405 METHOD_NOT_ALLOWED. So a 405 after expiry shows the one retry reached the resource with the new
    session (an expired one is answered 401 before the method is looked at)."""
    em = app.emulator
    expire(em)
    calls = em.rest_calls
    with pytest.raises(SalesforceError) as refused:
        WRITES[name](sf, app)
    assert refused.value.status == 405 and "METHOD_NOT_ALLOWED" in str(refused.value.content)
    assert em.tokens_issued == 2 and em.rest_calls - calls == 2


def test_login_arguments_are_refused(creds: Credentials) -> None:
    with pytest.raises(ConfigurationError, match="drop privatekey_file, username"):
        Salesforce(credentials=creds, username="someone@acme.com", privatekey_file="k.pem")


def test_the_token_goes_only_to_the_instance(sf: Salesforce, app: SalesforceApp) -> None:
    """The session object simple-salesforce is handed adds the credentials' token only to requests for
    the instance: a request elsewhere goes out with exactly the headers it was given."""
    seen: list[str] = []

    class Recorder(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            seen.append(request.headers.get("Authorization", ""))
            response = requests.Response()
            response.status_code, response.request = 204, request
            return response

    sf.session.mount("https://elsewhere.example/", Recorder())
    sf.session.request("GET", "https://elsewhere.example/x", headers={"Authorization": "Bearer not-ours"})
    assert seen == ["Bearer not-ours"]
