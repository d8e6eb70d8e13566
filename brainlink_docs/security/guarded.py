"""Per-request views of a ``DocumentStore`` that enforce document-level rules.

Endpoint-level access (who may open a database at all) is decided before a store is handed out;
what remains depends on the documents themselves, so it is enforced here, at the one interface
every endpoint writes and reads through (single writes, bulk writes, attachments, replication):

- ``MemberView``: a member who is not a database admin may not write design documents.
- ``UsersView``: the ``_users`` database's rules for everyone (passwords hashed on write, the
  ``validate_doc_update`` checks, a non-admin sees only their own document and no listings),
  and a callback after each write so caches and per-user databases follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from brainlink_docs.errors import Conflict, CouchError, Forbidden, NotFound, Unauthorized
from brainlink_docs.security.acl import Security, UserCtx
from brainlink_docs.security.users import (
    SECRET_FIELDS,
    check_write_allowed,
    doc_user_name,
    hash_into,
    prepare_user_doc,
    redact_for,
    user_doc_id,
)
from brainlink_docs.store.api import BulkResult, DocumentStore, ReadOptions
from brainlink_docs.store.view import StoreView, guarded_bulk

DESIGN_PREFIX = "_design/"
NOT_DB_ADMIN = "You are not a db or server admin."
Doc = dict[str, Any]
_READ = ReadOptions()
OnUsersWritten = Callable[[list[str]], Awaitable[None]]


def security_error(user: UserCtx, reason: str) -> CouchError:
    """CouchDB's ``throw_security_error``: 401 for anonymous users, 403 for known ones."""
    return Unauthorized(reason) if user.name is None else Forbidden(reason)


class MemberView(StoreView):
    """A database member who is not one of its admins: everything but design documents.

    It depends only on whether the member is anonymous (a 401 rather than a 403), so one view
    per store and kind serves every member's requests.
    """

    def __init__(self, inner: DocumentStore, *, anonymous: bool) -> None:
        super().__init__(inner)
        self._anonymous = anonymous

    def _check_id(self, doc_id: str) -> None:
        if doc_id.startswith(DESIGN_PREFIX):
            raise Unauthorized(NOT_DB_ADMIN) if self._anonymous else Forbidden(NOT_DB_ADMIN)

    async def _check(self, doc: Doc) -> Doc:
        self._check_id(str(doc.get("_id", "")))
        return doc

    async def put(self, doc: Doc) -> BulkResult:
        await self._check(doc)
        return await self._inner.put(doc)

    async def delete(self, doc_id: str, rev: str) -> BulkResult:
        self._check_id(doc_id)
        return await self._inner.delete(doc_id, rev)

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        async def write(accepted: list[Doc]) -> list[BulkResult]:
            return await self._inner.bulk_docs(accepted, new_edits=new_edits)

        return await guarded_bulk(docs, self._check, write)

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult:
        self._check_id(doc_id)
        return await self._inner.put_attachment(doc_id, name, data, content_type, rev)

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult:
        self._check_id(doc_id)
        return await self._inner.delete_attachment(doc_id, name, rev)


# What would list other users' documents (or tell which exist): server admins only.
_USERS_LISTINGS = ("all_docs", "local_docs", "changes", "bulk_get", "revs_diff")


