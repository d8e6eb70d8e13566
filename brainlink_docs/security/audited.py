"""``AuditedStore``: a request's store that logs its writes to sensitive documents.

The server wraps the store of every writing request in one (``http.access.GuardedLease``,
where the request's user is bound to the store), so every write path comes through here:
``put`` (PUT, POST, COPY, multipart PUT), ``delete``, ``bulk_docs`` (``_bulk_docs``, and
``new_edits=false`` from a replicator, a ``PUT ?new_edits=false`` or a multipart PUT), and the
attachment writes. It sits inside the document-rule views (``MemberView``, ``UsersView``), so a
write they refuse never reaches it.

Which writes are logged (``watches``): a document whose body's ``type`` is sensitive, and a
document whose winner before the write was a live sensitive one: an edit naming a ``_rev``
(an update, a delete, a type changed away) or a replicated tombstone. An interactive edit with
no ``_rev`` that succeeds had no live revision before, so it is a ``create`` and needs no read:
a batch of new sensitive documents costs one extra write and nothing else. An edit with a
``_rev`` costs one read of the winners (``all_docs`` by keys, one per batch); a replicated
batch one ``revs_diff``, so a revision the database already held (a no-op) logs nothing.
Rows that fail log nothing: entries are made from the committed rows only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from brainlink_docs.security.audit import Audited, AuditLog, Writer
from brainlink_docs.store.api import LOCAL_PREFIX, AllDocsQuery, BulkResult, Doc, DocumentStore
from brainlink_docs.store.view import StoreView

Rows = Callable[[], Awaitable[list[BulkResult]]]


@dataclass(frozen=True, slots=True)
class Prior:
    """A document's winner before the write: live or not, and its ``type``."""

    live: bool
    type: str | None = None


ABSENT = Prior(False)


def body_type(doc: Doc) -> str | None:
    value = doc.get("type")
    return value if isinstance(value, str) else None


def watches(doc: Any, new_edits: bool, types: Collection[str]) -> bool:
    """Whether ``doc``'s write may be a sensitive one (see the module docstring)."""
    if not isinstance(doc, dict):
        return False
    doc_id = doc.get("_id")
    if isinstance(doc_id, str) and doc_id.startswith(LOCAL_PREFIX):
        return False  # replication checkpoints and the like: no entity lives there
    if body_type(doc) in types:
        return True
    if new_edits:
        return "_rev" in doc
    return doc.get("_deleted") is True


def needs_prior(doc: Doc, new_edits: bool) -> bool:
    """Whether classifying ``doc``'s write needs the document's winner before it."""
    if not isinstance(doc.get("_id"), str):
        return False
    return "_rev" in doc if new_edits else doc.get("_deleted") is True


def replicated_rev(doc: Doc) -> str | None:
    """The leaf a ``new_edits=false`` document carries: ``_rev``, or the head of
    ``_revisions``."""
    rev = doc.get("_rev")
    if isinstance(rev, str):
        return rev
    revisions = doc.get("_revisions")
    if isinstance(revisions, dict) and revisions.get("ids"):
        return f"{revisions.get('start')}-{revisions['ids'][0]}"
    return None


def classify(
    doc: Doc, row: BulkResult, prior: Prior | None, new_edits: bool, types: Collection[str]
) -> Audited | None:
    """The entry a committed ``row`` makes, or None when nothing sensitive was written.

    The resource type is the body's when sensitive, else the live winner's it replaced (a
    delete names no type; a sensitive document turned into another type stays audited)."""
    if not row.ok:
        return None
    kind = body_type(doc)
    if kind not in types:
        kind = prior.type if prior is not None and prior.live else None
        if kind not in types:
            return None
    assert kind is not None
    if not new_edits:
        action = "replicate"
    elif doc.get("_deleted") is True:
        action = "delete"
    elif prior is not None and prior.live:
        action = "update"
    else:
        action = "create"  # no _rev, or a _rev naming a tombstone: no live revision before
    return Audited(action, kind, row.id, row.rev)


