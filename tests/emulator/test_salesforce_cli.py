"""The Salesforce CLI (`sf`, from npm) against the emulator over TLS: `sf org login jwt` (exp in
milliseconds, a chunked token request, its audience retries, its Organization and ScratchOrgInfo
queries), then `sf data query` (which first asks for the query's columns). And the README's recipes for
giving the CLI a session from `sfjwt exec`, run for real: the access token as the target org (nothing
stored), `sf org login access-token` (stored under an alias), and why the variables must be expanded by
the shell that `sfjwt exec` starts, not the calling one.

The CLI is ~300 MB from npm, installed once per machine into the tests' npm cache (tests/emulator/node.py;
about a minute the first time). The version is pinned, and so is undici: the CLI's current dependencies
need Node 22, this pin runs on Node 18 and 20 as well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .node import installed, require

SF_CLI = "@salesforce/cli@2.128.5"
PINS = {"undici": "7.16.0"}
# No telemetry, no OS keychain; and plain text even where the CI machine sets FORCE_COLOR (the CLI's
# colour library honours it on a pipe). No update check either: the updater hook reads only
# SF_DISABLE_AUTOUPDATE, and on an npm install the CLI sets it itself unless SF_AUTOUPDATE_DISABLE is
# set, so naming only the latter starts a detached `sf update --autoupdate` that lingers for an hour.
CLI_QUIET = {
    "SF_DISABLE_TELEMETRY": "true",
    "SF_DISABLE_AUTOUPDATE": "true",
    "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
    "FORCE_COLOR": "0",
    "NO_COLOR": "1",
}


@pytest.fixture(scope="session")
def sf_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed(SF_CLI, overrides=PINS) / ".bin" / "sf"


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
            **CLI_QUIET,
        },
    )
    assert_no_updater(home)
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


# -- sfjwt exec: the session for the CLI without a key on disk (README, "The Salesforce CLI") ------------------

STATELESS = (
    'SF_TARGET_ORG="$SF_ACCESS_TOKEN" SF_ORG_INSTANCE_URL="$SF_INSTANCE_URL" '
    'sf data query --query "SELECT Id, Username FROM User" --json'
)
STORED = 'sf org login access-token --instance-url "$SF_INSTANCE_URL" --no-prompt --alias acme'


def sfjwt_exec(sf_bin: Path, app: SalesforceApp, home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`sfjwt exec -- COMMAND` with the CLI on PATH; the session's token also kept in home/../token,
    where only the test looks, to search the output and the CLI's files for it."""
    keep = f'printf %s "$SF_ACCESS_TOKEN" > {str(home.parent / "token")!r}'
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFJWT_"))}
    done = subprocess.run(
        [sys.executable, "-m", "sfjwt_vault.cli", "exec", "--", "sh", "-c", f"{keep}; {command[0]}", *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **base,
            "PATH": f"{sf_bin.parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(home),
            "NODE_EXTRA_CA_CERTS": str(app.ca_file),
            **CLI_QUIET,
            "SF_CONSUMER_KEY": app.consumer_key,
            "SF_USERNAME": app.username,
            "SFJWT_KEY": f"file:{app.key_path}",
            "SF_TOKEN_URL": app.token_url,
            "SFJWT_CA_BUNDLE": str(app.ca_file),
        },
    )
    assert_no_updater(home)
    return done


def assert_no_updater(home: Path) -> None:
    """The CLI started no background `sf update` (it logs to autoupdate.log under its cache folder)."""
    assert not list(home.rglob("autoupdate.log")), "the CLI started its updater: check CLI_QUIET"


def files_holding(folder: Path, secret: str) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_exec_hands_the_cli_a_session_it_never_stores(
    sf_bin: Path, salesforce_tls_app: SalesforceApp, tmp_path: Path
) -> None:
    em = salesforce_tls_app.emulator
    home = tmp_path / "home"
    home.mkdir()
    done = sfjwt_exec(sf_bin, salesforce_tls_app, home, STATELESS)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)["result"]
    assert result["totalSize"] == 1 and result["records"][0]["Username"] == salesforce_tls_app.username
    assert em.exchange_count == 1  # sfjwt's login; the CLI used the session as it was
    token = (tmp_path / "token").read_text()
    assert token.startswith(em.org_id)
    assert token not in done.stdout + done.stderr and files_holding(home, token) == []


def test_exec_stores_a_cli_login_under_an_alias(
    sf_bin: Path, salesforce_tls_app: SalesforceApp, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    done = sfjwt_exec(sf_bin, salesforce_tls_app, home, STORED)
    assert done.returncode == 0, done.stderr[-3000:]
    token = (tmp_path / "token").read_text()
    assert done.stdout.startswith(f"Successfully authorized {salesforce_tls_app.username}")
    assert token not in done.stdout + done.stderr and files_holding(home, token) == []  # stored encrypted
    query = sf(
        sf_bin,
        salesforce_tls_app,
        home,
        "data",
        "query",
        "--query",
        "SELECT Username FROM User",
        "--target-org",
        "acme",
    )
    assert query["records"][0]["Username"] == salesforce_tls_app.username
    assert salesforce_tls_app.emulator.exchange_count == 1


def test_the_calling_shell_would_expand_the_instance_url_too_early(
    sf_bin: Path, salesforce_tls_app: SalesforceApp, tmp_path: Path
) -> None:
    """`sfjwt exec -- sf org login access-token --instance-url "$SF_INSTANCE_URL"` typed in a shell: that
    shell expands the variable before sfjwt runs (to nothing, it is not set there), so the CLI gets an
    empty URL. Shown here by passing what the shell would have passed."""
    home = tmp_path / "home"
    home.mkdir()
    done = sfjwt_exec(sf_bin, salesforce_tls_app, home, "sf org login access-token --instance-url '' --no-prompt")
    assert done.returncode != 0 and not list((home / ".sfdx").glob("*@*.json"))
