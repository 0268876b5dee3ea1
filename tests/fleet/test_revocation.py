"""Revocation with a shared token cache (DynamoDB on moto, Vault KV on OpenBao): from Python (sync and
async) and from `sfjwt revoke`, the fleet's session dies at the emulator and leaves the store, so no
instance adopts it again; an instance that still holds it in memory gets a 401 and mints once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx

from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.testing.pytest_plugin import SalesforceApp
from tests.helpers import credentials_for


def stored_token(cache_url: str, sf: SalesforceApp, host: PluginHost) -> str | None:
    """What the store holds for this app and user, read through a store of its own."""
    store = host.shared_cache(cache_url)
    found = store.get(credentials_for(sf).cache_key)
    return None if found is None or found.token is None else found.token.access_token


def limits(sf: SalesforceApp, access_token: str) -> int:
    url = f"{sf.emulator.base_url}/services/data/v65.0/limits"
    return httpx.get(url, headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_revoke_drops_the_fleet_session(cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost) -> None:
    em = salesforce_app.emulator
    worker = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    token = worker.get_token()
    assert stored_token(cache_url, salesforce_app, fleet_host) == token.access_token
    assert worker.revoke() is True
    assert limits(salesforce_app, token.access_token) == 401  # dead at Salesforce
    assert stored_token(cache_url, salesforce_app, fleet_host) is None  # gone from the store
    newcomer = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    assert newcomer.get_token().access_token != token.access_token and em.tokens_issued == 2


def test_arevoke_finds_the_fleet_session_in_the_store(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    token = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url).get_token()
    other = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)  # nothing cached in it
    assert asyncio.run(other.arevoke()) is True
    assert limits(salesforce_app, token.access_token) == 401
    assert stored_token(cache_url, salesforce_app, fleet_host) is None


def test_sfjwt_revoke_ends_the_fleet_session_and_holders_recover(
    cache_url: str, salesforce_app: SalesforceApp, fleet_host: PluginHost
) -> None:
    em = salesforce_app.emulator
    worker = credentials_for(salesforce_app, fleet_host, shared_cache=cache_url)
    token = worker.get_token()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    env.update(
        SF_CONSUMER_KEY=salesforce_app.consumer_key,
        SF_USERNAME=salesforce_app.username,
        SFJWT_KEY=f"file:{salesforce_app.key_path}",
        SF_TOKEN_URL=salesforce_app.token_url,
        SFJWT_TOKEN_CACHE=cache_url,
    )
    done = subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", "--debug", "revoke"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"revoked the session of {salesforce_app.username}")
    assert token.access_token not in done.stdout + done.stderr
    assert limits(salesforce_app, token.access_token) == 401
    assert stored_token(cache_url, salesforce_app, fleet_host) is None
    assert em.tokens_issued == 1  # the command minted nothing
    with worker.client() as client:  # this worker still holds it in memory: one 401, one re-mint
        assert client.get("/services/data/v65.0/limits").status_code == 200
    assert em.tokens_issued == 2
    again = subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", "revoke", "--token-from", "stdin"],
        input=token.access_token + "\n", capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and again.stdout.startswith("no live session"), again.stderr
    assert em.revoke_requests == 2
