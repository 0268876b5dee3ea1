"""An aiosalesforce `Auth` backed by `Credentials`: the async path, single flight, one re-mint on expiry.

    from sfjwt_vault.integrations.aiosalesforce import CredentialsAuth

    token = await creds.get_token_async()
    async with httpx.AsyncClient() as http:
        sf = aiosalesforce.Salesforce(http, base_url=token.instance_url, auth=CredentialsAuth(creds))
        async for record in sf.query("SELECT Id FROM Account"):
            ...

aiosalesforce asks its `Auth` for a token before each request (`get_access_token`) and, after any 401,
for a new one (`refresh_access_token`), then retries once. The token comes from
`creds.get_token_async()`: cached, refreshed ahead of its assumed expiry (`expired` is true as soon as the
credentials would hand out another token), minted once for every task asking at the same time.

Which 401s re-mint: the auth watches the client's event bus (the `rest_api_call_consumption` event
carries every response) and marks the token dead only on an expired session (`session_expired`:
INVALID_SESSION_ID). The refresh then mints once; after the REST-policy 401 it hands back the same token,
so aiosalesforce's one retry fails as it should and no login is spent: never a loop. An auth shared by
several clients starts watching a client when it first gets a token for it; a 401 that reaches a
refresh from a client it was not yet watching is taken as an expired session (at most one extra login).
Extra `aiosalesforce`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

try:
    from aiosalesforce.auth import Auth
except ImportError:  # pragma: no cover - exercised in a process without it (tests/integrations)
    from . import missing

    raise missing("aiosalesforce", "aiosalesforce", "aiosalesforce") from None

from ..credentials import Credentials, session_expired

if TYPE_CHECKING:
    from aiosalesforce import Salesforce
    from aiosalesforce.events import Event, EventBus

    from ..token import AccessToken

__all__ = ["CredentialsAuth"]


class CredentialsAuth(Auth):
    """`aiosalesforce.Salesforce(..., auth=CredentialsAuth(creds))`."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self.credentials = credentials
        self._token: AccessToken | None = None
        self._watched: weakref.WeakSet[EventBus] = weakref.WeakSet()

    async def _acquire_new_access_token(self, client: Salesforce) -> str:
        self._watch(client)
        return await self._fetch()

    async def _refresh_access_token(self, client: Salesforce) -> str:
        if self._watch(client) and not self.expired and self._token is not None:
            self.credentials.invalidate(self._token)  # a 401 it did not see: taken as an expired session
        return await self._fetch()

    @property
    def expired(self) -> bool:
        """True when the credentials would hand out another token now: the refresh is due (or the token
        died), or another caller of the same credentials already holds a newer one."""
        current = self.credentials.cache.get(self.credentials.cache_key)
        return self._token is None or current is None or current.access_token != self._token.access_token

    async def _fetch(self) -> str:
        self._token = token = await self.credentials.get_token_async()
        return token.access_token

    def _watch(self, client: Salesforce) -> bool:
        """Subscribe to the client's responses once; True the first time."""
        bus = client.event_bus
        if bus in self._watched:
            return False
        bus.subscribe_callback(self._observe)
        self._watched.add(bus)
        return True

    async def _observe(self, event: Event) -> None:
        """Every response, before aiosalesforce acts on it: an expired session marks its token dead."""
        response = getattr(event, "response", None)
        token = self._token
        if event.type != "rest_api_call_consumption" or response is None or token is None:
            return
        sent_with = response.request.headers.get("Authorization")
        if sent_with == f"Bearer {token.access_token}" and session_expired(response):
            self.credentials.invalidate(token)

    def __repr__(self) -> str:
        return f"CredentialsAuth({self.credentials!r})"
