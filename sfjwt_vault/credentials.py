"""Credentials: four settings in, a Salesforce access token out.

Each mint fetches the key just in time (or asks a remote signer), signs a fresh assertion and exchanges
it. The key is never kept between mints.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Mapping
from typing import Any

import httpx

from . import endpoints
from .assertion import DEFAULT_LIFETIME, build_claims, sign_assertion
from .errors import ConfigurationError, InvalidAssertionError, SfjwtError
from .events import ExchangeFailed, TokenIssued, consumer_key_hint
from .exchange import DEFAULT_TIMEOUT, TokenEndpoint
from .keyref import KeyRef
from .keys import open_signer
from .plugins import PluginHost, get_host
from .token import AccessToken

log = logging.getLogger("sfjwt_vault")

_TRUE = {"1", "true", "yes", "on"}


class Credentials:
    """JWT Bearer credentials for one Connected App (consumer key) and one user.

    `audience` defaults to production (`https://login.salesforce.com`), or to the sandbox audience with
    `sandbox=True`; `token_url` defaults to the audience's host. Set them apart for My Domain token
    hosts and External Client Apps.
    """

    def __init__(
        self,
        consumer_key: str,
        username: str,
        key: str | KeyRef,
        *,
        audience: str | None = None,
        token_url: str | None = None,
        sandbox: bool = False,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        verify: bool | str | ssl.SSLContext = True,
        assertion_lifetime: int = DEFAULT_LIFETIME,
        rotation_fallback: bool = False,
        http_client: httpx.Client | None = None,
        plugin_host: PluginHost | None = None,
    ) -> None:
        self.consumer_key = _required("consumer key", consumer_key, "SF_CONSUMER_KEY")
        self.username = _required("username", username, "SF_USERNAME")
        self.key = KeyRef.parse(key)
        if audience is None:
            audience = endpoints.SANDBOX if sandbox else endpoints.PRODUCTION
        self.audience = endpoints.normalize_audience(audience)
        self.token_url = (
            endpoints.normalize_token_url(token_url) if token_url else endpoints.default_token_url(self.audience)
        )
        if not 1 <= assertion_lifetime <= 180:
            raise ConfigurationError(
                "assertion_lifetime must be 1 to 180 seconds", hint="Salesforce wants exp within 3 minutes"
            )
        self.assertion_lifetime = assertion_lifetime
        self.rotation_fallback = rotation_fallback
        self._host = plugin_host
        self._endpoint = TokenEndpoint(timeout=timeout, verify=verify, client=http_client)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Credentials:
        """Read SF_CONSUMER_KEY, SF_USERNAME, SFJWT_KEY, SF_AUDIENCE, SF_TOKEN_URL, SF_SANDBOX,
        SFJWT_CA_BUNDLE, SFJWT_TIMEOUT and SFJWT_ROTATION_FALLBACK; keyword arguments override them."""
        env = os.environ if environ is None else environ
        settings: dict[str, Any] = {
            "consumer_key": env.get("SF_CONSUMER_KEY", ""),
            "username": env.get("SF_USERNAME", ""),
            "key": env.get("SFJWT_KEY", ""),
            "audience": env.get("SF_AUDIENCE") or None,
            "token_url": env.get("SF_TOKEN_URL") or None,
            "sandbox": env.get("SF_SANDBOX", "").strip().lower() in _TRUE,
            "rotation_fallback": env.get("SFJWT_ROTATION_FALLBACK", "").strip().lower() in _TRUE,
        }
        if env.get("SFJWT_CA_BUNDLE"):
            settings["verify"] = env["SFJWT_CA_BUNDLE"]
        if env.get("SFJWT_TIMEOUT"):
            try:
                settings["timeout"] = float(env["SFJWT_TIMEOUT"])
            except ValueError:
                raise ConfigurationError("SFJWT_TIMEOUT must be a number of seconds") from None
        settings.update(overrides)
        missing = [
            var
            for var, name in (("SF_CONSUMER_KEY", "consumer_key"), ("SF_USERNAME", "username"), ("SFJWT_KEY", "key"))
            if not settings.get(name)
        ]
        if missing:
            raise ConfigurationError(
                f"missing configuration: {', '.join(missing)}",
                hint="set them in the environment (see the README's configuration table)",
            )
        return cls(**settings)

    @property
    def plugin_host(self) -> PluginHost:
        return self._host or get_host()

    def get_token(self) -> AccessToken:
        """Mint an assertion and exchange it for an access token."""
        return self._mint()

    def mint_assertion(self, key: KeyRef | None = None) -> str:
        """A signed assertion for this app and user. It is a credential for 3 minutes: never log it."""
        with open_signer(key or self.key, self.plugin_host) as signer:
            claims = build_claims(
                self.consumer_key, self.username, self.audience, lifetime=self.assertion_lifetime
            )
            return sign_assertion(claims, signer)

    def _mint(self) -> AccessToken:
        started = time.perf_counter()
        try:
            try:
                token = self._endpoint.exchange(self.token_url, self.mint_assertion())
            except InvalidAssertionError:
                previous = self.plugin_host.previous_key_ref(self.key) if self.rotation_fallback else None
                if previous is None:
                    raise
                log.info("invalid assertion with the current key of %s; trying the previous version once", self.key)
                token = self._endpoint.exchange(self.token_url, self.mint_assertion(previous))
        except SfjwtError as exc:
            self._notify_failure(exc, started)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("token issued for %s via %s in %.1f ms", self.username, self.token_url, elapsed)
        self.plugin_host.notify(
            "sfjwt_token_issued",
            event=TokenIssued(
                token_url=self.token_url,
                audience=self.audience,
                consumer_key_hint=consumer_key_hint(self.consumer_key),
                username=self.username,
                instance_url=token.instance_url,
                key_scheme=self.key.scheme,
                duration_ms=elapsed,
            ),
        )
        return token

    def _notify_failure(self, exc: SfjwtError, started: float) -> None:
        error = getattr(exc, "error", type(exc).__name__)
        description = getattr(exc, "description", exc.message)
        log.debug("token request for %s failed: %s", self.username, error)
        self.plugin_host.notify(
            "sfjwt_exchange_failed",
            event=ExchangeFailed(
                token_url=self.token_url,
                audience=self.audience,
                consumer_key_hint=consumer_key_hint(self.consumer_key),
                username=self.username,
                key_scheme=self.key.scheme,
                error=error,
                description=description,
                retryable=exc.retryable,
                duration_ms=(time.perf_counter() - started) * 1000,
            ),
        )

    def close(self) -> None:
        self._endpoint.close()

    def __enter__(self) -> Credentials:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Credentials(consumer_key={consumer_key_hint(self.consumer_key)!r}, username={self.username!r}, "
            f"key={str(self.key)!r}, audience={self.audience!r}, token_url={self.token_url!r})"
        )


def _required(name: str, value: str, env: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ConfigurationError(f"the {name} is empty", hint=f"set {env} or pass it explicitly")
    if any(c.isspace() for c in value):
        raise ConfigurationError(f"the {name} contains whitespace", hint="copy it again without spaces or newlines")
    return value
