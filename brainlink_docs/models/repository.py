"""``Repository``: create, get, update, delete and list one entity type over any
``DocumentStore`` (the embedded store, our server, a real CouchDB), with validation on every
write and migration on every read.

Lists page by cursor, never by ``skip``: a page asks for one row more than it shows, and that
row's key and document id are the next page's ``startkey``/``startkey_docid`` (CouchDB's
recommended paging, cost independent of how deep the page is). A cursor is opaque text.

Deleting an entity deletes what the data model cascades from it, in one ``bulk_docs``: the
documents under its id (a workspace's panels, a chat's messages, a pipeline's nodes and edges,
a plugin's permissions, everything a user owns) and those found by a view (a directory's
subdirectories and files, by path; the edges touching a pipeline node).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from brainlink_docs.errors import BadRequest, Forbidden
from brainlink_docs.models.base import RANGE_END, Entity, now_iso
from brainlink_docs.models.design import VIEWS_DDOC
from brainlink_docs.models.documents import load, refusal
from brainlink_docs.models.migrations import MIGRATIONS, Migrations
from brainlink_docs.store.api import (
    AllDocsQuery,
    BulkResult,
    DocumentStore,
    ViewQuery,
    iter_all_docs,
)

E = TypeVar("E", bound=Entity)
# After every key that starts with the given ones: CouchDB collates objects last.
HIGH: dict[str, Any] = {}
# Largest page a caller may ask for: a page is one view read with its documents.
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[E]):
    items: list[E]
    # Where the next page starts (None: this was the last page).
    next: str | None


@dataclass(frozen=True, slots=True)
class ViewRange:
    """A range of one of ``_design/brainlink``'s views."""

    view: str
    start: Any
    end: Any
    descending: bool = False


def encode_cursor(key: Any, doc_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([key, doc_id])).decode()


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        key, doc_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise BadRequest("invalid page cursor") from exc
    if not isinstance(doc_id, str):
        raise BadRequest("invalid page cursor")
    return key, doc_id


async def view_rows(
    store: DocumentStore,
    where: ViewRange,
    *,
    limit: int | None = None,
    start: tuple[Any, str] | None = None,
    include_docs: bool = True,
) -> list[dict[str, Any]]:
    """The rows of a view range; ``start`` (a key and a document id) resumes it at a cursor."""
    key, doc_id = (where.start, None) if start is None else start
    query = ViewQuery(
        startkey=key,
        startkey_docid=doc_id,
        endkey=where.end,
        descending=where.descending,
        limit=limit,
        include_docs=include_docs,
        reduce=False,
    )
    return (await store.query_view(VIEWS_DDOC, where.view, query)).rows


async def read_page(
    store: DocumentStore,
    where: ViewRange,
    limit: int,
    cursor: str | None,
    migrations: Migrations = MIGRATIONS,
) -> Page[Entity]:
    """One page of the entities a view range lists, in view order."""
    if not 0 < limit <= MAX_PAGE:
        raise BadRequest(f"a page holds 1 to {MAX_PAGE} entities")
    start = None if cursor is None else decode_cursor(cursor)
    rows = await view_rows(store, where, limit=limit + 1, start=start)
    following = rows[limit] if len(rows) > limit else None
    items = [load(r["doc"], migrations) for r in rows[:limit] if r.get("doc")]
    return Page(items, encode_cursor(following["key"], following["id"]) if following else None)


async def read_all(store: DocumentStore, where: ViewRange) -> list[Entity]:
    """Every entity in a view range (small ranges: a pipeline's graph, a plugin's grants)."""
    return [load(r["doc"]) for r in await view_rows(store, where) if r.get("doc")]


