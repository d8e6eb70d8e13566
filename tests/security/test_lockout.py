"""``chttpd_auth_lockout``'s rule as a law: locked exactly when ``threshold`` failures of the
same (user, address) fall within the window; other pairs are unaffected; the table is bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.security.lockout import Lockout, account

WINDOW = 10.0
KEYS = st.tuples(st.sampled_from(["ana", "bob"]), st.sampled_from(["10.0.0.1", "10.0.0.2"]))
events = st.lists(st.tuples(KEYS, st.floats(0, 5)), max_size=30)


@given(st.integers(1, 6), events, KEYS)
def test_locked_iff_threshold_failures_within_the_window(
    threshold: int, steps: list[tuple[tuple[str, str], float]], probe: tuple[str, str]
) -> None:
    lockout = Lockout(threshold, WINDOW)
    now = 0.0
    history: list[tuple[tuple[str, str], float]] = []
    for key, gap in steps:
        now += gap
        lockout.fail(*key, now=now)
        history.append((key, now))
    recent = [t for key, t in history if key == probe and t > now - WINDOW]
    assert lockout.locked(*probe, now=now) == (len(recent) >= threshold)


def test_the_lock_lifts_when_failures_age_out_and_success_clears() -> None:
    lockout = Lockout(3, WINDOW)
    for t in (0.0, 1.0, 2.0):
        lockout.fail("ana", "a", now=t)
    assert lockout.locked("ana", "a", now=2.0)
    assert not lockout.locked("ana", "b", now=2.0)
    assert not lockout.locked("bob", "a", now=2.0)
    assert not lockout.locked("ana", "a", now=10.5)  # the first failure left the window
    lockout.fail("ana", "a", now=11.0)
    lockout.succeed("ana", "a")
    assert not lockout.locked("ana", "a", now=11.0)


@given(st.integers(1, 50))
def test_the_table_never_grows_past_max_objects(max_objects: int) -> None:
    lockout = Lockout(2, WINDOW, max_objects)
    for i in range(max_objects * 3):
        lockout.fail(f"user{i}", "addr", now=float(i) / 1000)
    assert len(lockout._failures) <= max_objects


def test_a_new_salt_is_a_new_account_with_no_failures() -> None:
    # chttpd_auth_lockout keys by {Peer, UserName, UserSalt}: an admin's new password unlocks.
    lockout = Lockout(2, WINDOW)
    for t in (0.0, 1.0):
        lockout.fail(account("ana", "old-salt"), "a", now=t)
    assert lockout.locked(account("ana", "old-salt"), "a", now=1.0)
    assert not lockout.locked(account("ana", "new-salt"), "a", now=1.0)
