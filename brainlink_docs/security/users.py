"""The ``_users`` database's rules: what a user document must look like and who may write it.

CouchDB enforces these in two places, both reproduced here as pure functions: the ``_auth`` design
document's ``validate_doc_update`` (shape, names, roles) and ``couch_users_db`` (a clear-text
``password`` is replaced by a PBKDF2 hash before the write; a non-admin reads only their own
document). One departure, on purpose: a non-admin reading their own document does not get its
hash fields back (``derived_key``, ``salt``, ``password_sha``); an update that leaves them out
keeps the stored ones, so a client can still round-trip its own document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brainlink_docs.errors import Forbidden, NotFound
from brainlink_docs.security.acl import Security, UserCtx
from brainlink_docs.security.passwords import DEFAULT_PRF, PasswordHash, hash_password

USERS_DB = "_users"
USER_PREFIX = "org.couchdb.user:"
# Fields a non-admin never reads back: they would let them attack the password offline.
SECRET_FIELDS = ("derived_key", "salt", "password_sha")
CREDENTIAL_FIELDS = ("password_scheme", "iterations", "pbkdf2_prf", *SECRET_FIELDS)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What authentication needs from a user document."""

    name: str
    roles: tuple[str, ...]
    password: PasswordHash | None

    @property
    def salt(self) -> str:
        """What session cookies are keyed with besides the server secret: a new password
        brings a new salt, which ends every cookie made before."""
        return self.password.salt if self.password is not None else ""

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> UserRecord | None:
        name = doc.get("name")
        if doc.get("type") != "user" or not isinstance(name, str) or doc.get("_deleted"):
            return None
        roles = tuple(r for r in doc.get("roles") or () if isinstance(r, str))
        return cls(name, roles, stored_password(doc))


def stored_password(doc: Mapping[str, Any]) -> PasswordHash | None:
    if doc.get("password_scheme") != "pbkdf2":
        return None
    key, salt, iterations = doc.get("derived_key"), doc.get("salt"), doc.get("iterations")
    if not isinstance(key, str) or not isinstance(salt, str) or not isinstance(iterations, int):
        return None
    prf = doc.get("pbkdf2_prf") or "sha1"
    return PasswordHash(str(prf), key, salt, iterations)


def user_doc_id(name: str) -> str:
    return USER_PREFIX + name


def doc_user_name(doc_id: str) -> str | None:
    return doc_id[len(USER_PREFIX) :] if doc_id.startswith(USER_PREFIX) else None


def user_db_name(name: str, prefix: str = "userdb-") -> str:
    """``couch_peruser``'s name: the prefix and the hex of the UTF-8 user name."""
    return prefix + name.encode("utf-8").hex()


def check_write_allowed(doc_id: str, user: UserCtx, security: Security, signup: bool) -> None:
    """``couch_users_db:before_doc_update``'s gate: admins write all, users their own doc,
    anonymous clients only sign up (a new doc; an existing id is a plain conflict)."""
    if security.is_admin(user):
        return
    if user.name is None:
        if not signup:
            raise Forbidden("Sign-up is disabled on this server.")
        return
    if doc_user_name(doc_id) != user.name:
        raise NotFound("missing")


def prepare_user_doc(
    doc: dict[str, Any],
    old: Mapping[str, Any] | None,
    user: UserCtx,
    security: Security,
    *,
    iterations: int,
) -> dict[str, Any]:
    """The document to store for a write of ``doc`` over ``old`` (the current winner, if any).

    Raises ``Forbidden`` with CouchDB's ``validate_doc_update`` reasons. Deletions skip the
    shape checks, as in CouchDB: an admin or the user themself may delete.
    """
    admin = security.is_admin(user)
    if doc.get("_deleted") is True:
        if admin or (old is not None and user.name == old.get("name")):
            return doc
        raise Forbidden("Only admins may delete other user docs.")
    if isinstance(doc.get("password"), str):
        # A new password replaces whatever hash fields came along.
        doc = {k: v for k, v in doc.items() if k not in CREDENTIAL_FIELDS}
    elif not admin and old is not None and "password" not in doc:
        # The user round-trips the document we gave them, which had no hash: keep it.
        doc = _keep_credentials(doc, old)
    _validate_shape(doc, old)
    if not admin:
        _validate_roles_unchanged(doc, old, user)
    _validate_names(doc)
    if isinstance(doc.get("password"), str):
        return hash_into(doc, doc["password"], iterations)
    return doc


