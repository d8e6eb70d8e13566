"""Every source-target pair among the embedded store, our server, the real CouchDB and
pouchdb-server: a full replication, then an incremental one after edits on the source; the
target ends holding what the source holds (every leaf, history, conflict and attachment), and
``_local`` documents stay home.

pouchdb-server's two documented differences are set aside when it is at either end: PouchDB
gives a replicated attachment its revision's generation as ``revpos`` (``without_revpos``), and
it stores every attachment in clear with the digest of the clear bytes, where CouchDB and ours
keep compressible ones gzipped with the digest of the gzip bytes: there the bytes (``data``)
are compared, not the digests.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest
from conftest import open_backend

from brainlink_docs.replication import ReplicationOptions, replicate
from brainlink_docs.store.api import DocumentStore

from .test_replicate import assert_local_stayed_home, state, without_revpos, write_corpus

PEERS = ["sqlite", "http", "http-couchdb", "http-pouchdb-server"]
MARKS = {"http-couchdb": [pytest.mark.couchdb], "http-pouchdb-server": [pytest.mark.node]}
PAIRS = [
    pytest.param(s, t, id=f"{s}-to-{t}", marks=MARKS.get(s, []) + MARKS.get(t, []))
    for s, t in itertools.product(PEERS, PEERS)
]


@pytest.mark.parametrize(("source_kind", "target_kind"), PAIRS)
async def test_a_pair_replicates_fully_then_incrementally(
    request: pytest.FixtureRequest, tmp_path: Path, source_kind: str, target_kind: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        source = await (await open_backend(request, tmp_path, stack, source_kind))("msrc")
        target = await (await open_backend(request, tmp_path, stack, target_kind))("mtgt")
        await write_corpus(source)
        options = ReplicationOptions(batch_size=9)
        first = await replicate(source, target, options)
        assert first.stats["doc_write_failures"] == 0, first.failures
        await _assert_holds_the_same(source, target, source_kind, target_kind)
        await assert_local_stayed_home(target)
        await _edit(source)
        second = await replicate(source, target, options)
        assert second.start_last_seq == first.source_last_seq
        assert second.stats["docs_written"] == 4, second.stats
        await _assert_holds_the_same(source, target, source_kind, target_kind)


async def _edit(store: DocumentStore) -> None:
    """Four changes: an edit, a deletion, a new document, a new attachment on an old one."""
    doc = await store.get("msg-030")
    await store.put({**doc, "text": "edited after the first run"})
    gone = await store.get("msg-031")
    await store.delete("msg-031", gone["_rev"])
    await store.put({"_id": "brand-new", "text": "after"})
    old = await store.get("msg-032")
    await store.put_attachment("msg-032", "late.txt", b"late " * 100, "text/plain", old["_rev"])


async def _assert_holds_the_same(source: DocumentStore, target: DocumentStore, *kinds: str) -> None:
    expected, got = await state(source), await state(target)
    if "http-pouchdb-server" in kinds:
        expected, got = as_pouchdb_keeps_it(expected), as_pouchdb_keeps_it(got)
    assert got == expected


def as_pouchdb_keeps_it(snapshot: dict[str, Any]) -> dict[str, Any]:
    for doc in without_revpos(snapshot).values():
        for leaf in doc["leaves"]:
            for att in (leaf.get("_attachments") or {}).values():
                att.pop("digest", None)
    return snapshot
