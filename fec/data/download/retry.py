"""Retrying transient failures: the backoff policy and the loop that applies it to one URL."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fec.data.download.outcomes import FAILED, Payload, PermanentError, TransientError, UrlOutcome


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying a transient failure."""

    retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt `attempt` (0-based): doubling backoff, jittered to
        [50%, 100%], never shorter than the server's Retry-After (itself capped at max_retry_after)."""
        backoff = min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + 0.5 * rng.random())
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.max_retry_after))


def fetch_with_retries(
    url: str,
    fetch: Callable[[str], Payload],
    policy: RetryPolicy,
    stop: threading.Event,
    rng: random.Random,
) -> Payload | UrlOutcome:
    """The payload, or the failure outcome once a permanent error or the last retry is reached."""
    attempt = 0
    while True:
        attempt += 1
        try:
            payload = fetch(url)
        except PermanentError as exc:
            return UrlOutcome(url, exc.status, http=exc.code, error=str(exc), attempts=attempt, source="http")
        except TransientError as exc:
            last_try = attempt > policy.retries
            if last_try or stop.wait(policy.delay(attempt - 1, exc.retry_after, rng)):
                error = str(exc) if last_try else f"{exc} (interrupted)"
                return UrlOutcome(url, FAILED, http=exc.code, error=error, attempts=attempt, source="http")
        else:
            payload.attempts = attempt
            return payload
