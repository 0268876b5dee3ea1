"""jsforce 3 from npm, run by node, against the emulator over TLS: JWT login through
`conn.authorize` (a chunked token request), `query`, `identity()` on the token's `id` URL, and
`logout()`, which revokes the session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from sfjwt_vault.testing.pytest_plugin import SalesforceApp

from .node import installed, require

SCRIPT = Path(__file__).parent / "js" / "jsforce_client.js"


@pytest.fixture(scope="session")
def jsforce_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed("jsforce@3")


def test_jsforce_login_query_identity_logout(salesforce_tls_app: SalesforceApp, jsforce_modules: Path) -> None:
    em = salesforce_tls_app.emulator
    config = {
        "loginUrl": em.base_url,
        "consumerKey": salesforce_tls_app.consumer_key,
        "username": salesforce_tls_app.username,
        "audience": em.audience,
        "keyFile": str(salesforce_tls_app.key_path),
    }
    done = subprocess.run(
        [require("node"), str(SCRIPT), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(jsforce_modules), "NODE_EXTRA_CA_CERTS": str(salesforce_tls_app.ca_file)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["jsforceVersion"].startswith("3.")
    # Login: jsforce sends the form chunked, without Content-Length.
    assert em.tokens_issued == 1 and em.chunked_requests >= 1
    assert result["userInfo"]["organizationId"] == em.org_id
    assert result["userInfo"]["id"] == salesforce_tls_app.user.user_id
    assert result["instanceUrl"] == em.base_url
    # query
    assert result["query"]["totalSize"] == 1
    assert result["query"]["records"][0]["Id"] == salesforce_tls_app.user.user_id
    # identity(): the token's id URL, on the emulator, with ?oauth_token=
    assert result["identity"]["username"] == salesforce_tls_app.username
    assert result["identity"]["id"] == em.identity_url(salesforce_tls_app.user)
    # logout(): the session is revoked
    assert em.revoke_requests == 1 and em.live_sessions() == 0
