"""A `requests` auth backed by `Credentials`: the token on every request, one re-mint on an expired session.

    from sfjwt_vault.integrations.requests import CredentialsAuth

    session = requests.Session()
    session.auth = CredentialsAuth(creds)
    session.get(f"{creds.get_token().instance_url}/services/data/v65.0/limits")

Each request carries the credentials' current token (cached, refreshed ahead of its assumed expiry). A
401 that `session_expired` calls an expired session (INVALID_SESSION_ID) marks that token dead, mints
once through the credentials' single flight (however many threads hit it together) and sends the
request again, once, with the new token; the first answer stays in `response.history`. The REST-policy
401 and 403 REQUEST_LIMIT_EXCEEDED come back as they are: a new token would not change them. A body that
cannot be sent twice (a generator, a file object) is not retried. Extra `requests`.
"""

from __future__ import annotations

import functools
from typing import Any

try:
    import requests
    from requests.auth import AuthBase
    from requests.hooks import default_hooks
except ImportError:  # pragma: no cover - exercised in a process without requests (tests/test_integrations_extras.py)
    from . import missing

    raise missing("requests", "requests", "requests") from None

from ..credentials import Credentials, session_expired
from ..token import AccessToken

__all__ = ["CredentialsAuth"]


class CredentialsAuth(AuthBase):
    """`auth=CredentialsAuth(creds)` on a request or a `requests.Session`."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.credentials.get_token()
        request.headers["Authorization"] = token.authorization_header()
        request.register_hook("response", functools.partial(self._renew, token))  # type: ignore[no-untyped-call]
        return request

    def _renew(self, token: AccessToken, response: requests.Response, **send_options: Any) -> requests.Response:
        """The response hook: on an expired session, one new token and one more try of the same request."""
        if not session_expired(response):
            return response
        retry = response.request.copy()
        if not isinstance(retry.body, (bytes, str, type(None))):
            return response  # a stream already consumed by the first try
        response.close()  # its body is read (session_expired did): the connection goes back to the pool
        self.credentials.invalidate(token)  # marks it dead: the token below is another one
        retry.headers["Authorization"] = self.credentials.get_token().authorization_header()
        retry.hooks = default_hooks()  # this hook does not run on the retry: once, never a loop
        answer: requests.Response = response.connection.send(retry, **send_options)
        answer.history.append(response)
        answer.request = retry
        return answer

    def __repr__(self) -> str:
        return f"CredentialsAuth({self.credentials!r})"
