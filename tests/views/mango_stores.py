"""The three Mango backends of the differential tests: CouchDB, our server, the embedded store.

``three_stores`` opens a fresh database on each; ``load`` writes documents to CouchDB and
replicates them as they are (same revisions) to ours, so answers compare whole.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from couch import CouchServer
from peers import fresh_database

from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.sqlite import SqliteStore

Stores = dict[str, DocumentStore]


@asynccontextmanager
async def three_stores(couchdb: CouchServer) -> AsyncIterator[Stores]:
    """A fresh database on CouchDB, on our server (through ``HttpStore``) and embedded."""
    from http_api.conftest import ADMIN, PASSWORD
    from http_api.conftest import test_settings as server_settings

    from brainlink_docs.http.server import start

    async with AsyncExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        runner, port = await start(server_settings(directory / "server"))
        stack.push_async_callback(runner.cleanup)
        ours = f"http://{ADMIN}:{PASSWORD}@127.0.0.1:{port}"
        couch = await stack.enter_async_context(
            fresh_database(couchdb.url, f"mango-{uuid.uuid4().hex[:12]}")
        )
        server = await stack.enter_async_context(fresh_database(ours, "mango"))
        embedded = await SqliteStore.open(directory / "mango.sqlite", name="mango")
        stack.push_async_callback(embedded.close)
        yield {"couchdb": couch, "server": server, "sqlite": embedded}


async def load(stores: Stores, docs: list[dict[str, Any]]) -> None:
    """CouchDB's revisions everywhere, so documents compare whole (``_rev`` included)."""
    results = await stores["couchdb"].bulk_docs(docs)
    stored = [{**doc, "_rev": r.rev} for doc, r in zip(docs, results, strict=True)]
    for name in ("server", "sqlite"):
        await stores[name].bulk_docs(stored, new_edits=False)
