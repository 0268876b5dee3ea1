"""The token exchange's content, and the revocation's: the requests, and what an answer means.

`read_token_response` is the one place a token-endpoint answer is interpreted (a token or a typed
error), `read_revoke_response` the one for the revocation endpoint; the sync and the async wire
(`transport.post` / `transport.apost`) share them. Redirects are never followed (the assertion or the
token must not go to another host) and no error text includes the request body.
"""

from __future__ import annotations

import email.utils
import json
from typing import Any, NamedTuple
from urllib.parse import urlencode

import httpx

from .endpoints import check_instance_url
from .errors import ConfigurationError, TransientError, revocation_error, salesforce_error
from .token import AccessToken

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange attempt: connect, send, headers and body
CONNECT_TIMEOUT = 5.0  # of which at most this for the connection (TCP and TLS)


class RawResponse(NamedTuple):
    """The parts of an HTTP answer we look at, read with a size cap."""

    status_code: int
    headers: httpx.Headers
    body: bytes


def request_body(assertion: str) -> dict[str, str]:
    return {"grant_type": GRANT_TYPE, "assertion": assertion}


def encoded_body(assertion: str) -> bytes:
    """The form-encoded POST body."""
    return urlencode(request_body(assertion)).encode("ascii")


def revoke_body(access_token: str) -> bytes:
    """The form-encoded body of a revocation: `token=`."""
    return urlencode({"token": access_token}).encode("ascii")


def server_time(headers: httpx.Headers) -> float | None:
    """The endpoint's clock from its `Date` header, for skew hints."""
    value = headers.get("date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def read_token_response(raw: RawResponse) -> AccessToken:
    """Interpret a token-endpoint answer. Raises the typed error the answer means."""
    status = raw.status_code
    if 300 <= status < 400:
        raise _redirect(raw, "token endpoint", "assertion")
    data = _json_object(raw.body)
    if status == 200 and data is not None and isinstance(data.get("access_token"), str):
        if not isinstance(data.get("instance_url"), str):
            raise TransientError("the token endpoint's answer has no instance_url")
        check_instance_url(data["instance_url"])  # before anything uses it: REST calls, shell output
        return AccessToken.from_response(data)
    if data is not None and isinstance(data.get("error"), str):
        error = salesforce_error(data["error"], str(data.get("error_description") or ""), status)
        error.server_time = server_time(raw.headers)
        raise error
    what = "JSON without an access_token or an error" if status == 200 else "JSON without an error"
    raise _unreadable(raw, "token endpoint", what if data is not None else None)


def read_revoke_response(raw: RawResponse) -> None:
    """Interpret a revocation answer: 200 means the session is gone; else raises the typed error (a
    `RevocationError` for Salesforce's refusals, `InvalidTokenError` for a session that is not live)."""
    status = raw.status_code
    if status == 200:
        return
    if 300 <= status < 400:
        raise _redirect(raw, "revocation endpoint", "token")
    data = _json_object(raw.body)
    if data is not None and isinstance(data.get("error"), str):
        raise revocation_error(data["error"], str(data.get("error_description") or ""))
    raise _unreadable(raw, "revocation endpoint", "JSON without an error" if data is not None else None)


def _redirect(raw: RawResponse, endpoint: str, carried: str) -> ConfigurationError:
    location = raw.headers.get("location", "")
    target = httpx.URL(location).host if location else "?"
    return ConfigurationError(
        f"the {endpoint} answered HTTP {raw.status_code}, a redirect to {target or 'a relative URL'}; "
        f"it was not followed, so the {carried} was not sent there",
        hint="set the token URL to the final host (e.g. https://<domain>.my.salesforce.com)",
    )


def _unreadable(raw: RawResponse, endpoint: str, json_kind: str | None) -> TransientError:
    """An answer that is neither success nor an OAuth error: a 5xx page, an empty body, a proxy's HTML."""
    if json_kind is not None:
        kind = json_kind
    elif not raw.body.strip():
        kind = "an empty body"
    else:
        kind = "HTML" if raw.body.lstrip()[:1] == b"<" else "a body that is not JSON"
    return TransientError(
        f"the {endpoint} answered HTTP {raw.status_code} with {kind}",
        hint="a transient Salesforce or proxy failure: retry later; check the token URL if it persists",
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def total_timeout(timeout: float | httpx.Timeout) -> float:
    """One exchange attempt's bound in seconds. An `httpx.Timeout` (accepted for compatibility) counts
    as its longest phase."""
    if isinstance(timeout, httpx.Timeout):
        phases = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t is not None]
        return max(phases) if phases else DEFAULT_TIMEOUT
    if timeout <= 0:
        raise ConfigurationError("the timeout must be a positive number of seconds")
    return float(timeout)
