"""The fleet under faults: dying sessions, a hung store, slow exchanges, a refused login, a sealed Vault.

Real servers throughout (the emulator, a one-request-at-a-time moto, OpenBao, hostile sockets); counts
and behaviour, never durations. Each store-specific test runs on both stores.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sfjwt_vault_file
import sfjwt_vault_hashicorp

from sfjwt_vault import errors, shared_cache
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.retry import RetryPolicy
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.fleet.test_fleet import fleet_settings
from tests.fleet.worker import run_fleet
from tests.helpers import credentials_for
from tests.hostile import hung
from tests.servers import DevServer, find_bao
from tests.vault.conftest import throwaway_bao  # noqa: F401 - fixture reused

SESSION_SECONDS = 3.0


@pytest.fixture
def short_sessions(salesforce_app: SalesforceApp) -> Iterator[list[int]]:
    """Every session dies every 3 s (as with a 3-second org session timeout under load); yields the
    count of expiries so far."""
    expiries = [0]
    stop = threading.Event()

    def expire() -> None:
        while not stop.wait(SESSION_SECONDS):
            salesforce_app.emulator.expire_all_tokens()
            expiries[0] += 1

    thread = threading.Thread(target=expire, daemon=True)
    thread.start()
    yield expiries
    stop.set()
    thread.join()


# -- no 401 reaches a caller (issue 21 item 1) ---------------------------------------------------------------


@pytest.mark.parametrize("store", ["local", "dynamodb", "vault"])
def test_dying_sessions_never_surface_a_401(
    store: str, salesforce_app: SalesforceApp, short_sessions: list[int], request: pytest.FixtureRequest
) -> None:
    """4 processes x 8 threads calling the REST API through httpx.Client(auth=creds) for ~9 s while every
    session dies every 3 s: every 401 is absorbed by one re-mint and one retry with a new token.

    Before the fix the Vault run surfaced 401s; the DynamoDB run on the one-request-at-a-time moto
    rarely did (its serial order closes the race), so the order-independent check is the next test."""
    cache = "local" if store == "local" else str(request.getfixturevalue(f"{store}_cache"))
    settings = {
        **fleet_settings(salesforce_app, cache),
        "threads": 8,
        "base_url": salesforce_app.emulator.base_url,
        "stop_at": time.time() + 4.0 + 3 * SESSION_SECONDS,  # the workers start 4 s from now
        "max_calls": 300,
        "pause": 0.02,
    }
    reports, _ = run_fleet(settings, 4, module="tests.fleet.rest_worker")
    statuses: dict[str, int] = {}
    for report in reports:
        for status, count in report["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    assert [r["errors"] for r in reports] == [[]] * 4
    assert short_sessions[0] >= 2  # sessions did die while the fleet worked
    assert statuses.get("200", 0) > 100
    assert set(statuses) == {"200"}  # not one 401 surfaced


class LaggingStore:
    """A real store whose invalidations have not landed yet (they are dropped): what another thread or
    instance reads between a 401 and the store's conditional delete."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.name = store.name
        self.lease_ttl = store.lease_ttl

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def invalidate(self, key: Any, token: Any) -> bool:
        return False


def test_a_token_seen_dying_is_never_adopted_from_a_store_that_still_holds_it(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    org = salesforce_app.emulator
    store = LaggingStore(fleet_host.shared_cache(cache_url))
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=store)
    with creds.client() as client:
        assert client.get("/services/data/v65.0/limits").status_code == 200
        dead = creds.get_token()
        org.expire_all_tokens()
        assert client.get("/services/data/v65.0/limits").status_code == 200  # retried with a new token
        stored = store.get(creds.cache_key)
        assert stored is not None and stored.token is not None
        fresh = creds.get_token()
        assert fresh.access_token != dead.access_token
        creds.invalidate(fresh)  # the store still holds `fresh`, and still holds nothing newer
        assert creds.get_token().access_token not in (dead.access_token, fresh.access_token)
    assert org.exchange_count == 3


# -- a hung store costs one short timeout, then is skipped (issue 21 item 4) -------------------------------------


def point_store_at(cache_url: str, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the store's calls to `url` (for DynamoDB only the table's: KMS still answers), with the SDK
    client for it built now, so the timed store call is the call itself."""
    if cache_url.startswith("dynamodb:"):
        from sfjwt_vault_aws.clients import get_client

        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        get_client("dynamodb", "us-east-1")
    else:
        monkeypatch.setenv("VAULT_ADDR", url)


def test_a_hung_store_costs_one_timeout_then_is_skipped_until_probed_again(
    cache_url: str,
    salesforce_app: SalesforceApp,
    fleet_host: PluginHost,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(shared_cache, "BREAKER_FIRST", 1.0)
    caplog.set_level(logging.INFO, logger="sfjwt_vault")
    with hung() as server:
        point_store_at(cache_url, server.url, monkeypatch)
        creds = credentials_for(salesforce_app, fleet_host, shared_cache=f"{cache_url}&timeout=0.5")

        token = creds.get_token()  # one store call hangs: cut at 0.5 s, then minted locally
        asked = server.connections
        assert asked >= 1
        creds.invalidate(token)  # the breaker is open: the store is not even asked
        again = creds.get_token()
        creds.get_token(force_refresh=True)
        assert server.connections == asked
        assert salesforce_app.emulator.exchange_count == 3
        assert again.access_token != token.access_token

        time.sleep(1.2)  # past the breaker's first period: the next miss probes the store once more
        creds.get_token(force_refresh=True)
        assert server.connections > asked
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "did not answer within 0.5 s" in warnings[0]


def test_invalidate_never_waits_for_the_store(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that hangs after the token was adopted: invalidate() returns at once (the store call runs in
    the background), so the 401 path of a request never waits for the store."""
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=f"{cache_url}&timeout=0.5")
    token = creds.get_token()
    with hung() as server:
        point_store_at(cache_url, server.url, monkeypatch)
        done = threading.Event()
        thread = threading.Thread(target=lambda: (creds.invalidate(token), done.set()))
        thread.start()
        for _ in range(100):  # the background call reaches the hung store...
            if server.connections:
                break
            time.sleep(0.05)
        assert server.connections >= 1
        assert done.wait(5)  # ...while invalidate() has long returned (the hung call never answers)
        thread.join()


