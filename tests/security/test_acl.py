"""Laws of ``_security`` checks (``couch_db:is_admin``/``is_member``), on generated objects."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.security.acl import (
    ADMIN_ONLY_SECURITY,
    ANONYMOUS,
    Principals,
    Security,
    UserCtx,
)

NAMES = st.sampled_from(["ana", "bob", "cy", "dee"])
ROLES = st.sampled_from(["staff", "ops", "guest", "_admin"])
users = st.builds(
    UserCtx,
    st.one_of(st.none(), NAMES),
    st.lists(ROLES, max_size=3).map(tuple),
)
principals = st.builds(
    Principals, st.frozensets(NAMES, max_size=3), st.frozensets(ROLES, max_size=3)
)
securities = st.builds(Security, principals, principals)


@given(securities, users)
def test_admins_are_members(security: Security, user: UserCtx) -> None:
    if security.is_admin(user):
        assert security.is_member(user)


@given(securities, st.one_of(st.none(), NAMES))
def test_server_admins_are_admins_of_every_database(security: Security, name: str | None) -> None:
    assert security.is_admin(UserCtx(name, ("_admin",)))


@given(principals, users)
def test_empty_members_make_a_public_database(admins: Principals, user: UserCtx) -> None:
    assert Security(admins, Principals()).is_member(user)


@given(securities, users, ROLES)
def test_more_roles_never_take_access_away(security: Security, user: UserCtx, role: str) -> None:
    richer = UserCtx(user.name, (*user.roles, role))
    assert security.is_member(richer) >= security.is_member(user)
    assert security.is_admin(richer) >= security.is_admin(user)


@given(securities)
def test_anonymous_is_a_member_only_of_public_databases(security: Security) -> None:
    public = security.members.empty
    assert security.is_member(ANONYMOUS) == (public or security.admins.include(ANONYMOUS))


def test_admin_only_default_lets_in_only_server_admins() -> None:
    security = Security.from_json(ADMIN_ONLY_SECURITY)
    assert security.is_member(UserCtx("root", ("_admin",)))
    assert not security.is_member(UserCtx("ana", ("staff",)))
    assert not security.is_member(ANONYMOUS)


@given(
    st.dictionaries(
        st.sampled_from(["admins", "members", "other"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(),
            st.dictionaries(
                st.sampled_from(["names", "roles"]),
                st.one_of(st.lists(st.one_of(st.text(), st.integers())), st.text(), st.none()),
            ),
        ),
    ),
    users,
)
def test_malformed_security_objects_never_raise(obj: dict[str, Any], user: UserCtx) -> None:
    security = Security.from_json(obj)
    security.is_member(user)
    security.is_admin(user)
