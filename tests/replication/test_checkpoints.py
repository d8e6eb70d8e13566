"""Laws of the checkpoint decisions (``replication.checkpoints``): pure, no stores."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.replication.checkpoints import (
    MAX_HISTORY,
    Session,
    next_log,
    start_seq,
)

sessions = st.lists(st.uuids().map(lambda u: u.hex), min_size=1, max_size=8, unique=True)


def log_of(history: list[tuple[str, str]]) -> dict[str, object]:
    """A log whose newest session is the first of ``history`` ((session, recorded seq), newest
    first)."""
    return {
        "session_id": history[0][0],
        "source_last_seq": history[0][1],
        "history": [{"session_id": s, "recorded_seq": seq} for s, seq in history],
    }


def test_no_log_on_either_side_starts_from_zero() -> None:
    log = log_of([("a", "5")])
    assert start_seq(None, None) == "0"
    assert start_seq(log, None) == "0"
    assert start_seq(None, log) == "0"


@given(sessions)
def test_the_same_newest_session_resumes_at_its_last_seq(ids: list[str]) -> None:
    history = [(s, f"{10 - i}-x") for i, s in enumerate(ids)]
    assert start_seq(log_of(history), log_of(history)) == history[0][1]


@given(sessions, st.data())
def test_sides_that_diverged_resume_at_the_newest_session_both_recorded(
    ids: list[str], data: st.DataObject
) -> None:
    """The target lost its newest sessions (a restore, a crash before its write): the run
    resumes where both agree, never at a sequence only the source recorded."""
    history = [(s, f"{100 - i}-x") for i, s in enumerate(ids)]
    lost = data.draw(st.integers(min_value=0, max_value=len(history) - 1))
    target = history[lost:]
    assert start_seq(log_of(history), log_of(target)) == history[lost][1]
    assert start_seq(log_of(target), log_of(history)) == history[lost][1]


@given(sessions, sessions)
def test_logs_with_no_session_in_common_start_from_zero(a: list[str], b: list[str]) -> None:
    b = [s + "-other" for s in b]
    history_a = [(s, "9-x") for s in a]
    history_b = [(s, "7-x") for s in b]
    assert start_seq(log_of(history_a), log_of(history_b)) == "0"


@given(st.integers(min_value=0, max_value=120))
def test_next_log_puts_this_session_first_once_and_keeps_the_history_bounded(n: int) -> None:
    previous = log_of([(f"old-{i}", f"{i}-x") for i in range(n)]) if n else None
    session = Session("now", "Fri, 04 Dec 2026 00:00:00 GMT", "3-x")
    log = next_log("rid", previous, session, "7-x", {"docs_read": 1}, "later")
    again = next_log("rid", log, session, "9-x", {"docs_read": 2}, "later")
    history = again["history"]
    assert isinstance(history, list)
    assert history[0]["session_id"] == "now" and history[0]["recorded_seq"] == "9-x"
    assert [e["session_id"] for e in history].count("now") == 1
    assert len(history) == min(n + 1, MAX_HISTORY)
    assert again["_id"] == "_local/rid" and again["source_last_seq"] == "9-x"
    assert start_seq(again, again) == "9-x"