# -- a slow exchange is not taken over (issue 21 item 5) ----------------------------------------------------------


def test_a_slow_exchange_with_a_short_lease_costs_at_most_one_extra_login(
    cache_url: str, salesforce_app: SalesforceApp
) -> None:
    """4 processes, lease=3 s, every exchange stalled 5 s: the lease holder renews its lease while it mints,
    so the others wait for its token instead of taking the lease over one after another."""
    salesforce_app.emulator.inject("stall", times=4, seconds=5.0)
    settings = {**fleet_settings(salesforce_app, f"{cache_url}&lease=3"), "threads": 2}
    reports, _ = run_fleet(settings, 4)
    assert [r["errors"] for r in reports] == [[]] * 4
    assert sum(len(r["fingerprints"]) for r in reports) == 8
    assert salesforce_app.emulator.exchange_count <= 2


def test_waiting_for_a_lease_ends_at_the_retry_deadline(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    """Another instance holds the lease and keeps renewing it without ever publishing (alive, but its
    exchange hangs): a waiter gives up at its own retry deadline with a TransientError, no login."""
    store = fleet_host.shared_cache(cache_url)
    creds = credentials_for(
        salesforce_app,
        fleet_host,
        shared_cache=cache_url,
        retry=RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.1, deadline=2.0),
    )
    lease = store.try_acquire(creds.cache_key, 1.0)
    assert lease is not None
    stop = threading.Event()

    def holder() -> None:
        while not stop.wait(0.3):
            store.renew(creds.cache_key, lease, 1.0)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        with pytest.raises(errors.TransientError, match="held the mint lease"):
            creds.get_token()
    finally:
        stop.set()
        thread.join()
    assert salesforce_app.emulator.exchange_count == 0


# -- the fleet backs off together after `login rate exceeded` (issue 21 item 3) --------------------------------------


def test_a_refused_login_cools_the_whole_fleet_down(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    org = salesforce_app.emulator
    org.inject("rate", times=100)
    with pytest.raises(errors.LoginRateExceededError):
        credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    assert org.exchange_count == 1
    for _ in range(3):  # other instances: their own plugin host (store coordination) and their own cache
        instance = PluginHost(load_entry_points=False)
        for name, plugin in fleet_host.pm.list_name_plugin():
            instance.register(plugin, name)
        with pytest.raises(errors.LoginRateExceededError) as info:
            credentials_for(salesforce_app, instance, shared_cache=cache_url, cache=TokenCache()).get_token()
        assert "another instance" in (info.value.hint or "")
    assert org.exchange_count == 1


# -- a sealed Vault is a transient key-fetch failure: retried, then a token (issue 15 item 2) -----------------------


def test_a_key_fetch_from_a_sealed_then_unsealed_vault_gives_a_token(
    throwaway_bao: DevServer,  # noqa: F811 - the imported fixture
    salesforce_app: SalesforceApp,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"VAULT_ADDR": throwaway_bao.addr, "VAULT_TOKEN": throwaway_bao.token, "HOME": str(throwaway_bao.home)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = f"sfjwt-{uuid.uuid4().hex[:8]}"
    bao = [find_bao()]
    subprocess.run([*bao, "kv", "put", f"secret/{path}", f"private_key={salesforce_app.private_key_pem.decode()}"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    assert throwaway_bao.home is not None
    unseal_key = re.search(r"Unseal Key: (\S+)", (throwaway_bao.home / "bao.log").read_text())
    assert unseal_key is not None
    subprocess.run([*bao, "operator", "seal"], env=env, check=True, capture_output=True)

    class UnsealOnRetry(logging.Handler):
        """Unseals Vault when the flow announces its first retry: the failure was seen, then it recovers."""

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "retrying" in message and not self.seen:
                self.seen.append(message)
                subprocess.run([*bao, "operator", "unseal", unseal_key[1]], env=env, check=True, capture_output=True)

    handler = UnsealOnRetry()
    logging.getLogger("sfjwt_vault").addHandler(handler)
    caplog.set_level(logging.INFO, logger="sfjwt_vault")
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    host.register(sfjwt_vault_hashicorp, "vault")
    try:
        policy = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=0.5, deadline=20)
        token = credentials_for(salesforce_app, host, key=f"vault:secret/{path}", retry=policy).get_token()
    finally:
        logging.getLogger("sfjwt_vault").removeHandler(handler)
    assert token.access_token
    assert len(handler.seen) == 1 and "VaultSealed" in handler.seen[0]
    assert salesforce_app.emulator.exchange_count == 1
