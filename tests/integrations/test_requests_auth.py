"""sfjwt_vault.integrations.requests.CredentialsAuth against the emulator over TLS: the token on every
request, one re-mint and one retry on an expired or revoked session, none on the REST-policy 401 or 403
REQUEST_LIMIT_EXCEEDED, one re-mint for many threads at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import requests

from sfjwt_vault import Credentials
from sfjwt_vault.integrations.requests import CredentialsAuth
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.integrations.conftest import expire


@pytest.fixture
def session(app: SalesforceApp, creds: Credentials) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.verify = str(app.ca_file)
        session.auth = CredentialsAuth(creds)
        yield session


def limits_url(app: SalesforceApp) -> str:
    return f"{app.emulator.base_url}/services/data/v65.0/limits"


def test_expiry_remints_once_and_retries_once(
    session: requests.Session, app: SalesforceApp, creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    em = app.emulator
    caplog.set_level(logging.DEBUG)
    assert session.get(limits_url(app)).status_code == 200
    first = creds.get_token()
    expire(em)
    calls = em.rest_calls
    response = session.get(limits_url(app))
    assert response.status_code == 200
    assert em.tokens_issued == 2 and em.rest_calls - calls == 2
    assert [r.status_code for r in response.history] == [401]  # the expired answer, kept
    assert response.request.headers["Authorization"] == creds.get_token().authorization_header()
    assert creds.get_token().access_token != first.access_token
    assert first.access_token not in caplog.text and creds.get_token().access_token not in caplog.text


def test_a_revoked_session_is_replaced_for_a_post_with_a_body(session: requests.Session, app: SalesforceApp) -> None:
    em = app.emulator
    session.get(limits_url(app))
    assert em.live_sessions() == 1
    em.expire_all_tokens()
    response = session.post(f"{em.base_url}/services/data/v65.0/sobjects/User", json={"LastName": "New"})
    assert response.status_code == 405  # past the session check with the new token: the emulator holds no writes
    assert em.tokens_issued == 2 and response.request.body == b'{"LastName": "New"}'


@pytest.mark.parametrize(("block", "status"), [("not_rest", 401), ("limit", 403)])
def test_policy_and_limit_answers_are_not_retried(
    session: requests.Session, app: SalesforceApp, block: str, status: int
) -> None:
    em = app.emulator
    session.get(limits_url(app))
    em.set_rest_block(block)
    calls = em.rest_calls
    assert session.get(limits_url(app)).status_code == status
    assert em.rest_calls - calls == 1 and em.tokens_issued == 1


def test_still_refused_after_the_retry_is_returned_not_looped(session: requests.Session, app: SalesforceApp) -> None:
    em = app.emulator
    em.session_lifetime = 0.0
    calls = em.rest_calls
    assert session.get(limits_url(app)).status_code == 401
    assert em.rest_calls - calls == 2 and em.tokens_issued == 2


def test_a_stream_body_is_not_sent_twice(session: requests.Session, app: SalesforceApp) -> None:
    em = app.emulator
    session.get(limits_url(app))
    expire(em)
    response = session.post(f"{em.base_url}/services/data/v65.0/sobjects/User", data=iter([b'{"LastName":', b'"x"}']))
    assert response.status_code == 401 and em.tokens_issued == 1  # consumed by the first try: handed back


def test_threads_hitting_expiry_together_cause_one_remint(session: requests.Session, app: SalesforceApp) -> None:
    em = app.emulator
    session.get(limits_url(app))
    expire(em)
    threads = 16
    barrier = threading.Barrier(threads)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(session.get(limits_url(app)).status_code)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert statuses == [200] * threads and em.tokens_issued == 2
