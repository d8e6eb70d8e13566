"""Who may do what in a database: CouchDB's ``_security`` object and the user it is asked about.

A database's ``_security`` names its admins and members, each by user name and by role. CouchDB's
rules (``couch_db:is_admin``/``is_member``): server admins (role ``_admin``) are admins of every
database; a database admin is also a member; a database whose members list no names and no roles
is public. New databases get CouchDB 3's ``admin_only`` default, so nobody but admins gets in until
``_security`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from brainlink_docs.errors import BadRequest

SERVER_ADMIN_ROLE = "_admin"
# CouchDB 3's [couchdb] default_security = admin_only, spelled as CouchDB 3.5 reads it back
# (couch_db_updater:default_security_object: members first, no names).
ADMIN_ONLY_SECURITY: dict[str, Any] = {
    "members": {"roles": [SERVER_ADMIN_ROLE]},
    "admins": {"roles": [SERVER_ADMIN_ROLE]},
}


@dataclass(frozen=True, slots=True)
class UserCtx:
    """The authenticated user of a request (CouchDB's ``userCtx``); ``name`` None = anonymous."""

    name: str | None
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return SERVER_ADMIN_ROLE in self.roles

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "roles": list(self.roles)}


ANONYMOUS = UserCtx(None, ())


@dataclass(frozen=True, slots=True)
class Principals:
    names: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def include(self, user: UserCtx) -> bool:
        if user.name is not None and user.name in self.names:
            return True
        return not self.roles.isdisjoint(user.roles)

    @property
    def empty(self) -> bool:
        return not self.names and not self.roles


@dataclass(frozen=True, slots=True)
class Security:
    admins: Principals = Principals()
    members: Principals = Principals()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Security:
        return cls(_principals(obj, "admins"), _principals(obj, "members"))

    def is_admin(self, user: UserCtx) -> bool:
        return user.is_admin or self.admins.include(user)

    def is_member(self, user: UserCtx) -> bool:
        if self.is_admin(user):
            return True
        return self.members.empty or self.members.include(user)


def _principals(obj: Mapping[str, Any], key: str) -> Principals:
    group = obj.get(key) or {}
    if not isinstance(group, Mapping):
        return Principals()
    return Principals(_strings(group.get("names")), _strings(group.get("roles")))


def _strings(value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(v for v in value if isinstance(v, str))


def validate_security(obj: Any) -> dict[str, Any]:
    """CouchDB's ``couch_db:validate_security_object``: names and roles must be string lists."""
    if not isinstance(obj, dict):
        raise BadRequest("Security object must be a JSON object")
    for key in ("admins", "members"):
        group = obj.get(key)
        if group is None:
            continue
        if not isinstance(group, dict):
            raise BadRequest(f"Security object field `{key}` must be a JSON object")
        for kind in ("names", "roles"):
            items = group.get(kind, [])
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise BadRequest(f"{key}.{kind} must be a JSON list of strings")
    return obj
