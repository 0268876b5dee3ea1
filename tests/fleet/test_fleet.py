"""A fleet shares one Salesforce session: one exchange per session lifetime, not one per instance."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from typing import Any

import pytest

from sfjwt_vault import ConfigurationError
from sfjwt_vault.cache import CacheKey
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.shared_cache import SharedCache, Stored, key_hash
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from sfjwt_vault.token import AccessToken
from tests.fleet.worker import run_fleet
from tests.helpers import credentials_for
from tests.servers import free_port
from tests.vault.conftest import Bao

PROCESSES = 8
THREADS = 16


def fleet_settings(sf: SalesforceApp, cache: str) -> dict[str, Any]:
    return {
        "cache": cache,
        "token_url": sf.token_url,
        "audience": sf.audience,
        "consumer_key": sf.consumer_key,
        "username": sf.username,
        "key": f"file:{sf.key_path}",
        "threads": THREADS,
    }


def key_of(sf: SalesforceApp) -> CacheKey:
    return credentials_for(sf).cache_key


def raw_record(cache_url: str, sf: SalesforceApp, dynamo: Any, bao: Bao | None) -> Any:
    """What the store really holds for this app and user, read past the plugin."""
    pk = key_hash(key_of(sf))
    if cache_url.startswith("dynamodb:"):
        table = cache_url.split(":", 1)[1].split("?", 1)[0]
        return dynamo.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert bao is not None
    prefix = cache_url.split(":", 1)[1].split("?", 1)[0].split("/", 1)[1]
    return bao.admin().secrets.kv.v2.read_secret_version(
        path=f"{prefix}/{pk}", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]


class CountingStore:
    """A real store, with a count of the calls made to it."""

    def __init__(self, store: SharedCache) -> None:
        self.store = store
        self.name = store.name
        self.lease_ttl = store.lease_ttl
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return method(*args, **kwargs)

        return counted

    def get(self, key: CacheKey) -> Stored | None:
        return self.__getattr__("get")(key)  # type: ignore[no-any-return]


# -- the burst -----------------------------------------------------------------------------------------


def test_cold_fleet_of_8_processes_x_16_threads_makes_one_exchange(
    cache_url: str, salesforce_app: SalesforceApp
) -> None:
    reports, _ = run_fleet(fleet_settings(salesforce_app, cache_url), PROCESSES)
    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    fingerprints = {fp for r in reports for fp in r["fingerprints"]}
    assert sum(len(r["fingerprints"]) for r in reports) == PROCESSES * THREADS
    assert len(fingerprints) == 1  # every thread of every process got the same session
    assert salesforce_app.emulator.exchange_count == 1


def test_without_the_shared_cache_every_process_mints(aws_env: str, salesforce_app: SalesforceApp) -> None:
    """The control: the same burst on the in-process cache alone costs one login per process."""
    reports, _ = run_fleet(fleet_settings(salesforce_app, "local"), PROCESSES)
    assert [r["errors"] for r in reports] == [[]] * PROCESSES
    assert salesforce_app.emulator.exchange_count == PROCESSES


# -- leases ----------------------------------------------------------------------------------------------


def test_lease_is_exclusive_when_instances_race(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    store = fleet_host.shared_cache(cache_url)
    for round_ in range(5):
        key = key_of(salesforce_app)._replace(username=f"race-{round_}@acme.com")
        barrier = threading.Barrier(8)
        leases: list[object] = []

        def take(key: CacheKey = key, barrier: threading.Barrier = barrier, leases: list[object] = leases) -> None:
            barrier.wait()
            lease = store.try_acquire(key, 30.0)
            if lease is not None:
                leases.append(lease)

        threads = [threading.Thread(target=take) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(leases) == 1


def test_abandoned_lease_expires_and_another_instance_mints(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    url = f"{cache_url}&lease=1"
    store = fleet_host.shared_cache(url)
    key = key_of(salesforce_app)
    assert store.try_acquire(key, 1.0) is not None  # an instance that took the lease and died
    assert store.try_acquire(key, 1.0) is None  # the lease is exclusive while it lasts

    token = credentials_for(salesforce_app, fleet_host, shared_cache=url).get_token()

    assert salesforce_app.emulator.exchange_count == 1
    stored = store.get(key)
    assert stored is not None and stored.token.access_token == token.access_token
    other = credentials_for(salesforce_app, fleet_host, shared_cache=url).get_token()
    assert other.access_token == token.access_token
    assert salesforce_app.emulator.exchange_count == 1


def test_waiting_instance_takes_the_lease_holders_token(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    store = fleet_host.shared_cache(cache_url)
    key = key_of(salesforce_app)
    lease = store.try_acquire(key, 30.0)
    assert lease is not None
    minted = AccessToken(access_token="00Dxx!minted.elsewhere", instance_url="https://acme.my.salesforce.com", id="x")

    def holder() -> None:
        time.sleep(0.5)
        assert store.put(key, minted, time.time() + 900, lease)

    thread = threading.Thread(target=holder)
    thread.start()
    token = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    thread.join()
    assert token.access_token == minted.access_token
    assert token.instance_url == minted.instance_url
    assert salesforce_app.emulator.exchange_count == 0


def test_failed_mint_releases_the_lease(cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost) -> None:
    store = fleet_host.shared_cache(cache_url)
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url, consumer_key="not-an-app")
    with pytest.raises(Exception, match="client identifier invalid"):
        creds.get_token()
    assert store.try_acquire(creds.cache_key, 5.0) is not None  # free at once, not after 30 s


# -- invalidation -------------------------------------------------------------------------------------------


def test_invalidation_races_keep_the_newer_token(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    a = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    b = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    old = a.get_token()
    assert b.get_token().access_token == old.access_token
    assert salesforce_app.emulator.exchange_count == 1

    b.invalidate(old)  # B saw a 401 first
    new = b.get_token()
    assert new.access_token != old.access_token
    assert salesforce_app.emulator.exchange_count == 2

    a.invalidate(old)  # A's 401 for the same old token arrives late: it must not drop B's new token
    store = fleet_host.shared_cache(cache_url)
    stored = store.get(a.cache_key)
    assert stored is not None and stored.token.access_token == new.access_token
    assert store.invalidate(a.cache_key, old) is False
    assert a.get_token().access_token == new.access_token  # A adopts it, no third login
    assert salesforce_app.emulator.exchange_count == 2


# -- secrecy ----------------------------------------------------------------------------------------------------


def test_store_holds_no_plaintext_token(
    cache_url: str,
    salesforce_app: SalesforceApp,
    fleet_host: PluginHost,
    request: pytest.FixtureRequest,
) -> None:
    token = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    dynamo = request.getfixturevalue("dynamo") if cache_url.startswith("dynamodb:") else None
    bao = None if dynamo is not None else request.getfixturevalue("bao")
    record = raw_record(cache_url, salesforce_app, dynamo, bao)

    text = repr(record)
    secret = token.access_token
    assert record  # something was stored
    for form in (secret, base64.b64encode(secret.encode()).decode(), secret.split("!")[-1]):
        assert form not in text
    if dynamo is not None:
        assert secret.encode() not in record["ct"]["B"]
        assert record["username"] == {"S": salesforce_app.username}  # the non-secret fields stay readable
    else:
        assert str(record["ct"]).startswith("vault:v")
        assert record["username"] == salesforce_app.username


def test_ciphertext_is_bound_to_its_cache_key(
    dynamodb_cache: str, salesforce_app: SalesforceApp, fleet_host: PluginHost, dynamo: Any, aws_env: str
) -> None:
    """KMS refuses to decrypt the stored token under another key's encryption context."""
    from tests.aws.conftest import _client

    credentials_for(salesforce_app, fleet_host, shared_cache=dynamodb_cache).get_token()
    record = raw_record(dynamodb_cache, salesforce_app, dynamo, None)
    kms = _client("kms", aws_env)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        kms.decrypt(CiphertextBlob=record["ct"]["B"], EncryptionContext={"sfjwt:cache": "another-key"})