class UsersView(StoreView):
    """The ``_users`` database as ``user`` may see and change it."""

    def __init__(
        self,
        inner: DocumentStore,
        user: UserCtx,
        security: Security,
        *,
        iterations: int,
        public_signup: bool,
        public_fields: tuple[str, ...],
        on_written: OnUsersWritten,
    ) -> None:
        super().__init__(inner)
        self._user = user
        self._security = security
        self._admin = security.is_admin(user)
        self._iterations = iterations
        self._signup = public_signup
        self._public = public_fields
        self._on_written = on_written
        if not self._admin:
            for attr in _USERS_LISTINGS:
                setattr(self, attr, self._refuse_listing)

    # -- reads ---------------------------------------------------------------------------
    async def _refuse_listing(self, *args: Any, **kwargs: Any) -> Any:
        # CouchDB's chttpd_auth_request: listings of _users are for server admins only.
        raise Unauthorized("You are not a server admin.")

    def _readable(self, doc: Doc) -> Doc:
        if self._admin:
            return doc
        if str(doc.get("_id", "")).startswith(DESIGN_PREFIX):
            raise Forbidden("Only administrators can view design docs in the users database.")
        return redact_for(doc, self._user, self._public)

    async def get(self, doc_id: str, rev: str | None = None, options: ReadOptions = _READ) -> Doc:
        return self._readable(await self._inner.get(doc_id, rev, options))

    async def open_revs(
        self,
        doc_id: str,
        revs: Sequence[str] | None,
        options: ReadOptions = _READ,
    ) -> list[dict[str, Any]]:
        rows = await self._inner.open_revs(doc_id, revs, options)
        if self._admin:
            return rows
        if doc_user_name(doc_id) != self._user.name or self._user.name is None:
            raise NotFound("missing")
        return [{"ok": self._readable(r["ok"])} if "ok" in r else r for r in rows]

    async def get_attachment(self, doc_id: str, name: str, rev: str | None = None) -> Any:
        await self.get(doc_id, rev)
        return await self._inner.get_attachment(doc_id, name, rev)

    async def find(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``_find`` for a non-admin sees their own document only (without its secret fields),
        an anonymous user nothing: CouchDB 3.5 with an open ``_users`` filters the same way."""
        if self._admin or not isinstance(request, Mapping) or "selector" not in request:
            return await self._inner.find(request)
        name = self._user.name
        own: dict[str, Any] = {"_id": user_doc_id(name)} if name else {"_id": {"$in": []}}
        restricted = {**request, "selector": {"$and": [request["selector"], own]}}
        if not isinstance(request["selector"], dict):
            restricted = dict(request)  # the inner store refuses it with CouchDB's error
        answer = await self._inner.find(restricted)
        answer["docs"] = [
            {k: v for k, v in doc.items() if k not in SECRET_FIELDS} for doc in answer["docs"]
        ]
        return answer

    # -- writes --------------------------------------------------------------------------
    async def _current(self, doc_id: str) -> Doc | None:
        try:
            return await self._inner.get(doc_id)
        except NotFound:
            return None

    async def _prepare(self, doc: Doc) -> Doc:
        doc_id = str(doc.get("_id", ""))
        if doc_user_name(doc_id) is None:
            # Design and other documents are not user documents: admins only, unchecked. As
            # CouchDB 3.5's before_doc_update, a named non-admin is told the doc is not there.
            if self._admin:
                return doc
            if self._user.name is not None:
                raise NotFound("missing")
            raise security_error(self._user, NOT_DB_ADMIN)
        check_write_allowed(doc_id, self._user, self._security, self._signup)
        old = await self._current(doc_id)
        if not self._admin and old is not None and doc.get("_rev") != old.get("_rev"):
            # Non-admins edit the winner only: a branch edit would dodge the checks on it.
            raise Conflict("Document update conflict.")
        if isinstance(doc.get("password"), str):
            # PBKDF2 takes a good part of a second at CouchDB 3.5's 600,000 rounds.
            return await asyncio.to_thread(
                prepare_user_doc, doc, old, self._user, self._security, iterations=self._iterations
            )
        return prepare_user_doc(doc, old, self._user, self._security, iterations=self._iterations)

    async def _written(self, doc_ids: Sequence[str]) -> None:
        names = [n for n in map(doc_user_name, doc_ids) if n is not None]
        if names:
            await self._on_written(names)

    async def put(self, doc: Doc) -> BulkResult:
        result = await self._inner.put(await self._prepare(doc))
        await self._written([result.id])
        return result

    async def delete(self, doc_id: str, rev: str) -> BulkResult:
        return await self.put({"_id": doc_id, "_rev": rev, "_deleted": True})

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        if not new_edits and not self._admin:
            raise security_error(self._user, NOT_DB_ADMIN)

        async def check(doc: Doc) -> Doc:
            if new_edits:
                return await self._prepare(doc)
            # Replicated in: CouchDB's before_doc_update still hashes a clear-text password.
            if isinstance(doc.get("password"), str):
                return await asyncio.to_thread(hash_into, doc, doc["password"], self._iterations)
            return doc

        async def write(accepted: list[Doc]) -> list[BulkResult]:
            return await self._inner.bulk_docs(accepted, new_edits=new_edits)

        rows = await guarded_bulk(docs, check, write)
        await self._written([r.id for r in rows if r.ok])
        return rows

    def _check_attachment_write(self, doc_id: str) -> None:
        """Users attach to their own document; signing up is no licence to attach."""
        check_write_allowed(doc_id, self._user, self._security, self._signup)
        if not self._admin and self._user.name is None:
            raise security_error(self._user, NOT_DB_ADMIN)

    async def purge(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        purged = await self._inner.purge(revs)
        await self._written(list(revs))  # a purged user must not stay logged in from a cache
        return purged

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult:
        self._check_attachment_write(doc_id)
        return await self._inner.put_attachment(doc_id, name, data, content_type, rev)

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult:
        self._check_attachment_write(doc_id)
        return await self._inner.delete_attachment(doc_id, name, rev)


def users_view(
    store: DocumentStore, user: UserCtx, security: Security, options: Mapping[str, Any]
) -> DocumentStore:
    """The ``_users`` database as ``user`` may see it (admins included: passwords get hashed)."""
    return UsersView(store, user, security, **options)  # type: ignore[return-value]
