"""Small helpers shared by the flow tests."""

from __future__ import annotations

from typing import Any

from sfjwt_vault import Credentials
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.plugins import PluginHost
from sfjwt_vault.retry import RetryPolicy
from sfjwt_vault.testing.pytest_plugin import SalesforceApp

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, deadline=10.0)


def credentials_for(sf: SalesforceApp, host: PluginHost | None = None, **overrides: Any) -> Credentials:
    """Credentials for the emulator's app, with a private cache so tests never share tokens."""
    settings: dict[str, Any] = {
        "audience": sf.audience,
        "token_url": sf.token_url,
        "cache": TokenCache(),
        "retry": FAST_RETRY,
        "plugin_host": host,
    }
    settings.update(overrides)
    key = settings.pop("key", f"file:{sf.key_path}")
    consumer_key = settings.pop("consumer_key", sf.consumer_key)
    username = settings.pop("username", sf.username)
    return Credentials(consumer_key, username, key, **settings)
