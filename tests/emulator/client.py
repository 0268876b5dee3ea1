"""What the emulator tests share: one keep-alive client, assertion minting (PyJWT, not our signer),
and the token request."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from sfjwt_vault.testing import SalesforceEmulator
from sfjwt_vault.testing.emulator import JWT_BEARER_GRANT
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

AUD = "https://login.salesforce.com"
# One keep-alive client: a new httpx client per request costs ~40 ms of TLS-store loading.
CLIENT = httpx.Client()


def mint(app: SalesforceApp, **overrides: Any) -> str:
    """An assertion for the app's user; an override of None drops that claim."""
    claims: dict[str, Any] = {
        "iss": app.consumer_key,
        "sub": app.username,
        "aud": app.audience,
        "exp": int(time.time()) + 180,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, app.private_key_pem, algorithm="RS256")


def post(emulator: SalesforceEmulator, assertion: str, **kwargs: Any) -> httpx.Response:
    data = kwargs.pop("data", {"grant_type": JWT_BEARER_GRANT, "assertion": assertion})
    return CLIENT.post(emulator.token_url, data=data, headers={"Accept": "application/json"}, **kwargs)


def assert_error(response: httpx.Response, error: str, description: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": description}


def token_for(app: SalesforceApp) -> str:
    response = post(app.emulator, mint(app))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rest_get(emulator: SalesforceEmulator, path: str, token: str | None, **params: str) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    return CLIENT.get(emulator.base_url + path, headers=headers, params=params)


def limits(emulator: SalesforceEmulator, token: str) -> httpx.Response:
    return rest_get(emulator, "/services/data/v65.0/limits", token)
