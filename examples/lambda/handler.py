"""AWS Lambda: a Salesforce REST call with the JWT key in Secrets Manager (or KMS).

`Credentials.from_env()` runs once per container, at import (the init phase), and logs in there too;
warm invocations reuse it, its HTTP connection pool, the boto3 client the `aws` plugin created, and
the cached access token. The handler returns only a status and a count: never the token.
"""

from __future__ import annotations

import logging
import os
import ssl
from typing import Any

import httpx

from sfjwt_vault import Credentials, TransientError

API_VERSION = os.environ.get("SF_API_VERSION", "65.0")
log = logging.getLogger("handler")

credentials = Credentials.from_env()
# Log in during the init phase: a wrong setting, a missing key or a refused certificate fails the init
# with its message and hint (the runtime reports it to Lambda) instead of failing every invocation, and
# the first invocation finds the token cached. A transient failure is left to the first invocation.
# Not under SnapStart: a token must not be frozen into a snapshot that many sandboxes restore.
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
    try:
        credentials.get_token()
    except TransientError as exc:
        log.warning("no Salesforce token during init (%s); the first invocation tries again", exc.message)

# Credentials is an httpx.Auth: it adds the token and re-mints once on 401 INVALID_SESSION_ID. The REST
# calls trust the same CA bundle as the token requests (SFJWT_CA_BUNDLE, e.g. a TLS-inspecting proxy).
_ca_bundle = os.environ.get("SFJWT_CA_BUNDLE")
_http = httpx.Client(
    auth=credentials, timeout=10.0, verify=ssl.create_default_context(cafile=_ca_bundle) if _ca_bundle else True
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    instance_url = credentials.get_token().instance_url  # cached: no login on a warm invocation
    response = _http.get(f"{instance_url}/services/data/v{API_VERSION}/limits", headers={"Accept": "application/json"})
    result: dict[str, Any] = {"status": response.status_code}
    if response.status_code == 200:
        result["limits"] = len(response.json())
    return result
