"""``sync``: both directions at once, on every backend; both sides end the same, conflicts and
all, and a continuous sync carries writes made on either side."""

from __future__ import annotations

import asyncio

import pytest
from conftest import StoreFactory

from brainlink_docs.replication import ReplicationOptions, sync, sync_continuously
from brainlink_docs.store.api import ReadOptions

from .test_replicate import assert_same, state, wait_for_doc, write_corpus

_CONFLICTS = ReadOptions(conflicts=True)


async def test_sync_leaves_both_sides_with_every_edit_and_the_same_conflicts(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    laptop, server = await store_factory("laptop"), await store_factory("server")
    await write_corpus(laptop)
    await server.bulk_docs([{"_id": f"chat-{n}", "n": n} for n in range(30)])
    push, pull = await sync(laptop, server, ReplicationOptions(batch_size=7))
    assert push.stats["docs_written"] > 0 and pull.stats["docs_written"] == 30
    # Offline on both: the same document edited on each side.
    for store, text in ((laptop, "laptop edit"), (server, "server edit")):
        doc = await store.get("chat-3")
        await store.put({**doc, "text": text})
    await sync(laptop, server)
    assert_same(await state(laptop), await state(server), request)
    assert len((await laptop.get("chat-3", options=_CONFLICTS)).get("_conflicts", [])) == 1
    push, pull = await sync(laptop, server)
    assert push.stats["missing_found"] == 0
    assert pull.stats["missing_found"] == 0


async def test_continuous_sync_carries_writes_made_on_either_side(
    store_factory: StoreFactory,
) -> None:
    a, b = await store_factory("a"), await store_factory("b")
    job = asyncio.create_task(sync_continuously(a, b))
    try:
        for n in range(3):
            on_a = await a.put({"_id": f"from-a-{n}"})
            on_b = await b.put({"_id": f"from-b-{n}"})
            await wait_for_doc(b, f"from-a-{n}", on_a.rev)
            await wait_for_doc(a, f"from-b-{n}", on_b.rev)
        assert not job.done()
    finally:
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
