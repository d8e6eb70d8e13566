"""How long a replication waits before trying again after a peer failed it, and when it stops.

A peer that is down, restarting or overloaded answers nothing, resets the connection, times out
or answers 5xx: ``HttpStore`` raises ``Unavailable`` for all of them, and only that is retried
(401/403 and a missing database will not fix themselves). Waits grow exponentially from
``initial`` to ``maximum``, each jittered between half the ceiling and the ceiling, so replicas
that lost the same server do not all come back at the same instant (and none retries at once).
A one-shot run gives up once ``give_up_after`` seconds pass with no progress; a continuous one
(``None``) never does.

The schedule is pure: ``Backoff`` is handed the clock reading and the random draw, so its laws
(bounded waits, growing ceilings, giving up on time) are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from brainlink_docs.errors import Unavailable

T = TypeVar("T")
OnRetry = Callable[[Unavailable, float], None]

# CouchDB's replicator retries a request after 0.25 s, doubling each time (couch_replicator_
# httpc's wait); its scheduler caps a crashing job's back-off in minutes. Ours caps each wait at
# 30 s so a device coming back online resumes within half a minute.
DEFAULT_INITIAL_S = 0.25
DEFAULT_MAXIMUM_S = 30.0
# A one-shot replication (a command a person waits on) gives up after five minutes of failures.
DEFAULT_GIVE_UP_S = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Waits between attempts: from ``initial`` doubling to ``maximum`` seconds, jittered;
    give up after ``give_up_after`` seconds without progress (``None``: never)."""

    initial: float = DEFAULT_INITIAL_S
    maximum: float = DEFAULT_MAXIMUM_S
    give_up_after: float | None = DEFAULT_GIVE_UP_S

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("a retry policy needs 0 < initial <= maximum")
        if self.give_up_after is not None and self.give_up_after < 0:
            raise ValueError("give_up_after must not be negative")

    def forever(self) -> RetryPolicy:
        """The same waits, never giving up (continuous replication)."""
        return RetryPolicy(self.initial, self.maximum, None)


DEFAULT_RETRY = RetryPolicy()


@dataclass(slots=True)
class Backoff:
    """The failures since the last progress: how many, and since when (a clock reading)."""

    policy: RetryPolicy
    failures: int = 0
    first_failure: float | None = None

    def reset(self) -> None:
        """Progress was made: the next failure starts a new series."""
        self.failures = 0
        self.first_failure = None

    def ceiling(self) -> float:
        """The longest wait after the current number of failures."""
        exponent = min(max(self.failures - 1, 0), 64)  # 2**64 s is past any maximum already
        return min(self.policy.maximum, self.policy.initial * 2.0**exponent)

    def next_wait(self, now: float, draw: float) -> float | None:
        """Record a failure at clock reading ``now``; the seconds to wait before the next
        attempt (``draw`` in [0, 1) places it between half the ceiling and the ceiling), or
        ``None`` to give up."""
        if self.first_failure is None:
            self.first_failure = now
        self.failures += 1
        limit = self.policy.give_up_after
        if limit is not None and now - self.first_failure >= limit:
            return None
        wait = self.ceiling() * (1.0 + draw) / 2.0
        if limit is not None:
            wait = min(wait, self.first_failure + limit - now)
        return wait


async def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable[T]],
    *,
    progress: Callable[[], object] = lambda: None,
    on_retry: OnRetry | None = None,
) -> T:
    """``attempt()`` until it succeeds, waiting after each ``Unavailable`` as ``policy`` says;
    re-raises it once the policy gives up. ``progress()`` is any value that changes when an
    attempt got somewhere before failing: then the failures start a new series (a long
    replication over a flaky network never gives up while it advances). ``on_retry(exc, wait)``
    is told before each wait."""
    backoff = Backoff(policy)
    while True:
        before = progress()
        try:
            return await attempt()
        except Unavailable as exc:
            if progress() != before:
                backoff.reset()
            wait = backoff.next_wait(time.monotonic(), random.random())
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(exc, wait)
            await asyncio.sleep(wait)
