"""Hybrid logical clocks: a tick is after everything seen, whatever the wall clock says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.clock import ZERO, Hlc, latest, parse_hlc, tick

replicas = st.text(alphabet="abcdef0123456789-.:", min_size=1, max_size=12)
walls = st.integers(min_value=0, max_value=2**52)
clocks = st.builds(Hlc, walls, st.integers(min_value=0, max_value=2**20), replicas)


@given(st.one_of(st.none(), clocks), walls, replicas)
def test_a_tick_is_after_what_was_seen_and_not_before_the_wall_clock(
    seen: Hlc | None, now: int, replica: str
) -> None:
    new = tick(seen, now, replica)
    assert seen is None or new > seen
    assert new.wall >= now
    assert new.replica == replica


@given(st.lists(st.tuples(replicas, walls), min_size=1, max_size=30))
def test_edits_made_one_after_another_are_ordered_whatever_each_device_clock_says(
    edits: list[tuple[str, int]],
) -> None:
    """Devices with skewed clocks passing one document around: each edit sees the last one's
    clock, so the clocks grow in the order the edits were made."""
    seen: Hlc | None = None
    order = []
    for replica, now in edits:
        seen = tick(seen, now, replica)
        order.append(seen)
    assert order == sorted(order)
    assert len(set(order)) == len(order)


@given(clocks)
def test_a_clock_survives_its_text(clock: Hlc) -> None:
    assert parse_hlc(str(clock)) == clock


@given(clocks, clocks)
def test_text_and_clock_order_agree_for_fixed_width_walls(a: Hlc, b: Hlc) -> None:
    assert (parse_hlc(str(a)) < parse_hlc(str(b))) == (a < b)


@pytest.mark.parametrize("bad", [None, 7, "", "abc", "1-2", "zz-1-r", "1-zz-r", "-1-r"])
def test_what_is_not_a_clock_is_a_bad_request(bad: object) -> None:
    with pytest.raises(BadRequest):
        parse_hlc(bad)


def test_zero_survives_its_text_and_is_below_every_tick() -> None:
    assert parse_hlc(str(ZERO)) == ZERO
    assert tick(None, 0, "a") > ZERO


def test_latest_and_an_empty_replica() -> None:
    assert latest(None, Hlc(1, 0, "a"), Hlc(1, 1, "a")) == Hlc(1, 1, "a")
    assert latest() is None
    with pytest.raises(ValueError):
        tick(None, 1, "")
