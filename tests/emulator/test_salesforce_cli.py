"""The Salesforce CLI (`sf`, from npm) against the emulator over TLS: `sf org login jwt` (exp in
milliseconds, a chunked token request, its audience retries, its Organization and ScratchOrgInfo
queries), then `sf data query` (which first asks for the query's columns).

Opt-in: SFJWT_TEST_SF_CLI=1. The CLI is ~300 MB from npm (about a minute to install on a warm npm
cache). The version is pinned, and so is undici: the CLI's current dependencies need Node 22, this
pin runs on Node 18 and 20 as well.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .node import npm_install, require

SF_CLI = "@salesforce/cli@2.128.5"
PINS = {"undici": "7.16.0"}

pytestmark = pytest.mark.skipif(
    os.environ.get("SFJWT_TEST_SF_CLI") != "1",
    reason="the Salesforce CLI test installs ~300 MB from npm: set SFJWT_TEST_SF_CLI=1 to run it",
)


@pytest.fixture(scope="session")
def sf_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return npm_install(tmp_path_factory.mktemp("sf-cli"), SF_CLI, overrides=PINS) / ".bin" / "sf"


def sf(sf_bin: Path, app: SalesforceApp, home: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [require("node"), str(sf_bin), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "HOME": str(home),  # the CLI keeps its auth files under HOME
            "NODE_EXTRA_CA_CERTS": str(app.ca_file),
            "SF_DISABLE_TELEMETRY": "true",
            "SF_AUTOUPDATE_DISABLE": "true",
            "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
        },
    )
    result: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == 0 and result["status"] == 0, done.stdout[-3000:]
    return result["result"]  # type: ignore[no-any-return]


def test_sf_org_login_jwt_and_data_query(sf_bin: Path, salesforce_tls_app: SalesforceApp, tmp_path: Path) -> None:
    em = salesforce_tls_app.emulator
    login = sf(
        sf_bin, salesforce_tls_app, tmp_path,
        "org", "login", "jwt",
        "--client-id", salesforce_tls_app.consumer_key,
        "--jwt-key-file", str(salesforce_tls_app.key_path),
        "--username", salesforce_tls_app.username,
        "--instance-url", em.base_url,
    )  # fmt: skip
    assert login["orgId"] == em.org_id and login["instanceUrl"] == em.base_url
    assert login["name"] == em.org_name and login["isSandbox"] is False and login["isDevHub"] is False
    # The CLI tries its login URL as the audience first, then https://login.salesforce.com.
    assert em.exchange_count == 2 and em.tokens_issued == 1
    assert em.chunked_requests >= 2
    claims = em.last_assertion_claims
    assert claims is not None and claims["exp"] > 10**12  # milliseconds
    query = sf(
        sf_bin, salesforce_tls_app, tmp_path,
        "data", "query", "--query", "SELECT Id, Username FROM User", "--target-org", salesforce_tls_app.username,
    )  # fmt: skip
    assert query["totalSize"] == 1 and query["records"][0]["Username"] == salesforce_tls_app.username
