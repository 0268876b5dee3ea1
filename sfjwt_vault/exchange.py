"""The token exchange: POST the assertion, read a bounded answer, turn it into a token or a typed error.

`read_token_response` is the one place a token-endpoint answer is interpreted; the sync exchange here
and any async one share it. Redirects are never followed (the assertion must not go to another host),
bodies are capped, and no error text includes the request body.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import zlib
from typing import Any, NamedTuple

import httpx

from .endpoints import check_instance_url
from .errors import ConfigurationError, SfjwtError, TransientError, salesforce_error, scrub
from .token import AccessToken

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_RESPONSE_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": "sfjwt-vault"}


class RawResponse(NamedTuple):
    """The parts of an HTTP answer we look at, read with a size cap."""

    status_code: int
    headers: httpx.Headers
    body: bytes


def request_body(assertion: str) -> dict[str, str]:
    return {"grant_type": GRANT_TYPE, "assertion": assertion}


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
    kind = "an empty body" if not raw.body.strip() else ("HTML" if raw.body.lstrip()[:1] == b"<" else "no JSON")
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


def network_error(exc: httpx.HTTPError, url: str) -> SfjwtError:
    """A library error for an httpx failure; its message never includes the request."""
    host = httpx.URL(url).host
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"timed out talking to {host} ({type(exc).__name__})", hint="retry; check egress")
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ConfigurationError(
            f"TLS certificate verification failed for {host}",
            hint="behind a TLS-inspecting proxy, pass its CA bundle (--ca-bundle / SFJWT_CA_BUNDLE)",
        )
    return TransientError(
        f"could not reach {host}: {type(exc).__name__}: {scrub(str(exc))}",
        hint="check the token URL, DNS and egress (proxy, firewall)",
    )


class TokenEndpoint:
    """An HTTP client kept for the process, so every exchange after the first reuses its connection."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        verify: bool | str | ssl.SSLContext = True,
        client: httpx.Client | None = None,
    ) -> None:
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=timeout, verify=_verify(verify), follow_redirects=False, headers=HEADERS
        )

    def post(self, token_url: str, assertion: str) -> RawResponse:
        try:
            with self.client.stream(
                "POST", token_url, data=request_body(assertion), headers=HEADERS, follow_redirects=False
            ) as response:
                body = CappedBody()
                for chunk in response.iter_raw():
                    body.add(chunk)
                return body.response(response)
        except httpx.HTTPError as exc:
            raise network_error(exc, token_url) from None

    def exchange(self, token_url: str, assertion: str) -> AccessToken:
        return read_token_response(self.post(token_url, assertion))

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


class AsyncTokenEndpoint:
    """The async twin of TokenEndpoint, on an httpx.AsyncClient (one per event loop)."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        verify: bool | str | ssl.SSLContext = True,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=timeout, verify=_verify(verify), follow_redirects=False, headers=HEADERS
        )

    async def post(self, token_url: str, assertion: str) -> RawResponse:
        try:
            async with self.client.stream(
                "POST", token_url, data=request_body(assertion), headers=HEADERS, follow_redirects=False
            ) as response:
                body = CappedBody()
                async for chunk in response.aiter_raw():
                    body.add(chunk)
                return body.response(response)
        except httpx.HTTPError as exc:
            raise network_error(exc, token_url) from None

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


class CappedBody:
    """Collects a response body, refusing to read past MAX_RESPONSE_BYTES."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise TransientError(
                f"the token endpoint's answer exceeds {MAX_RESPONSE_BYTES} bytes; not read further",
                hint="this is not a Salesforce token response: check the token URL",
            )

    def response(self, response: httpx.Response) -> RawResponse:
        return RawResponse(response.status_code, response.headers, _decode(response, self.data))


def _decode(response: httpx.Response, body: bytearray) -> bytes:
    """Undo content encoding ourselves, since we read raw bytes to enforce the cap."""
    encoding = response.headers.get("content-encoding", "").lower()
    if encoding in ("", "identity"):
        return bytes(body)
    if encoding in ("gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)
        out = decoder.decompress(bytes(body), MAX_RESPONSE_BYTES + 1)
        if len(out) > MAX_RESPONSE_BYTES:
            raise TransientError("the token endpoint's decompressed answer is too large")
        return out
    raise TransientError(f"the token endpoint used an unsupported content encoding {encoding!r}")


def _verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
