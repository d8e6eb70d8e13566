"""``AuthSession`` cookies: they round-trip, verify only with the right secret and salt, expire,
refresh at 10% of their life, and any change to their bytes makes them worthless."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import BadRequest
from brainlink_docs.security.sessions import (
    cookie_valid,
    make_cookie,
    needs_refresh,
    parse_cookie,
)

SECRET, SALT, TIMEOUT, T0 = "server-secret", "user-salt", 600, 1_800_000_000
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=":"), min_size=1, max_size=20
)


@given(names, st.integers(0, 2**40))
def test_a_cookie_round_trips_and_verifies(name: str, issued: int) -> None:
    cookie = parse_cookie(make_cookie(SECRET, SALT, name, issued))
    assert (cookie.name, cookie.issued) == (name, issued)
    assert cookie_valid(cookie, SECRET, SALT, issued, TIMEOUT)


@given(names)
def test_another_secret_or_salt_does_not_verify(name: str) -> None:
    cookie = parse_cookie(make_cookie(SECRET, SALT, name, T0))
    assert not cookie_valid(cookie, "other-secret", SALT, T0, TIMEOUT)
    assert not cookie_valid(cookie, SECRET, "new-salt-after-password-change", T0, TIMEOUT)


@given(names, st.data())
def test_any_changed_byte_is_refused_or_malformed(name: str, data: st.DataObject) -> None:
    raw = bytearray(base64.urlsafe_b64decode(_padded(make_cookie(SECRET, SALT, name, T0))))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    try:
        cookie = parse_cookie(forged)
    except BadRequest:
        return
    assert not cookie_valid(cookie, SECRET, SALT, T0, TIMEOUT)


def test_expiry_and_refresh_follow_the_timeout() -> None:
    cookie = parse_cookie(make_cookie(SECRET, SALT, "ana", T0))
    assert cookie_valid(cookie, SECRET, SALT, T0 + TIMEOUT, TIMEOUT)
    assert not cookie_valid(cookie, SECRET, SALT, T0 + TIMEOUT + 1, TIMEOUT)
    assert not needs_refresh(cookie, T0 + 0.05 * TIMEOUT, TIMEOUT)
    assert needs_refresh(cookie, T0 + 0.2 * TIMEOUT, TIMEOUT)


@pytest.mark.parametrize("value", ["", "!!!", "bm9jb2xvbnM", "a" * 5000, "YTpaWjpx"])
def test_malformed_cookies_are_a_clear_400(value: str) -> None:
    with pytest.raises(BadRequest, match="Malformed AuthSession cookie"):
        parse_cookie(value)


def _padded(value: str) -> str:
    return value + "=" * (-len(value) % 4)
