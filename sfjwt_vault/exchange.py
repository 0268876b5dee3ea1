"""The token exchange's content: the request, and what an answer means (a token or a typed error).

`read_token_response` is the one place a token-endpoint answer is interpreted; the sync and the async
exchange (`transport.post` / `transport.apost`) share it. Redirects are never followed (the assertion
must not go to another host) and no error text includes the request body.
"""

from __future__ import annotations

import email.utils
import json
from typing import Any, NamedTuple
from urllib.parse import urlencode

import httpx

from .endpoints import check_instance_url
from .errors import ConfigurationError, TransientError, salesforce_error
from .token import AccessToken

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange attempt: connect, send, headers and body
CONNECT_TIMEOUT = 5.0  # of which at most this for the connection (TCP and TLS)
HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "sfjwt-vault"}


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
        location = raw.headers.get("location", "")
        target = httpx.URL(location).host if location else "?"
        raise ConfigurationError(
            f"the token endpoint answered HTTP {status}, a redirect to {target or 'a relative URL'}; "
            "it was not followed, so the assertion was not sent there",
            hint="set the token URL to the final host (e.g. https://<domain>.my.salesforce.com)",
        )
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
    if data is not None:
        kind = "JSON without an access_token or an error" if status == 200 else "JSON without an error"
    elif not raw.body.strip():
        kind = "an empty body"
    else:
        kind = "HTML" if raw.body.lstrip()[:1] == b"<" else "a body that is not JSON"
    raise TransientError(
        f"the token endpoint answered HTTP {status} with {kind}",
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
