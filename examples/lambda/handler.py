"""AWS Lambda: a Salesforce REST call with the JWT key in Secrets Manager (or KMS).

`Credentials.from_env()` runs once per container, at import (the init phase); warm invocations reuse
it, its HTTP connection pool, the boto3 client the `aws` plugin created, and the cached access token.
The handler returns only a status and a count: never the token.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from sfjwt_vault import Credentials

API_VERSION = os.environ.get("SF_API_VERSION", "65.0")

credentials = Credentials.from_env()
# Credentials is an httpx.Auth: it adds the token and re-mints once on 401 INVALID_SESSION_ID.
_http = httpx.Client(auth=credentials, timeout=10.0)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    instance_url = credentials.get_token().instance_url  # cached: no login on a warm invocation
    response = _http.get(f"{instance_url}/services/data/v{API_VERSION}/limits", headers={"Accept": "application/json"})
    result: dict[str, Any] = {"status": response.status_code}
    if response.status_code == 200:
        result["limits"] = len(response.json())
    return result