def prior_of(row: dict[str, Any]) -> Prior:
    """A row of ``all_docs(keys=…, include_docs=True)`` as the document's winner."""
    if "error" in row or row.get("value", {}).get("deleted"):
        return ABSENT
    doc = row.get("doc")
    return Prior(True, body_type(doc) if isinstance(doc, dict) else None)


class AuditedStore(StoreView):
    """``inner`` whose writes to sensitive documents ``log`` records, as ``writer``'s."""

    def __init__(self, inner: DocumentStore, log: AuditLog, writer: Writer) -> None:
        super().__init__(inner)
        self._log = log
        self._writer = writer

    # -- the write paths -----------------------------------------------------------------
    async def put(self, doc: Doc) -> BulkResult:
        return await self._single(doc, lambda: self._inner.put(doc))

    async def delete(self, doc_id: str, rev: str) -> BulkResult:
        doc = {"_id": doc_id, "_rev": rev, "_deleted": True}
        return await self._single(doc, lambda: self._inner.delete(doc_id, rev))

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult:
        # Without a rev the write makes a new document, which has no type: nothing to log.
        doc = {"_id": doc_id} if rev is None else {"_id": doc_id, "_rev": rev}
        return await self._single(
            doc, lambda: self._inner.put_attachment(doc_id, name, data, content_type, rev)
        )

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult:
        doc = {"_id": doc_id, "_rev": rev}
        return await self._single(doc, lambda: self._inner.delete_attachment(doc_id, name, rev))

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        return await self._audited(
            docs, new_edits, lambda: self._inner.bulk_docs(docs, new_edits=new_edits)
        )

    # -- shared --------------------------------------------------------------------------
    async def _single(self, doc: Doc, write: Callable[[], Awaitable[BulkResult]]) -> BulkResult:
        if not watches(doc, True, self._log.types):
            return await write()

        async def rows() -> list[BulkResult]:
            return [await write()]

        (result,) = await self._audited([doc], True, rows)
        return result

    async def _audited(self, docs: Sequence[Doc], new_edits: bool, write: Rows) -> list[BulkResult]:
        types = self._log.types
        watched = [i for i, doc in enumerate(docs) if watches(doc, new_edits, types)]
        if not watched:
            return await write()
        priors = await self._priors([docs[i] for i in watched if needs_prior(docs[i], new_edits)])
        held = set() if new_edits else await self._held([docs[i] for i in watched])

        async def work() -> list[BulkResult]:
            rows = await write()
            written = []
            for i in watched:
                doc, row = docs[i], rows[i]
                if not new_edits and (row.id, replicated_rev(doc)) in held:
                    continue  # a revision the database already had: nothing was written
                entry = classify(doc, row, priors.get(row.id), new_edits, types)
                if entry is not None:
                    written.append(entry)
            if written:
                await self._log.record(self._log.entries(self._writer, self.name, written))
            return rows

        return await self._log.shielded(work())

    async def _priors(self, docs: Sequence[Doc]) -> dict[str, Prior]:
        """The winners of ``docs`` before the write, one ``all_docs`` read for them all."""
        if not docs:
            return {}
        keys = tuple(dict.fromkeys(str(doc["_id"]) for doc in docs))
        page = await self._inner.all_docs(AllDocsQuery(keys=keys, include_docs=True))
        return {str(row["key"]): prior_of(row) for row in page.rows}

    async def _held(self, docs: Sequence[Doc]) -> set[tuple[str, str | None]]:
        """The replicated (id, rev) pairs the database already holds (``revs_diff``)."""
        asked: dict[str, list[str]] = {}
        for doc in docs:
            rev = replicated_rev(doc)
            if isinstance(doc.get("_id"), str) and rev is not None:
                asked.setdefault(doc["_id"], []).append(rev)
        if not asked:
            return set()
        missing = await self._inner.revs_diff(asked)
        return {
            (doc_id, rev)
            for doc_id, revs in asked.items()
            for rev in revs
            if rev not in missing.get(doc_id, {}).get("missing", ())
        }
