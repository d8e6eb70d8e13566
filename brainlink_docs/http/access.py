"""Authorization: which requests may open which database, and the view of it they get.

Each route carries an ``Access`` level. Server-level levels are checked when the route is
resolved; database levels are checked when a handler opens its database (``use_store``), since
the rules live in that database's ``_security``: a missing database is a 404 before any
security check, as in CouchDB. Document-level rules (design documents, the ``_users`` database)
are enforced by the store view handed to the handler (``security.guarded``). A writing request's
store also logs its writes to sensitive documents (``security.audited``); the ``_audit`` log
itself is for server admins to read and nobody to write (``security.audit``).
"""

from __future__ import annotations

import enum
import weakref
from typing import Any

from brainlink_docs.errors import Unauthorized
from brainlink_docs.replication.replicator_db import REPLICATOR_DB
from brainlink_docs.security.acl import ADMIN_ONLY_SECURITY, Security, UserCtx
from brainlink_docs.security.audit import AUDIT_DB, AppendOnlyView, AuditLog, Writer
from brainlink_docs.security.audited import AuditedStore
from brainlink_docs.security.guarded import NOT_DB_ADMIN, MemberView, security_error, users_view
from brainlink_docs.security.replicator import replicator_view
from brainlink_docs.security.users import USERS_DB
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.views.validation import user_ctx_json


class Access(enum.Enum):
    PUBLIC = "public"
    SERVER_ADMIN = "server_admin"
    MEMBER = "member"
    DB_ADMIN = "db_admin"
    # chttpd_db:require_db_admin (compaction, view cleanup): members get a 401, not a 403.
    DB_ADMIN_REQUIRED = "db_admin_required"


# Databases whose documents have rules for everyone, server admins included.
_VIEWED_DBS = frozenset({USERS_DB, REPLICATOR_DB, AUDIT_DB})

# What an anonymous client may still reach with require_valid_user: the welcome page, the
# health check, and the login itself.
OPEN_WITH_VALID_USER = frozenset(
    {("GET", "/"), ("HEAD", "/"), ("GET", "/_up"), ("POST", "/_session")}
)


def require_valid_user(user: UserCtx, method: str, path: str) -> None:
    """``[chttpd] require_valid_user``: nothing but the login is open to anonymous clients."""
    if user.name is None and (method, path.rstrip("/") or "/") not in OPEN_WITH_VALID_USER:
        raise Unauthorized("Authentication required.")


def check_server_access(access: Access, user: UserCtx) -> None:
    """The check that needs no database: server-admin endpoints."""
    if access is Access.SERVER_ADMIN and not user.is_admin:
        raise Unauthorized("You are not a server admin.")


def check_db_access(access: Access, user: UserCtx, security: Security) -> None:
    """CouchDB's ``check_is_member`` then ``check_is_admin``, with their 401/403 split."""
    if not security.is_member(user):
        reason = (
            "You are not authorized to access this db."
            if user.name is None
            else "You are not allowed to access this db."
        )
        raise security_error(user, reason)
    if access is Access.DB_ADMIN and not security.is_admin(user):
        raise security_error(user, NOT_DB_ADMIN)
    if access is Access.DB_ADMIN_REQUIRED and not security.is_admin(user):
        raise Unauthorized("You are not a server or db admin.")


# Who may read the audit log, whatever its stored _security says: server admins alone.
_AUDIT_READERS = Security.from_json(ADMIN_ONLY_SECURITY)


def check_audit_reader(user: UserCtx) -> None:
    """Server admins only, answered as CouchDB 3.5 answers any admin-only database (401
    "You are not authorized to access this db." anonymous, 403 "...not allowed..." others)."""
    check_db_access(Access.MEMBER, user, _AUDIT_READERS)


# The parsed _security of each open store, reused while the object is unchanged: building
# the name and role sets showed in the member GET profile. Values hold no reference to the
# store, so a closed store's entry goes with it.
_PARSED: weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], Security]] = (
    weakref.WeakKeyDictionary()
)


def _security_of(store: DocumentStore, raw: dict[str, Any]) -> Security:
    cached = _PARSED.get(store)
    if cached is not None and cached[0] == raw:
        return cached[1]
    security = Security.from_json(raw)
    _PARSED[store] = (raw, security)
    return security


def _as_user(store: DocumentStore, db: str, user: UserCtx) -> DocumentStore:
    """``store`` bound to the request's user as CouchDB's ``userCtx``, for a store that runs
    design functions (``SqliteStore.as_user``); any other store as it is."""
    as_user = getattr(store, "as_user", None)
    if as_user is None:
        return store
    return as_user(user_ctx_json(db, user.name, user.roles))  # type: ignore[no-any-return]


class GuardedLease:
    """``async with use_store(request, db)``: the database, opened, checked and guarded."""

    __slots__ = ("_access", "_audit", "_db", "_lease", "_read_only", "_user", "_users_options")

    def __init__(
        self,
        lease: Any,
        db: str,
        user: UserCtx,
        access: Access,
        users_options: dict[str, Any] | None,
        *,
        read_only: bool,
        audit: tuple[AuditLog, Writer] | None = None,
    ) -> None:
        """``audit``: the log and the writer a writing request's writes are recorded as."""
        self._lease = lease
        self._db = db
        self._user = user
        self._access = access
        self._users_options = users_options
        self._read_only = read_only
        self._audit = audit

    async def __aenter__(self) -> DocumentStore:
        store: DocumentStore = await self._lease.__aenter__()
        # Design functions (validate_doc_update, filters) see the request's user.
        bound = _as_user(store, self._db, self._user)
        if self._audit is not None and self._db != AUDIT_DB:
            # Inside the document-rule views: a write they refuse is never logged.
            bound = AuditedStore(bound, *self._audit)  # type: ignore[assignment]
        if self._user.is_admin and self._db not in _VIEWED_DBS:
            return bound  # server admins bypass every check: no security read on their path
        try:
            if self._db == AUDIT_DB:
                check_audit_reader(self._user)
                return AppendOnlyView(bound)  # type: ignore[return-value]
            security = _security_of(store, await store.get_security())
            check_db_access(self._access, self._user, security)
            if self._db == USERS_DB:
                assert self._users_options is not None
                return users_view(bound, self._user, security, self._users_options)
            if self._db == REPLICATOR_DB:
                return replicator_view(bound, self._user)
            if self._read_only or security.is_admin(self._user):
                # The member view guards writes only; GET and HEAD never write.
                return bound
            return MemberView(bound, anonymous=self._user.name is None)  # type: ignore[return-value]
        except BaseException:
            await self._lease.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self._lease.__aexit__(*exc)
