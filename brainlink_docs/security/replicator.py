"""The ``_replicator`` database as a user may see and change it (CouchDB 3.5's rules).

- Every document written gets an ``owner``: the writer's name when it has none
  (``before_doc_update``); a non-admin may not write a document naming another owner ("Can't
  update replication documents from other users."). As in CouchDB, the owner of the revision
  being replaced is not checked: writing without ``owner`` over it makes the writer its owner
  (its credentials were never shown to them, and theirs replace them).
- A document must be a valid replication (its ``validate_doc_update``): a local database name,
  a missing source or target, or two filters at once is a 403 with the parser's reason (CouchDB
  wraps some of them in an Erlang term; ours is the plain text), so the scheduler never sees it
  (a document written around this, by replication, is ``failed``). In ``_bulk_docs`` one
  refused document refuses the whole request, as in CouchDB 3.5.
- A non-admin reading someone else's document gets it without credentials: URLs without their
  user and password, endpoint objects without ``headers`` and ``auth`` (``after_doc_read``).
- The listings (``_all_docs``, ``_changes``...) are for server admins, as on ``_users``.

Observed on CouchDB 3.5.0 (``tests/http_api/test_replicator_access.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yarl import URL

from brainlink_docs.errors import CouchError, Forbidden, Unauthorized
from brainlink_docs.replication.ids import bare_url
from brainlink_docs.replication.spec import parse_spec, refuse_local
from brainlink_docs.security.acl import UserCtx
from brainlink_docs.security.guarded import DESIGN_PREFIX
from brainlink_docs.store.api import BulkResult, DocumentStore, ReadOptions
from brainlink_docs.store.view import StoreView

Doc = dict[str, Any]
_READ = ReadOptions()
OTHER_USERS = "Can't update replication documents from other users."
# What would list other users' documents: server admins only (as _users' listings).
_LISTINGS = ("all_docs", "local_docs", "changes", "bulk_get", "revs_diff")


class ReplicatorView(StoreView):
    """``_replicator`` for one user: owners stamped and checked, credentials hidden."""

    def __init__(self, inner: DocumentStore, user: UserCtx) -> None:
        super().__init__(inner)
        self._user = user
        if not user.is_admin:
            for attr in _LISTINGS:
                setattr(self, attr, self._refuse_listing)

    async def _refuse_listing(self, *args: Any, **kwargs: Any) -> Any:
        raise Unauthorized("You are not a server admin.")

    # -- reads -----------------------------------------------------------------------------------
    def _readable(self, doc: Doc) -> Doc:
        if self._user.is_admin or doc.get("owner") == self._user.name:
            return doc
        return without_credentials(doc)

    async def get(self, doc_id: str, rev: str | None = None, options: ReadOptions = _READ) -> Doc:
        return self._readable(await self._inner.get(doc_id, rev, options))

    async def open_revs(
        self, doc_id: str, revs: Sequence[str] | None, options: ReadOptions = _READ
    ) -> list[dict[str, Any]]:
        rows = await self._inner.open_revs(doc_id, revs, options)
        return [{"ok": self._readable(r["ok"])} if "ok" in r else r for r in rows]

    # -- writes ----------------------------------------------------------------------------------
    async def _checked(self, doc: Doc) -> Doc:
        doc_id = str(doc.get("_id", ""))
        if doc_id.startswith(DESIGN_PREFIX) or doc.get("_deleted") is True:
            return doc
        owner = doc.get("owner")
        if owner is None:
            doc = {**doc, "owner": self._user.name}
        elif owner != self._user.name and not self._user.is_admin:
            raise Forbidden(OTHER_USERS)
        try:
            parse_spec(doc, refuse_local)
        except CouchError as exc:
            raise Forbidden(exc.reason) from exc
        return doc

    async def put(self, doc: Doc) -> BulkResult:
        return await self._inner.put(await self._checked(doc))

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        # new_edits=false is a replication in: someone else's revision, written as it is.
        if new_edits:
            docs = [await self._checked(doc) for doc in docs]
        return await self._inner.bulk_docs(docs, new_edits=new_edits)


def without_credentials(doc: Doc) -> Doc:
    """The document as another user sees it: its endpoints without credentials."""
    out = dict(doc)
    for side in ("source", "target"):
        value = out.get(side)
        if isinstance(value, str):
            out[side] = _bare(value)
        elif isinstance(value, dict) and isinstance(value.get("url"), str):
            out[side] = {"url": _bare(value["url"])}
    return out


def _bare(url: str) -> str:
    try:
        return bare_url(url) if URL(url).is_absolute() else url
    except ValueError:
        return url


def replicator_view(store: DocumentStore, user: UserCtx) -> DocumentStore:
    return ReplicatorView(store, user)  # type: ignore[return-value]
