"""The retry schedule's laws (pure: clock readings and random draws are given), and
``retrying`` around an attempt that fails a given number of times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import NotFound, Unavailable
from brainlink_docs.replication.backoff import Backoff, RetryPolicy, retrying

policies = st.builds(
    lambda initial, factor, give_up: RetryPolicy(initial, initial * factor, give_up),
    st.floats(min_value=0.001, max_value=5.0),
    st.floats(min_value=1.0, max_value=1000.0),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=600.0)),
)
draws = st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), min_size=1, max_size=40)
gaps = st.lists(st.floats(min_value=0.0, max_value=60.0), min_size=40, max_size=40)


@given(policies, draws, gaps)
def test_waits_stay_between_half_the_ceiling_and_the_ceiling_which_grows_to_the_maximum(
    policy: RetryPolicy, draws: list[float], gaps: list[float]
) -> None:
    backoff = Backoff(policy.forever())
    now, ceilings = 0.0, []
    for draw, gap in zip(draws, gaps, strict=False):
        wait = backoff.next_wait(now, draw)
        ceiling = backoff.ceiling()
        assert wait is not None
        assert ceiling / 2 <= wait <= ceiling <= policy.maximum
        ceilings.append(ceiling)
        now += wait + gap
    assert ceilings == sorted(ceilings)
    assert ceilings[0] == policy.initial


@given(policies, draws, gaps)
def test_a_series_gives_up_exactly_when_its_time_is_spent_and_never_waits_past_it(
    policy: RetryPolicy, draws: list[float], gaps: list[float]
) -> None:
    backoff = Backoff(policy)
    start = now = 100.0
    for draw, gap in zip(draws, gaps, strict=False):
        wait = backoff.next_wait(now, draw)
        if policy.give_up_after is not None and now - start >= policy.give_up_after:
            assert wait is None
            return
        assert wait is not None
        if policy.give_up_after is not None:
            assert now + wait <= start + policy.give_up_after + 1e-9
        now += wait + gap


@given(policies, st.integers(min_value=1, max_value=30))
def test_progress_starts_a_new_series(policy: RetryPolicy, failures: int) -> None:
    backoff = Backoff(policy.forever())
    for n in range(failures):
        backoff.next_wait(float(n), 0.5)
    backoff.reset()
    assert backoff.next_wait(1e6, 0.0) == policy.initial / 2
    assert backoff.ceiling() == policy.initial


def test_a_policy_must_make_sense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(initial=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial=2, maximum=1)
    with pytest.raises(ValueError):
        RetryPolicy(give_up_after=-1)


FAST = RetryPolicy(initial=0.001, maximum=0.01, give_up_after=5.0)


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise error
        return "done"

    return calls, attempt


def test_unavailable_is_retried_until_the_attempt_succeeds() -> None:
    calls, attempt = failing(3, Unavailable("reset"))
    told: list[tuple[str, float]] = []
    answer = asyncio.run(retrying(FAST, attempt, on_retry=lambda e, w: told.append((e.reason, w))))
    assert answer == "done"
    assert len(calls) == 4
    assert [reason for reason, _ in told] == ["reset"] * 3


def test_other_errors_are_not_retried() -> None:
    calls, attempt = failing(1, NotFound("Database does not exist."))
    with pytest.raises(NotFound):
        asyncio.run(retrying(FAST, attempt))
    assert len(calls) == 1


def test_a_one_shot_policy_gives_up_with_the_last_error() -> None:
    calls, attempt = failing(10**9, Unavailable("connection refused"))
    policy = RetryPolicy(initial=0.001, maximum=0.005, give_up_after=0.05)
    with pytest.raises(Unavailable, match="connection refused"):
        asyncio.run(retrying(policy, attempt))
    assert len(calls) > 2
