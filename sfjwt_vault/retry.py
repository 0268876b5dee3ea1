"""When to try a token exchange again, and how long to wait: one policy for the sync and async paths.

Transient failures (network, timeouts, 5xx, HTML or empty bodies, `unknown_error`) back off
exponentially with full jitter, bounded by attempts and a total deadline. Configuration errors are
never retried. `expired authorization code` is retried once with a fresh assertion (the clock may
have stepped); `login rate exceeded` is never retried: hammering would only extend the lockout.
"""

from __future__ import annotations

import random
import time
from typing import NamedTuple

from .errors import AssertionExpiredError, SfjwtError, TransientError


class RetryPolicy(NamedTuple):
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter backoff before attempt `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return (rng or _rng).uniform(0, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)
_rng = random.Random()  # noqa: S311  # nosec B311 - jitter, not cryptography


class Attempts:
    """State of one retried exchange. `next(error)` says whether and after how long to try again."""

    __slots__ = ("count", "expired_retried", "policy", "started")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.started = time.monotonic()
        self.count = 0
        self.expired_retried = False

    def next(self, error: SfjwtError) -> tuple[float, bool] | None:
        """(seconds to wait, whether to mint a fresh assertion), or None to give up and raise."""
        self.count += 1
        if isinstance(error, AssertionExpiredError):
            if self.expired_retried:
                return None
            self.expired_retried = True
            return 0.0, True
        if not isinstance(error, TransientError) or self.count >= self.policy.max_attempts:
            return None
        wait = self.policy.delay(self.count)
        if time.monotonic() - self.started + wait > self.policy.deadline:
            return None
        return wait, False