# -- local cache in front ------------------------------------------------------------------------------------------


def test_local_hit_never_touches_the_store(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    store = CountingStore(fleet_host.shared_cache(cache_url))
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=store)
    first = creds.get_token()
    calls = store.calls
    assert calls > 0
    for _ in range(100):
        assert creds.get_token() is first
    assert store.calls == calls


def test_async_path_shares_the_token(cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost) -> None:
    minted = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    other = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)

    async def burst() -> set[str]:
        tokens = await asyncio.gather(*(other.get_token_async() for _ in range(50)))
        return {t.access_token for t in tokens}

    assert asyncio.run(burst()) == {minted.access_token}
    assert salesforce_app.emulator.exchange_count == 1


def test_async_cold_mint_publishes_for_the_fleet(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    token = asyncio.run(creds.get_token_async())
    sync = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    assert sync.access_token == token.access_token
    assert salesforce_app.emulator.exchange_count == 1


# -- outage ------------------------------------------------------------------------------------------------------------


def test_store_outage_falls_back_to_local_minting_with_one_warning(
    cache_url: str,
    salesforce_app: SalesforceApp,
    fleet_host: PluginHost,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    if cache_url.startswith("dynamodb:"):
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dead)  # KMS still answers; the table does not
    else:
        monkeypatch.setenv("VAULT_ADDR", dead)
    caplog.set_level(logging.DEBUG, logger="sfjwt_vault")
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)

    token = creds.get_token()
    assert creds.get_token() is token  # the local cache still works
    creds.invalidate(token)
    again = creds.get_token()  # the store is still down: minted locally again, no second warning

    assert again.access_token != token.access_token
    assert salesforce_app.emulator.exchange_count == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "shared token cache" in message and "minting locally" in message
    assert cache_url.split("?", 1)[0] in message
    for secret in (token.access_token, again.access_token):
        assert secret not in caplog.text


# -- configuration ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,match",
    [
        ("memcached:foo", "no installed plugin serves the shared token cache 'memcached'"),
        ("dynamodb:table?region=us-east-1", "names no kms_key"),
        ("dynamodb:table?kms_key=alias/x&region=us-east-1&lease=0", "lease= must be"),
        ("dynamodb:table?kms_key=alias/x&region=us-east-1&ttl=3", "unknown option"),
        ("vault-kv:secret/cache", "names no Transit key"),
        ("vault-kv:secret?transit=transit/k", "must be vault-kv:<mount>/<prefix>"),
    ],
)
def test_bad_cache_references_are_configuration_errors(
    url: str, match: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    creds = credentials_for(salesforce_app, fleet_host, shared_cache=url)
    with pytest.raises(ConfigurationError, match=match):
        creds.get_token()
    assert salesforce_app.emulator.exchange_count == 0


def test_from_env_reads_sfjwt_token_cache(salesforce_app: SalesforceApp, dynamodb_cache: str) -> None:
    from sfjwt_vault import Credentials

    env = {
        "SF_CONSUMER_KEY": salesforce_app.consumer_key,
        "SF_USERNAME": salesforce_app.username,
        "SFJWT_KEY": f"file:{salesforce_app.key_path}",
        "SFJWT_TOKEN_CACHE": dynamodb_cache,
    }
    assert Credentials.from_env(env).shared_cache == dynamodb_cache
    assert Credentials.from_env({**env, "SFJWT_TOKEN_CACHE": ""}).shared_cache is None
