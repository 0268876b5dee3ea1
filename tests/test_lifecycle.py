"""Token lifecycle against the emulator: cache, expiry, the 401 path, single-flight, async, interop."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import httpx
import pytest
import sfjwt_vault_file

from sfjwt_vault import KeyRef, SecretBuffer, errors, hookimpl
from sfjwt_vault.cache import TokenCache, token_expiry
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from sfjwt_vault.token import AccessToken
from tests.helpers import credentials_for


class CountingFileBackend:
    """The file backend under another scheme, counting key fetches."""

    def __init__(self) -> None:
        self.fetches = 0
        self._lock = threading.Lock()

    @hookimpl
    def sfjwt_schemes(self) -> list[str]:
        return ["counted"]

    @hookimpl
    def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer | None:
        with self._lock:
            self.fetches += 1
        return sfjwt_vault_file.sfjwt_fetch_key(KeyRef.parse(f"file:{ref.path}"))


@pytest.fixture
def counted(salesforce_app: SalesforceApp) -> tuple[CountingFileBackend, PluginHost, str]:
    backend = CountingFileBackend()
    host = PluginHost(load_entry_points=False)
    host.register(backend, "counted")
    return backend, host, f"counted:{salesforce_app.key_path}"


def test_cache_hits_make_no_exchange(
    salesforce_app: SalesforceApp, counted: tuple[CountingFileBackend, PluginHost, str]
) -> None:
    backend, host, ref = counted
    creds = credentials_for(salesforce_app, host, key=ref)
    first = creds.get_token()
    for _ in range(50):
        assert creds.get_token() is first
    assert salesforce_app.emulator.exchange_count == 1
    assert backend.fetches == 1


def test_credentials_for_the_same_app_and_user_share_a_cache(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    shared = TokenCache()
    a = credentials_for(salesforce_app, host, cache=shared)
    b = credentials_for(salesforce_app, host, cache=shared)
    assert a.get_token() is b.get_token()
    other_user = salesforce_app.emulator.add_user("second@acme.com")
    c = credentials_for(salesforce_app, host, cache=shared, username=other_user.username)
    assert c.get_token().access_token != a.get_token().access_token
    assert salesforce_app.emulator.exchange_count == 2


def test_expired_session_is_re_minted_ahead_of_time(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    creds = credentials_for(salesforce_app, host, session_lifetime=0.001, refresh_margin=0)
    first = creds.get_token()
    time.sleep(0.01)  # past the 1 ms session (a behaviour check, nothing is timed)
    second = creds.get_token()
    assert first.access_token != second.access_token
    assert salesforce_app.emulator.exchange_count == 2


def test_refresh_margin_mints_before_the_assumed_expiry(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    creds = credentials_for(salesforce_app, host, session_lifetime=200, refresh_margin=60)
    token = creds.get_token()
    now = time.time()
    assert creds.cache.get(creds.cache_key, now=now + 130) is token
    assert creds.cache.get(creds.cache_key, now=now + 145) is None  # 200 s - 60 s margin
    creds_short = credentials_for(salesforce_app, host, session_lifetime=10, refresh_margin=60)
    short = creds_short.get_token()
    now = time.time()
    assert creds_short.cache.get(creds_short.cache_key, now=now + 4) is short  # margin capped at half
    assert creds_short.cache.get(creds_short.cache_key, now=now + 6) is None


def _jwt_token(exp: float) -> AccessToken:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    raw = f"{part({'alg': 'RS256'})}.{part({'exp': exp, 'sub': '005'})}.c2ln"
    return AccessToken(access_token=raw, instance_url="https://x.my.salesforce.com", id="")


def test_jwt_access_tokens_expire_at_their_own_exp() -> None:
    now = time.time()
    assert token_expiry(_jwt_token(now + 1234), 900, now) == pytest.approx(now + 1234)
    opaque = AccessToken(access_token="00Dxx!AQ4AQ", instance_url="https://x", id="")
    assert token_expiry(opaque, 900, now) == pytest.approx(now + 900)


def test_401_invalid_session_re_mints_once_and_retries(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    creds = credentials_for(salesforce_app, host)
    with creds.client() as client:
        assert client.get("/services/data/v65.0/limits").status_code == 200
        org.expire_all_tokens()
        response = client.get("/services/data/v65.0/limits")
        assert response.status_code == 200
        assert org.exchange_count == 2
        assert client.get("/services/data/v65.0/limits").status_code == 200
    assert org.exchange_count == 2


@pytest.mark.parametrize("block, status", [("not_rest", 401), ("limit", 403)])
def test_policy_blocks_are_not_re_minted(
    salesforce_app: SalesforceApp, host: PluginHost, block: str, status: int
) -> None:
    org = salesforce_app.emulator
    creds = credentials_for(salesforce_app, host)
    with creds.client() as client:
        org.set_rest_block(block)
        for _ in range(3):
            assert client.get("/services/data/v65.0/limits").status_code == status
    assert org.exchange_count == 1


def test_64_threads_cause_one_key_fetch_and_one_exchange(
    salesforce_app: SalesforceApp, counted: tuple[CountingFileBackend, PluginHost, str]
) -> None:
    backend, host, ref = counted
    creds = credentials_for(salesforce_app, host, key=ref)
    salesforce_app.emulator.inject("stall", seconds=0.3)  # keep the flight open while all arrive
    barrier = threading.Barrier(64)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(creds.get_token().access_token)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 64 and len(set(tokens)) == 1
    assert salesforce_app.emulator.exchange_count == 1
    assert backend.fetches == 1


def test_a_failed_mint_is_shared_not_cached_and_not_retried_by_every_waiter(
    salesforce_app: SalesforceApp, host: PluginHost
) -> None:
    org = salesforce_app.emulator
    creds = credentials_for(salesforce_app, host, consumer_key="3MVG9notregistered")
    org.inject("stall", seconds=0.3)
    barrier = threading.Barrier(32)
    failures: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            creds.get_token()
        except errors.InvalidClientIdError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 32
    assert org.exchange_count == 1
    assert len(creds.cache) == 0
    with pytest.raises(errors.InvalidClientIdError):  # not poisoned: the next call tries again
        creds.get_token()
    assert org.exchange_count == 2


def test_1000_tasks_cause_one_key_fetch_and_one_exchange(
    salesforce_app: SalesforceApp, counted: tuple[CountingFileBackend, PluginHost, str]
) -> None:
    backend, host, ref = counted
    creds = credentials_for(salesforce_app, host, key=ref)

    async def main() -> set[str]:
        tokens = await asyncio.gather(*(creds.get_token_async() for _ in range(1000)))
        await creds.aclose()
        return {t.access_token for t in tokens}

    assert len(asyncio.run(main())) == 1
    assert salesforce_app.emulator.exchange_count == 1
    assert backend.fetches == 1


def test_async_client_re_mints_on_401(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    creds = credentials_for(salesforce_app, host)

    async def main() -> list[int]:
        codes = []
        async with await creds.async_client() as client:
            codes.append((await client.get("/services/data/v65.0/limits")).status_code)
            org.expire_all_tokens()
            codes.append((await client.get("/services/data/v65.0/limits")).status_code)
        await creds.aclose()
        return codes

    assert asyncio.run(main()) == [200, 200]
    assert org.exchange_count == 2


def test_async_errors_and_retries(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    org = salesforce_app.emulator
    org.inject("html", times=2)
    creds = credentials_for(salesforce_app, host)

    async def main() -> AccessToken:
        try:
            return await creds.get_token_async()
        finally:
            await creds.aclose()

    assert asyncio.run(main()).instance_url == org.base_url
    assert org.exchange_count == 3
    bad = credentials_for(salesforce_app, host, username="nobody@acme.com")
    with pytest.raises(errors.UserNotApprovedError):
        asyncio.run(bad.get_token_async())
    assert org.exchange_count == 4


def test_simple_salesforce_uses_our_token(host: PluginHost, tmp_path: object) -> None:
    """simple-salesforce always speaks https, so the emulator serves TLS for 127.0.0.1 here."""
    import pathlib

    import requests
    from simple_salesforce import Salesforce

    from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair, make_tls_context
    from tests.conftest import pem_of, write_key

    context, ca_pem = make_tls_context(["127.0.0.1"])
    ca_file = pathlib.Path(str(tmp_path)) / "ca.pem"
    ca_file.write_bytes(ca_pem)
    key, cert = make_test_keypair()
    with SalesforceEmulator(ssl_context=context) as org:
        app = org.add_app(cert)
        org.add_user("u@acme.com")
        path = write_key(pathlib.Path(str(tmp_path)) / "k.pem", pem_of(key))
        from sfjwt_vault import Credentials

        creds = Credentials(
            app.consumer_key,
            "u@acme.com",
            str(path),
            token_url=org.token_url,
            verify=str(ca_file),
            plugin_host=host,
            cache=TokenCache(),
        )
        token = creds.get_token()
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
        session.verify = str(ca_file)
        sf = Salesforce(instance_url=token.instance_url, session_id=token.access_token, session=session, version="65.0")
        limits = sf.limits()
        assert "DailyApiRequests" in limits
        assert org.exchange_count == 1
        import ssl

        plain = httpx.get(
            f"{token.instance_url}/services/data/v65.0/limits", verify=ssl.create_default_context(cafile=str(ca_file))
        )
        assert plain.status_code == 401  # the REST surface really checks the token


# -- one flight per cache key, whoever asks (issue 15 item 1) ------------------------------------------------


def test_two_objects_async_burst_makes_one_exchange(
    salesforce_app: SalesforceApp, counted: tuple[CountingFileBackend, PluginHost, str]
) -> None:
    backend, host, ref = counted
    shared = TokenCache()
    a = credentials_for(salesforce_app, host, key=ref, cache=shared)
    b = credentials_for(salesforce_app, host, key=ref, cache=shared)
    salesforce_app.emulator.inject("stall", seconds=0.3)

    async def burst() -> set[str]:
        tokens = await asyncio.gather(*(c.get_token_async() for _ in range(100) for c in (a, b)))
        return {t.access_token for t in tokens}

    assert len(asyncio.run(burst())) == 1
    assert salesforce_app.emulator.exchange_count == 1
    assert backend.fetches == 1


def test_a_mixed_burst_of_threads_and_event_loops_on_two_objects_makes_one_exchange(
    salesforce_app: SalesforceApp, counted: tuple[CountingFileBackend, PluginHost, str]
) -> None:
    """Threads calling get_token() on one object and tasks of two event loops (in two other threads)
    calling get_token_async() on another: all share the one flight of their cache key."""
    backend, host, ref = counted
    shared = TokenCache()
    a = credentials_for(salesforce_app, host, key=ref, cache=shared)
    b = credentials_for(salesforce_app, host, key=ref, cache=shared)
    salesforce_app.emulator.inject("stall", seconds=0.5)
    barrier = threading.Barrier(18)
    tokens: list[str] = []
    lock = threading.Lock()

    def sync_caller() -> None:
        barrier.wait()
        token = a.get_token()
        with lock:
            tokens.append(token.access_token)

    def loop_caller() -> None:
        async def burst() -> list[AccessToken]:
            barrier.wait()  # the loop's thread blocks here once; then its 50 tasks ask at once
            return await asyncio.gather(*(b.get_token_async() for _ in range(50)))

        found = asyncio.run(burst())
        with lock:
            tokens.extend(t.access_token for t in found)

    threads = [threading.Thread(target=sync_caller) for _ in range(16)]
    threads += [threading.Thread(target=loop_caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 16 + 100 and len(set(tokens)) == 1
    assert salesforce_app.emulator.exchange_count == 1
    assert backend.fetches == 1


def test_a_cancelled_async_leader_does_not_fail_its_followers(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    creds = credentials_for(salesforce_app, host)
    salesforce_app.emulator.inject("stall", seconds=0.5)

    async def main() -> AccessToken:
        leader = asyncio.ensure_future(creds.get_token_async())
        await asyncio.sleep(0.1)  # the leader is in its exchange
        follower = asyncio.ensure_future(creds.get_token_async())
        await asyncio.sleep(0.05)
        leader.cancel()
        return await follower

    assert asyncio.run(main()).access_token
    for _ in range(100):  # the cancelled leader's stalled request still ends in the emulator: let it
        if salesforce_app.emulator.tokens_issued == 2:
            break
        time.sleep(0.05)
    assert salesforce_app.emulator.exchange_count == 2  # the follower led a new exchange


# -- the retry after a 401 uses another token (issue 21 item 1) ---------------------------------------------------


def test_a_token_seen_dying_is_never_cached_again(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    """Whatever the order: a flight that lands with a token after that token's 401 does not put it back."""
    creds = credentials_for(salesforce_app, host)
    dead = creds.get_token()
    creds.invalidate(dead)
    assert creds.cache.put(creds.cache_key, dead, expires_at=time.time() + 900, margin=60) is False
    assert creds.cache.get(creds.cache_key) is None
    fresh = creds.get_token()
    assert fresh.access_token != dead.access_token
    assert salesforce_app.emulator.exchange_count == 2


def test_a_forked_child_does_not_wait_for_its_parents_flight(salesforce_app: SalesforceApp, host: PluginHost) -> None:
    """A fork while another thread leads a flight: the flight has no leader in the child, so the child
    must start its own (and use its own connections), not wait for one that never lands."""
    import os
    import warnings

    creds = credentials_for(salesforce_app, host)
    salesforce_app.emulator.inject("stall", seconds=1.0)
    leader = threading.Thread(target=creds.get_token)
    leader.start()
    for _ in range(100):
        if salesforce_app.emulator.exchange_count:
            break
        time.sleep(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, fork() may deadlock": the point
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            os._exit(0 if creds.get_token().access_token else 1)
        except BaseException:  # noqa: BLE001 - any failure is the child's exit status
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    leader.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert salesforce_app.emulator.exchange_count == 2