def _validate_shape(doc: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
    if doc.get("type") != "user":
        raise Forbidden("doc.type must be user")
    name = doc.get("name")
    if not name:
        raise Forbidden("doc.name is required")
    if not isinstance(name, str):
        raise Forbidden("doc.name must be a string")
    roles = doc.get("roles")
    if roles is None:
        raise Forbidden("doc.roles must exist")
    if not isinstance(roles, list):
        raise Forbidden("doc.roles must be an array")
    if not all(isinstance(r, str) for r in roles):
        raise Forbidden("doc.roles can only contain strings")
    if doc.get("_id") != USER_PREFIX + name:
        raise Forbidden("Doc ID must be of the form org.couchdb.user:name")
    if old is not None and old.get("name") != name:
        raise Forbidden("Usernames can not be changed.")
    if doc.get("password_sha") and not doc.get("salt"):
        raise Forbidden("Users with password_sha must have a salt.")
    if doc.get("password_scheme") == "pbkdf2":
        if not isinstance(doc.get("iterations"), int) or isinstance(doc.get("iterations"), bool):
            raise Forbidden("iterations must be a number.")
        if not isinstance(doc.get("derived_key"), str):
            raise Forbidden("derived_key must be a string.")
    password = doc.get("password")
    if password is not None and not isinstance(password, str):
        raise Forbidden("password must be a string.")


def _validate_roles_unchanged(
    doc: Mapping[str, Any], old: Mapping[str, Any] | None, user: UserCtx
) -> None:
    roles = sorted(doc["roles"])
    if old is None:
        if roles:
            raise Forbidden("Only _admin may set roles")
        return
    if user.name != doc["name"]:
        raise Forbidden("You may only update your own user document.")
    old_roles = old.get("roles") if isinstance(old.get("roles"), list) else []
    if sorted(old_roles) != roles:  # type: ignore[type-var]
        raise Forbidden("Only _admin may edit roles")


def _validate_names(doc: Mapping[str, Any]) -> None:
    for role in doc["roles"]:
        if role != "_metrics" and role.startswith("_"):
            raise Forbidden("No system roles (starting with underscore) in users db.")
    if doc["name"].startswith("_"):
        raise Forbidden("Username may not start with underscore.")
    if ":" in doc["name"]:
        raise Forbidden("Character `:` is not allowed in usernames.")


def hash_into(doc: dict[str, Any], password: str, iterations: int) -> dict[str, Any]:
    """``doc`` with its clear-text ``password`` replaced by the PBKDF2 fields."""
    stored = hash_password(password, iterations=iterations, prf=DEFAULT_PRF)
    out = {k: v for k, v in doc.items() if k not in ("password", "password_sha")}
    out.update(
        password_scheme="pbkdf2",
        iterations=stored.iterations,
        pbkdf2_prf=stored.prf,
        derived_key=stored.derived_key,
        salt=stored.salt,
    )
    return out


def _keep_credentials(doc: dict[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in CREDENTIAL_FIELDS}
    out.update({k: old[k] for k in CREDENTIAL_FIELDS if k in old})
    return out


def redact_for(
    doc: dict[str, Any], user: UserCtx, public_fields: tuple[str, ...]
) -> dict[str, Any]:
    """``couch_users_db:after_doc_read`` for a non-admin: their own doc without the secret
    fields; another user's doc reduced to the configured public fields, or 404."""
    if doc_user_name(doc.get("_id", "")) == user.name and user.name is not None:
        return {k: v for k, v in doc.items() if k not in SECRET_FIELDS}
    public = {k: v for k, v in doc.items() if k in public_fields}
    if not public:
        raise NotFound("missing")
    return {"_id": doc["_id"], "_rev": doc.get("_rev"), **public}
