"""``ViewIndexes``: the views of one database — find the design document, keep its index, answer.

A store that offers views (the embedded ``SqliteStore``; our server through it) owns one
``ViewIndexes`` over itself and a directory for index files, ``<signature>.sqlite``. Design
documents that compute the same thing share one index, as in CouchDB; an edit that changes
nothing a view computes keeps its index, and one that does builds a new index once.
``cleanup`` (``_view_cleanup``) deletes the files no current design document uses.

Everything the index needs from the database it reads through ``DocumentStore`` (``get``,
``changes``, ``all_docs``, ``info``), so this module never knows which store it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import (
    DESIGN_PREFIX,
    AllDocsQuery,
    DocumentStore,
    ViewPage,
    ViewQuery,
    iter_all_docs,
)
from brainlink_docs.views.index import read, storage
from brainlink_docs.views.index.index import ViewIndex
from brainlink_docs.views.index.mappers import Mapper, mapper_for
from brainlink_docs.views.index.plan import Plan, plan
from brainlink_docs.views.js.builtins import BUILTINS
from brainlink_docs.views.js.design import JAVASCRIPT
from brainlink_docs.views.js.server import QueryServer, shared_query_server

INDEX_SUFFIX = ".sqlite"
# A JavaScript reduce gets at most this many rows per call, then its results are rereduced,
# as CouchDB reduces B-tree nodes of bounded size.
REDUCE_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class _Design:
    """A design document as the views need it, kept while its revision is current."""

    rev: str
    mapper: Mapper
    options: dict[str, Any]
    language: str


class ViewIndexes:
    def __init__(
        self,
        store: DocumentStore,
        directory: str | os.PathLike[str] | None,
        query_server: QueryServer | None = None,
        *,
        generation: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        # The store's count of committed changes, when it keeps one (the embedded store does):
        # while it has not moved, a design document read and an index brought up to date at
        # that count are still current, and a query skips both round trips to the engine.
        self._generation = generation
        self._design_seen: dict[str, int] = {}
        self._temporary = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="brainlink-views-"))
        self._server = query_server or shared_query_server()
        self._designs: dict[str, _Design] = {}
        self._indexes: dict[str, ViewIndex] = {}
        self._opening = asyncio.Lock()
        self._lazy: set[asyncio.Task[None]] = set()

    # ---- queries ----

    async def query(self, ddoc: str, view: str, query: ViewQuery) -> ViewPage:
        design = await self._design(ddoc)
        mapper = design.mapper
        if view not in mapper.view_names:
            raise NotFound("missing_named_view")
        index = await self._index(design)
        if query.update == "true":
            await self._bring_up_to_date(index)
        reduce_source = mapper.reduce_of(view)
        steps = plan(query, has_reduce=reduce_source is not None)
        view_id = index.state.views[view]
        seq = index.state.seq
        if steps.reduce:
            assert reduce_source is not None
            rows = await self._reduce(index, mapper, view, reduce_source, view_id, steps, query)
            page = ViewPage(rows)
        else:
            found = await index.file.run(read.map_rows, view_id, steps, query.skip, query.limit)
            if query.include_docs:
                await self._include_docs(found.rows, query)
            page = ViewPage(found.rows, total_rows=found.total_rows, offset=found.offset)
        if query.update == "lazy":
            self._update_later(index)
        if query.update_seq:
            return ViewPage(page.rows, page.total_rows, page.offset, update_seq=seq)
        return page

    async def _reduce(
        self,
        index: ViewIndex,
        mapper: Mapper,
        view: str,
        source: str,
        view_id: int,
        steps: Plan,
        query: ViewQuery,
    ) -> list[dict[str, Any]]:
        """``source``: the view's reduce (a built-in's name or JavaScript)."""
        end = None if query.limit is None else query.skip + query.limit
        if source in read.SQL_REDUCES:
            folded = await index.file.run(read.sql_reduce, view_id, steps, source)
            if folded is not None:
                return folded[query.skip : end]
        found = await index.file.run(read.groups, view_id, steps)
        chosen = found[query.skip : end]
        builtin = BUILTINS.get(source) if source.startswith("_") else None
        rows = []
        for group in chosen:
            if builtin is not None:
                value = builtin.finalize(builtin.reduce(group.kvs))
            else:
                value = await self._js_reduce(mapper, view, group.kvs)
            rows.append({"key": group.key, "value": value})
        return rows

    async def _js_reduce(self, mapper: Mapper, view: str, kvs: list[list[Any]]) -> Any:
        if len(kvs) <= REDUCE_CHUNK:
            return await mapper.reduce(view, kvs)
        parts = [
            await mapper.reduce(view, kvs[at : at + REDUCE_CHUNK])
            for at in range(0, len(kvs), REDUCE_CHUNK)
        ]
        return await mapper.rereduce(view, parts)

    async def _include_docs(self, rows: list[dict[str, Any]], query: ViewQuery) -> None:
        """Each row's document, or the one its value links to by ``_id`` (and ``_rev``).

        A linked document comes without ``_conflicts`` even with ``conflicts=true``, as
        CouchDB 3.5 answers (its cluster opens linked documents without that option).
        """
        own: list[str] = []
        linked: dict[int, tuple[str, str | None]] = {}
        for at, row in enumerate(rows):
            value = row["value"]
            if isinstance(value, dict) and isinstance(value.get("_id"), str):
                rev = value.get("_rev")
                linked[at] = (value["_id"], rev if isinstance(rev, str) else None)
            else:
                own.append(row["id"])
        docs = await self._winners(own, query.conflicts, query)
        links = [doc_id for doc_id, rev in linked.values() if rev is None]
        linked_docs = await self._winners(links, False, query)
        for at, row in enumerate(rows):
            if at not in linked:
                row["doc"] = docs.get(row["id"])
                continue
            doc_id, rev = linked[at]
            row["doc"] = (
                linked_docs.get(doc_id) if rev is None else await self._revision(doc_id, rev)
            )

    async def _winners(
        self, ids: Sequence[str], conflicts: bool, query: ViewQuery
    ) -> dict[str, Any]:
        if not ids:
            return {}
        unique = list(dict.fromkeys(ids))
        page = await self._store.all_docs(
            AllDocsQuery(
                keys=tuple(unique),
                include_docs=True,
                conflicts=conflicts,
                attachments=query.attachments,
            )
        )
        return {row["key"]: row.get("doc") for row in page.rows if "key" in row}

    async def _revision(self, doc_id: str, rev: str) -> Any:
        try:
            results = await self._store.open_revs(doc_id, [rev])
        except NotFound:
            return None
        return results[0].get("ok") if results else None

    async def _bring_up_to_date(self, index: ViewIndex) -> None:
        if self._generation is None:
            await index.update(self._store)
            return
        now = self._generation()
        if index.current_at == now:
            return
        await index.update(self._store)
        index.current_at = now  # what was committed before the update began is in

    def _update_later(self, index: ViewIndex) -> None:
        task = asyncio.get_running_loop().create_task(index.update(self._store))
        self._lazy.add(task)
        task.add_done_callback(self._lazy.discard)

    # ---- design documents and their indexes ----

    async def _design(self, name: str) -> _Design:
        doc_id = DESIGN_PREFIX + name
        now = self._generation() if self._generation is not None else None
        cached = self._designs.get(doc_id)
        if cached is not None and now is not None and self._design_seen.get(doc_id) == now:
            return cached
        body = await self._store.get(doc_id)
        if now is not None:
            self._design_seen[doc_id] = now
        if cached is not None and cached.rev == body["_rev"]:
            return cached
        options = body.get("options")
        design = _Design(
            rev=body["_rev"],
            mapper=mapper_for(body, self._server),
            options=options if isinstance(options, dict) else {},
            language=str(body.get("language", JAVASCRIPT)),
        )
        self._designs[doc_id] = design
        return design

    async def _index(self, design: _Design) -> ViewIndex:
        signature = design.mapper.signature
        index = self._indexes.get(signature)
        if index is not None:
            return index
        async with self._opening:
            index = self._indexes.get(signature)
            if index is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                path = self.directory / (signature + INDEX_SUFFIX)
                index = ViewIndex(str(path), design.mapper, design.options)
                await index.open()
                self._indexes[signature] = index
            return index

    async def info(self, ddoc: str) -> dict[str, Any]:
        design = await self._design(ddoc)
        index = await self._index(design)
        db_info = await self._store.info()
        file_size, active = await index.file.run(storage.size)
        return {
            "name": ddoc,
            "view_index": {
                "updates_pending": {"minimum": 0, "preferred": 0, "total": 0}
                if db_info.update_seq == index.state.seq
                else _pending(db_info.update_seq, index.state.seq),
                "waiting_commit": False,
                "waiting_clients": 0,
                "updater_running": index.updating,
                "update_seq": _seq_number(index.state.seq),
                "sizes": {"file": file_size, "external": active, "active": active},
                "signature": design.mapper.signature,
                "purge_seq": _seq_number(index.state.purge_seq),
                "language": design.language,
                "compact_running": False,
                "collator_versions": [],
            },
        }

    async def cleanup(self) -> None:
        """Delete index files that no design document of the database uses any more."""
        used: set[str] = set()
        query = AllDocsQuery(startkey=DESIGN_PREFIX, endkey="_design0", include_docs=True)
        async for row in iter_all_docs(self._store, query):
            doc = row.get("doc")
            if not doc:
                continue
            with contextlib.suppress(Exception):
                used.add(mapper_for(doc, self._server).signature)
        for signature in [s for s in self._indexes if s not in used]:
            await self._indexes.pop(signature).close()
        if not self.directory.exists():
            return
        for path in self.directory.glob("*" + INDEX_SUFFIX):
            if path.name[: -len(INDEX_SUFFIX)] not in used:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(str(path) + suffix)

    async def compact(self, ddoc: str) -> None:
        index = await self._index(await self._design(ddoc))
        await index.file.run(storage.compact)

    async def close(self) -> None:
        for task in list(self._lazy):
            task.cancel()
        for index in self._indexes.values():
            await index.close()
        self._indexes.clear()
        if self._temporary:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)


def _seq_number(seq: str) -> int:
    head = seq.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _pending(db_seq: str, index_seq: str) -> dict[str, int]:
    behind = max(0, _seq_number(db_seq) - _seq_number(index_seq))
    return {"minimum": behind, "preferred": behind, "total": behind}
