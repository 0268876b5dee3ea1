"""Payloads of the event hooks. They describe what happened without any secret in them.

NamedTuples, not dataclasses: as immutable, and cheaper to define (the cold-start budget counts).
"""

from __future__ import annotations

from typing import NamedTuple


class TokenIssued(NamedTuple):
    """A token exchange succeeded. No access token here: only where it came from and for whom."""

    token_url: str
    audience: str
    consumer_key_hint: str
    username: str
    instance_url: str
    key_scheme: str
    duration_ms: float


class ExchangeFailed(NamedTuple):
    """A mint or token exchange failed. `error` is Salesforce's error code or our error class name."""

    token_url: str
    audience: str
    consumer_key_hint: str
    username: str
    key_scheme: str
    error: str
    description: str
    retryable: bool
    duration_ms: float


def consumer_key_hint(consumer_key: str) -> str:
    """Enough of the consumer key to tell apps apart in logs, not enough to be the key."""
    return consumer_key[:6] + "…" if len(consumer_key) > 10 else "…"
