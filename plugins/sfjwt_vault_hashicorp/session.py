"""One Vault client per process and configuration, kept logged in.

The token is checked lazily before each use, under a lock: renewed at about 2/3 of its TTL, and
replaced by a new login when renewal fails or the max TTL leaves too little of it. No background
thread: a process that makes no Vault call needs no token, and a lazy check cannot race a request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sfjwt_vault.plugin_api import ConfigurationError, quiet_sdk_logs

from . import auth
from .errors import VaultAgentTokenRefusedError, VaultTokenInvalidError, translate
from .settings import VaultSettings

log = logging.getLogger("sfjwt_vault.vault")

RENEW_FRACTION = 2 / 3


class VaultSession:
    """An hvac client plus its token lifecycle. Thread-safe; share one per process (`get_session`)."""

    def __init__(
        self,
        settings: VaultSettings,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._env = environ
        self._clock = clock
        self._lock = threading.RLock()
        self._client: Any = None
        self._logged_in = False
        self._renew_at: float | None = None
        self._expires_at: float | None = None
        self._login_ttl = 0
        self._secret_id: str | None = None  # only an unwrapped (single-use) secret id is kept
        self.logins = 0
        self.renewals = 0
        self.failed_renewals = 0
        self.mount_info: dict[str, tuple[str, int]] = {}

    def __repr__(self) -> str:
        return f"<VaultSession {self.settings.addr} auth={self.settings.auth} logins={self.logins}>"

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    def client(self) -> Any:
        """The hvac client with a usable token (logging in or renewing first if due)."""
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
                from .connection import warn_if_insecure

                warn_if_insecure(self.settings)
            if self.settings.auth == "token":
                self._client.token = auth.static_token(self.settings, self.env)
            elif self.settings.auth == "agent":
                self._client.token = auth.agent_token(self.settings)
            else:
                self._ensure_login()
            return self._client

    def _new_client(self) -> Any:
        try:
            from .connection import new_client
        except ImportError:
            raise ConfigurationError(
                "the vault: and vault-transit: schemes need hvac", hint="pip install 'sfjwt-vault[vault]'"
            ) from None
        if not self.settings.addr_from_env:
            log.debug("VAULT_ADDR/BAO_ADDR not set; using %s", self.settings.addr)
        return new_client(self.settings)

    def _ensure_login(self) -> None:
        now = self._clock()
        if not self._logged_in or (self._expires_at is not None and now >= self._expires_at):
            self._login()
        elif self._renew_at is not None and now >= self._renew_at:
            self._renew()

    def _login(self) -> None:
        # The whole login in one window: the secret-id unwrap calls hvac's raw adapter, bypassing the
        # client's QuietAdapter, and the AWS IAM login reads boto3's credentials.
        with quiet_sdk_logs():
            self._login_quietly()

    def _login_quietly(self) -> None:
        settings = self.settings
        # Log in on a client of its own: other threads keep using the shared client (and its current
        # token) until the new token is swapped in, in one assignment.
        login_client = self._new_client()
        if settings.auth == "approle" and self._secret_id is None:
            wrapped = (self.env.get("SFJWT_VAULT_WRAPPED_SECRET_ID") or "").strip()
            if wrapped:
                self._secret_id = auth.unwrap_secret_id(login_client, settings, wrapped)
        block = auth.login(login_client, settings, self.env, self._secret_id)
        login_client.adapter.close()
        self._client.token = block["client_token"]
        self.logins += 1
        self._login_ttl = int(block.get("lease_duration") or 0)
        self._logged_in = True
        self._schedule(self._login_ttl, renewable=bool(block.get("renewable")))
        log.debug("logged in to Vault with %s (ttl %ss)", settings.auth, self._login_ttl)

    def _schedule(self, ttl: int, *, renewable: bool) -> None:
        now = self._clock()
        if ttl <= 0:
            self._renew_at = self._expires_at = None  # a token without expiry
            return
        self._expires_at = now + ttl
        # A token that cannot be renewed is replaced by a new login at the same point instead.
        self._renew_at = now + ttl * RENEW_FRACTION
        if not renewable:
            self._expires_at = self._renew_at

    def _renew(self) -> None:
        import hvac.exceptions
        import requests

        try:
            response = self._client.auth.token.renew_self()
            ttl = int(response["auth"]["lease_duration"])
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException, KeyError, TypeError) as exc:
            self.failed_renewals += 1
            log.info("Vault token renewal failed (%s); logging in again", type(exc).__name__)
            self._login()
            return
        # Near the max TTL Vault caps the renewal: when less than a third of a login's TTL is granted,
        # logging in again now beats a token that expires between our check and the request.
        if ttl < max(1.0, self._login_ttl / 3):
            log.info("Vault token is near its max TTL; logging in again")
            self._login()
            return
        self.renewals += 1
        self._schedule(ttl, renewable=True)

    def invalidate(self) -> None:
        """Forget the token so the next use logs in again (after Vault refused it)."""
        with self._lock:
            self._logged_in = False

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        capability: str,
        policy_path: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """One Vault API call (path without /v1/) with typed errors. JSON body as a dict, or None on 204.

        A 403 is told apart: an invalid or expired token (lookup-self fails too) versus a policy that
        does not grant `capability` on `policy_path`. With a login method the token is replaced and the
        call tried once more; behind an Agent, a refusal followed by a valid lookup is tried once more too
        (the Agent may have logged in between the two), and only a second one is the policy's.
        """
        import hvac.exceptions
        import requests

        policy_path = policy_path or path
        for attempt in (1, 2):
            client = self.client()
            token = client.token
            try:
                response = client.adapter.request(method, "/v1/" + path, **kwargs)
            except hvac.exceptions.Forbidden as exc:
                if attempt == 1 and self.settings.auth != "token" and client.token != token:
                    continue  # another thread logged in meanwhile: the refusal was for the old token
                if self._token_valid(client):
                    if attempt == 1 and self.settings.auth == "agent":
                        # The Agent may have logged in between the refusal and the lookup (its proxy then
                        # answers the lookup with the new token): once more before calling it a policy.
                        continue
                    translate(exc, what=what, path=policy_path, capability=capability, addr=self.settings.addr)
                if self.settings.auth == "agent":  # the Agent logs in again; the next use reads its new token
                    raise VaultAgentTokenRefusedError(
                        f"the Vault Agent's token was refused (revoked or expired) while trying to {what}",
                        hint=_token_hint(self.settings),
                    ) from None
                if self.settings.auth != "token" and attempt == 1:
                    self.invalidate()
                    continue
                raise VaultTokenInvalidError(
                    f"the Vault token was refused (expired, revoked or invalid) while trying to {what}",
                    hint=_token_hint(self.settings),
                ) from None
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
                translate(exc, what=what, path=policy_path, capability=capability, addr=self.settings.addr)
            if isinstance(response, dict):
                return response
            if getattr(response, "status_code", 200) == 204:
                return None
            return response.json()
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_valid(self, client: Any) -> bool:
        import hvac.exceptions
        import requests

        if not client.token and self.settings.auth != "agent":  # through an Agent's proxy, ask anyway
            return False
        try:
            client.auth.token.lookup_self()
        except hvac.exceptions.Forbidden:
            return False
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException):
            return True  # cannot tell; report the original denial
        return True


def _token_hint(settings: VaultSettings) -> str:
    if settings.auth == "agent":
        return (
            "retried later: the Agent logs in again by itself (at its next renewal); if this persists, check "
            "the Agent's auto_auth in its log, and that VAULT_ADDR is its listener (api_proxy with "
            "use_auto_auth_token) or SFJWT_VAULT_TOKEN_FILE its sink"
        )
    if settings.auth == "token":
        return (
            "set a valid VAULT_TOKEN (or BAO_TOKEN), SFJWT_VAULT_TOKEN_FILE or ~/.vault-token, point VAULT_ADDR "
            "at a Vault Agent with auto-auth, or use SFJWT_VAULT_AUTH=approle|jwt|kubernetes|aws"
        )
    return f"the {settings.auth} login gave a token Vault refused: check the role's token policies and TTLs"


_sessions: dict[tuple[object, ...], VaultSession] = {}
_sessions_lock = threading.Lock()


def get_session(environ: Mapping[str, str] | None = None) -> VaultSession:
    """The process-wide session for the current environment's settings (created once, then reused)."""
    settings = VaultSettings.from_env(environ)
    key = settings.cache_key()
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = VaultSession(settings, environ)
        return session


def reset_sessions() -> None:
    """Drop every cached session (tests; after changing credentials in the environment)."""
    with _sessions_lock:
        _sessions.clear()
