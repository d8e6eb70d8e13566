"""The ``_users`` rules as pure functions: CouchDB's ``_auth`` validate_doc_update reasons,
passwords replaced by PBKDF2 fields, and what a non-admin may read back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import Forbidden, NotFound
from brainlink_docs.security.acl import Security, UserCtx
from brainlink_docs.security.passwords import verify_password
from brainlink_docs.security.users import (
    SECRET_FIELDS,
    UserRecord,
    check_write_allowed,
    prepare_user_doc,
    redact_for,
    user_db_name,
)

PUBLIC = Security()
ADMIN = UserCtx("root", ("_admin",))
ANA = UserCtx("ana", ())
ITER = 10


def user_doc(name: str = "ana", **extra: Any) -> dict[str, Any]:
    return {"_id": f"org.couchdb.user:{name}", "name": name, "roles": [], "type": "user", **extra}


def prepare(doc: dict[str, Any], old: dict[str, Any] | None, user: UserCtx) -> dict[str, Any]:
    return prepare_user_doc(doc, old, user, PUBLIC, iterations=ITER)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({**user_doc(), "type": "person"}, "doc.type must be user"),
        ({**user_doc(), "name": ""}, "doc.name is required"),
        ({**user_doc(), "roles": None}, "doc.roles must exist"),
        ({**user_doc(), "roles": "staff"}, "doc.roles must be an array"),
        ({**user_doc(), "roles": [1]}, "doc.roles can only contain strings"),
        ({**user_doc(), "_id": "org.couchdb.user:bob"}, "Doc ID must be of the form"),
        (user_doc("_sys"), "Username may not start with underscore."),
        (user_doc("a:b"), "Character `:` is not allowed in usernames."),
        (user_doc(roles=["_admin"]), "No system roles"),
        (user_doc(password_scheme="pbkdf2", derived_key="x"), "iterations must be a number."),
        (user_doc(password_sha="abc"), "Users with password_sha must have a salt."),
    ],
)
def test_malformed_user_docs_are_refused_with_couchdbs_reasons(
    doc: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Forbidden, match=reason):
        prepare(doc, None, ADMIN)


def test_a_password_is_replaced_by_a_pbkdf2_hash() -> None:
    stored = prepare(user_doc(password="hunter2"), None, UserCtx(None))
    assert "password" not in stored
    assert stored["password_scheme"] == "pbkdf2"
    assert stored["pbkdf2_prf"] == "sha256"
    assert stored["iterations"] == ITER
    record = UserRecord.from_doc(stored)
    assert record is not None and record.password is not None
    assert verify_password("hunter2", record.password)
    assert not verify_password("hunter3", record.password)


def test_non_admins_cannot_set_or_edit_roles_but_admins_can() -> None:
    with pytest.raises(Forbidden, match="Only _admin may set roles"):
        prepare(user_doc(roles=["boss"]), None, UserCtx(None))
    old = prepare(user_doc(password="pw"), None, UserCtx(None))
    with pytest.raises(Forbidden, match="Only _admin may edit roles"):
        prepare({**old, "roles": ["boss"]}, old, ANA)
    assert prepare({**old, "roles": ["boss"]}, old, ADMIN)["roles"] == ["boss"]


def test_names_cannot_change_and_others_cannot_update() -> None:
    old = prepare(user_doc(password="pw"), None, ADMIN)
    # The id names the user, so only an old doc whose name differs from it reaches the check.
    with pytest.raises(Forbidden, match="Usernames can not be changed"):
        prepare(dict(old), {**old, "name": "ann"}, ADMIN)
    with pytest.raises(Forbidden, match="You may only update your own user document"):
        prepare(dict(old), old, UserCtx("bob"))


def test_who_may_write_which_user_doc() -> None:
    check_write_allowed("org.couchdb.user:ana", ANA, PUBLIC, signup=True)
    check_write_allowed("org.couchdb.user:bob", ADMIN, PUBLIC, signup=True)
    check_write_allowed("org.couchdb.user:new", UserCtx(None), PUBLIC, signup=True)
    with pytest.raises(NotFound):
        check_write_allowed("org.couchdb.user:bob", ANA, PUBLIC, signup=True)
    with pytest.raises(Forbidden, match="Sign-up is disabled"):
        check_write_allowed("org.couchdb.user:new", UserCtx(None), PUBLIC, signup=False)


def test_round_tripping_the_redacted_doc_keeps_the_password() -> None:
    old = prepare(user_doc(password="pw"), None, UserCtx(None))
    old["_rev"] = "1-a"
    seen = redact_for(dict(old), ANA, ())
    assert not set(SECRET_FIELDS) & set(seen)
    updated = prepare({**seen, "theme": "dark"}, old, ANA)
    assert updated["theme"] == "dark"
    record = UserRecord.from_doc(updated)
    assert record is not None and record.password is not None
    assert verify_password("pw", record.password)


def test_other_users_docs_are_404_unless_public_fields_are_configured() -> None:
    doc = {**user_doc("bob", password_scheme="pbkdf2", salt="s"), "_rev": "1-a", "theme": "x"}
    with pytest.raises(NotFound):
        redact_for(dict(doc), ANA, ())
    assert redact_for(dict(doc), ANA, ("theme",)) == {
        "_id": doc["_id"],
        "_rev": "1-a",
        "theme": "x",
    }


@given(st.text(min_size=1, max_size=30))
def test_user_db_name_is_the_prefix_and_utf8_hex(name: str) -> None:
    db = user_db_name(name)
    assert db.startswith("userdb-")
    assert bytes.fromhex(db.removeprefix("userdb-")).decode("utf-8") == name
    assert db == db.lower()


@given(
    st.lists(st.sampled_from(["a", "b", "_x"]), max_size=3),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
)
def test_a_non_admin_write_never_changes_roles(old_roles: list[str], new_roles: list[str]) -> None:
    old = {**user_doc(), "roles": old_roles, "_rev": "1-a"}
    try:
        stored = prepare({**old, "roles": new_roles}, old, ANA)
    except Forbidden:
        return
    assert sorted(stored["roles"]) == sorted(old_roles)
