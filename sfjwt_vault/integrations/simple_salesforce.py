"""simple-salesforce that never expires: its `Salesforce`, logged in and kept logged in by `Credentials`.

    from sfjwt_vault.integrations.simple_salesforce import Salesforce

    sf = Salesforce(credentials=creds, version="65.0")   # simple-salesforce's other arguments as usual
    sf.query_all("SELECT Id FROM Account")

The login is `creds.get_token()` (the cached token when there is one: no second login). Every request
simple-salesforce sends with its Bearer token to the instance goes out through `CredentialsAuth`: it
carries the credentials' current token, and on a 401 INVALID_SESSION_ID (what simple-salesforce raises
as `SalesforceExpiredSession`) the token is marked dead, one new one is minted through the credentials'
single flight, and the request is sent again once. The object then adopts the new session: `session_id`,
`headers`, and the Metadata API helper are updated. That covers every `Salesforce` method that calls
`_call_salesforce` (query, query_all, query_more, restful, limits, describe, search, oauth2,
toolingexecute, apexecute, ...), every `SFType` call (`sf.Account.get/create/update/upsert/delete/...`),
and Bulk API 2.0 (`sf.bulk2`, each of its HTTP requests). Not retried: Bulk API 1.0 (`sf.bulk`, which
authenticates with `X-SFDC-Session`) and the Metadata API (SOAP): both take the session id current when
they are accessed. A policy-denied session (the REST-policy 401) is raised as simple-salesforce raises it,
and a session that is still refused after the one retry too: never a loop. Extra `simple-salesforce`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

try:
    import requests
    from simple_salesforce.api import Salesforce as SimpleSalesforce
except ImportError:  # pragma: no cover - exercised in a process without it (tests/integrations)
    from . import missing

    raise missing("simple_salesforce", "simple-salesforce", "simple-salesforce") from None

from ..credentials import Credentials
from ..errors import ConfigurationError
from .requests import CredentialsAuth

__all__ = ["Salesforce"]

# simple-salesforce's ways to log in or to name a session: the credentials do both here.
_LOGIN_ARGUMENTS = frozenset(
    {
        "username",
        "password",
        "security_token",
        "session_id",
        "instance",
        "instance_url",
        "organizationId",
        "client_id",
        "domain",
        "consumer_key",
        "consumer_secret",
        "privatekey_file",
        "privatekey",
    }
)


class Salesforce(SimpleSalesforce):
    """`simple_salesforce.Salesforce` logged in through `credentials`, renewing its session by itself."""

    def __init__(self, *, credentials: Credentials, **kwargs: Any) -> None:
        refused = sorted(set(kwargs) & _LOGIN_ARGUMENTS)
        if refused:
            raise ConfigurationError(
                f"Salesforce(credentials=...) logs in through the credentials; drop {', '.join(refused)}",
                hint="the consumer key, username, key and token URL are the Credentials' settings",
            )
        self.credentials = credentials
        token = credentials.get_token()
        session: requests.Session | None = kwargs.pop("session", None)
        if session is None:
            session = requests.Session()
            if kwargs.get("proxies") is not None:
                session.proxies = kwargs.pop("proxies")  # as simple-salesforce does with a session it makes
        renewing = _RenewingSession(session, CredentialsAuth(credentials), _origin(token.instance_url), self)
        super().__init__(
            session_id=token.access_token,
            instance_url=token.instance_url,
            session=cast(requests.Session, renewing),
            **kwargs,
        )

    def _adopt(self, authorization: str | None) -> None:
        """After a request: take on the session it was sent with, if it is a newer one."""
        if not authorization:
            return
        session_id = authorization.partition(" ")[2]
        current: str = self.session_id
        if session_id and session_id != current:
            self.session_id = session_id
            self._generate_headers()
            self._mdapi = None  # made again with the new session id when next used


class _RenewingSession:
    """The requests session simple-salesforce is given: the caller's, with `CredentialsAuth` on every
    request that carries simple-salesforce's Bearer token to the instance (REST, SFType, Bulk 2.0).
    Anything else (other hosts, Bulk 1.0's own header, SOAP) goes out untouched; every other attribute
    is the underlying session's."""

    def __init__(
        self, session: requests.Session, auth: CredentialsAuth, origin: tuple[str, int], owner: Salesforce
    ) -> None:
        self._session, self._auth, self._origin, self._owner = session, auth, origin, owner

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers: Mapping[str, str] = kwargs.get("headers") or {}
        if "Authorization" not in headers or _origin(url) != self._origin:
            return self._session.request(method, url, **kwargs)
        kwargs["auth"] = self._auth
        response = self._session.request(method, url, **kwargs)
        self._owner._adopt(response.request.headers.get("Authorization"))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _origin(url: str) -> tuple[str, int]:
    """An https URL's host and port, as compared: the instance's requests get the auth, no others."""
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port or 443)