class Repository(Generic[E]):
    """One entity type's documents in ``store``."""

    def __init__(
        self,
        store: DocumentStore,
        cls: type[E],
        *,
        now: Callable[[], str] = now_iso,
        migrations: Migrations = MIGRATIONS,
    ) -> None:
        self.store = store
        self.cls = cls
        self._now = now
        self._migrations = migrations

    async def get(self, doc_id: str) -> E:
        """The entity stored under ``doc_id`` (``NotFound`` when there is none), migrated."""
        entity = load(await self.store.get(doc_id), self._migrations)
        if not isinstance(entity, self.cls):
            raise Forbidden(f"{doc_id!r} is a {entity.TYPE}, not a {self.cls.TYPE}")
        return entity

    async def create(self, entity: E) -> E:
        """Store a new entity (``Conflict`` when its document exists)."""
        if entity.rev is not None:
            raise BadRequest(f"{entity.doc_id()!r} is stored already: update it")
        return await self._write(entity)

    async def update(self, entity: E) -> E:
        """Store an edit of an entity read from the store (``Conflict`` when someone wrote a
        newer revision meanwhile: read it again and redo the edit)."""
        if entity.rev is None:
            raise BadRequest(f"{entity.doc_id()!r} was not read from the store: create it")
        if entity.schema_version > entity.SCHEMA_VERSION:
            raise Forbidden(
                f"{entity.doc_id()!r} was written by a newer Brainlink (schemaVersion "
                f"{entity.schema_version}; this one writes {entity.SCHEMA_VERSION})"
            )
        if "updated_at" in type(entity).model_fields:
            entity.updated_at = self._now()  # type: ignore[attr-defined]
        return await self._write(entity)

    async def delete(self, entity: E) -> list[BulkResult]:
        """Delete the entity and what cascades from it, in one ``bulk_docs``."""
        doomed = {entity.doc_id(): entity.rev} if entity.rev else {}
        doomed.update(await cascade_of(self.store, entity))
        deletions = [{"_id": i, "_rev": r, "_deleted": True} for i, r in doomed.items() if r]
        return await self.store.bulk_docs(deletions)

    async def list(self, user_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[E]:
        """The user's entities of this type, in document id order."""
        # The document id is in the key (unique keys): a cursor then needs no startkey_docid,
        # which PouchDB's map/reduce does not honour.
        where = ViewRange("by_owner", [user_id, self.cls.TYPE], [user_id, self.cls.TYPE, HIGH])
        page = await read_page(self.store, where, limit, cursor, self._migrations)
        return page  # type: ignore[return-value]

    async def _write(self, entity: E) -> E:
        doc = entity.to_doc()
        reason = refusal(doc, self._migrations)
        if reason is not None:
            raise Forbidden(reason)
        result = await self.store.put(doc)
        entity._rev = result.rev
        return entity


async def cascade_of(store: DocumentStore, entity: Entity) -> dict[str, str]:
    """Document id -> live revision of everything deleting ``entity`` deletes with it."""
    found = await _under(store, entity.doc_id())
    # What a view finds (a directory's contents, a node's edges) has no documents under its
    # own id: directories and files sit under their file system, edges under their pipeline.
    for extra in await _linked(store, entity):
        found.setdefault(extra.doc_id(), extra.rev or "")
    return found


async def _under(store: DocumentStore, doc_id: str) -> dict[str, str]:
    """The documents whose ids sit under ``doc_id`` (its children, theirs...)."""
    prefix = doc_id + "/"
    query = AllDocsQuery(startkey=prefix, endkey=prefix + RANGE_END)
    return {row["id"]: row["value"]["rev"] async for row in iter_all_docs(store, query)}


async def _linked(store: DocumentStore, entity: Entity) -> Sequence[Entity]:
    """Cascades the ids do not carry: a directory's contents (by path, so nested ones too) and
    the edges touching a pipeline node."""
    fields: Mapping[str, Any] = entity.model_dump(by_alias=True)
    if entity.TYPE == "directory":
        base = fields["path"].rstrip("/") + "/"
        fs = fields["fileSystemId"]
        inside = await read_all(store, ViewRange("by_path", [fs, base], [fs, base + RANGE_END]))
        # ICU collation ranges are not prefixes (case and accents sort together): keep only
        # what is really below the directory.
        return [e for e in inside if e.model_dump(by_alias=True)["path"].startswith(base)]
    if entity.TYPE == "pipelineNode":
        return await read_all(store, ViewRange("edges_by_node", entity.id, entity.id))
    return []
