"""When to try again, how long to wait, and when to stop: the one retry policy and backoff of the project.

Transient failures (network, timeouts, 5xx, HTML or empty bodies, `unknown_error`, a key backend's
`TransientError` such as a sealed Vault or AWS throttling) back off exponentially with full jitter,
bounded by attempts and by an overall deadline. The deadline bounds the whole `get_token()` call: the
wait for another caller's exchange, the shared-cache store calls and lease waits, and every exchange
attempt (each read is cut at the deadline, not only the gaps between attempts). Configuration errors
are never retried. `expired authorization code` is retried once with a fresh assertion (the clock may
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
        return backoff(attempt, self.base_delay, self.max_delay, rng)


NO_RETRY = RetryPolicy(max_attempts=1)
_rng = random.Random()  # noqa: S311  # nosec B311 - jitter, not cryptography


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: a random delay in [0, min(cap, base * 2**(attempt-1))]."""
    return (rng or _rng).uniform(0, min(cap, base * 2 ** (attempt - 1)))


class Attempts:
    """State of one retried call. `next(error)` says whether and after how long to try again;
    `deadline` (a `time.monotonic()` instant) is when the whole call must be over."""

    __slots__ = ("count", "deadline", "expired_retried", "policy")

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.deadline = time.monotonic() + policy.deadline
        self.count = 0
        self.expired_retried = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

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
        if wait >= self.remaining():
            return None
        return wait, False
