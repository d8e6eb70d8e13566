"""Replication through design functions: a JavaScript filter run by the source (our server,
the embedded store or CouchDB) and ``validate_doc_update`` refusing writes on the target,
counted as CouchDB counts them (``doc_write_failures``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from couch import CouchServer
from peers import fresh_database

from brainlink_docs.replication import ReplicationOptions, replicate
from brainlink_docs.store.api import ChangesQuery, DocumentStore, iter_changes
from brainlink_docs.store.sqlite import SqliteStore
from tests.http_api.conftest import serving

BY_OWNER = "function(doc, req) { return doc.owner === req.query.owner; }"
NO_RED = "function(doc) { if (doc.color === 'red') throw({forbidden: 'no red ' + doc._id}); }"
DOCS = [
    {"_id": f"d{i:02}", "owner": ["ann", "bob"][i % 2], "color": ["red", "blue", "green"][i % 3]}
    for i in range(30)
]
# A conflict whose leaves belong to different owners: only ann's leaf may travel.
CONFLICT = [
    {"_id": "c", "_rev": "1-aaaa", "owner": "ann", "color": "blue"},
    {"_id": "c", "_rev": "1-bbbb", "owner": "bob", "color": "blue"},
]

Opener = Callable[[str], Awaitable[DocumentStore]]


@contextlib.asynccontextmanager
async def opener(kind: str, tmp_path: Path, couchdb: CouchServer | None) -> AsyncIterator[Opener]:
    """Opens fresh databases of ``kind``: embedded, our server (over HTTP), or CouchDB."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "embedded":

            async def open_embedded(name: str) -> DocumentStore:
                store = await SqliteStore.open(tmp_path / f"{name}.sqlite", name=name)
                stack.push_async_callback(store.close)
                return store

            yield open_embedded
            return
        if kind == "server":
            running = await stack.enter_async_context(serving(tmp_path / "server"))
            url = running.authed_url
        else:
            assert couchdb is not None
            url = couchdb.url

        async def open_http(name: str) -> DocumentStore:
            unique = f"{name}-{uuid.uuid4().hex[:10]}"
            return await stack.enter_async_context(fresh_database(url, unique))

        yield open_http


async def holdings(store: DocumentStore) -> dict[str, list[str]]:
    """Each document's leaf revisions."""
    return {
        c.id: sorted(c.changes)
        async for c in iter_changes(store, ChangesQuery(style="all_docs"))
        if not c.id.startswith("_design/")
    }


@pytest.mark.parametrize("source_kind", ["server", "embedded", "couchdb"])
async def test_a_javascript_filter_picks_what_replicates(
    source_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    couchdb = request.getfixturevalue("couchdb") if source_kind == "couchdb" else None
    async with opener(source_kind, tmp_path, couchdb) as open_source:
        source = await open_source("source")
        await source.put({"_id": "_design/sync", "filters": {"by_owner": BY_OWNER}})
        written = await source.bulk_docs(DOCS)
        await source.bulk_docs(CONFLICT, new_edits=False)
        target = await SqliteStore.open(tmp_path / "device.sqlite")
        try:
            options = ReplicationOptions(
                filter="sync/by_owner", query_params={"owner": "ann"}, batch_size=7
            )
            result = await replicate(source, target, options)
            held = await holdings(target)
            anns = {row.id: [row.rev] for row in written if row.id in _owned_by("ann")}
            assert held == {**anns, "c": ["1-aaaa"]}
            assert result.stats["docs_written"] == len(anns) + 1
            assert result.stats["doc_write_failures"] == 0
        finally:
            await target.close()


def _owned_by(owner: str) -> set[str]:
    return {doc["_id"] for doc in DOCS if doc["owner"] == owner}


@pytest.mark.parametrize("target_kind", ["server", "embedded", "couchdb"])
async def test_writes_the_target_refuses_are_counted_as_doc_write_failures(
    target_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """CouchDB's ``validate_doc_update`` runs on replicated writes too: each refused document
    is a ``doc_write_failures``, the others are written."""
    couchdb = request.getfixturevalue("couchdb") if target_kind == "couchdb" else None
    async with opener(target_kind, tmp_path, couchdb) as open_target:
        target = await open_target("target")
        await target.put({"_id": "_design/rules", "validate_doc_update": NO_RED})
        source = await SqliteStore.open(tmp_path / "source.sqlite")
        try:
            await source.bulk_docs(DOCS)
            result = await replicate(source, target, ReplicationOptions(batch_size=8))
            reds = {doc["_id"] for doc in DOCS if doc["color"] == "red"}
            assert result.stats["doc_write_failures"] == len(reds)
            assert result.stats["docs_written"] == len(DOCS) - len(reds)
            assert sorted(row.id for row in result.failures) == sorted(reds)
            assert {row.error for row in result.failures} == {"forbidden"}
            assert set(await holdings(target)) == {d["_id"] for d in DOCS} - reds
        finally:
            await source.close()
