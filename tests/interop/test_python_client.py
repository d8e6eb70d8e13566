"""aiocouch (PyPI), unchanged, does CRUD, attachments, bulk and changes against our server.

aiocouch is an asyncio client on aiohttp, so it shares the test's event loop with the
in-process server. The credentials ride in the server URL, which aiohttp turns into basic auth
itself: aiocouch's ``user=``/``password=`` build an ``aiohttp.BasicAuth``, which aiohttp 3.14
deprecates (and this suite runs with warnings as errors).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from http_api.conftest import Server

aiocouch = pytest.importorskip("aiocouch")

DB = "contacts"


@pytest.fixture
async def couch(server: Server) -> AsyncIterator[Any]:
    async with aiocouch.CouchDB(server.authed_url) as couch:
        yield couch


@pytest.fixture
async def db(couch: Any) -> Any:
    return await couch.create(DB)


async def test_client_sees_our_server_and_its_databases(couch: Any, db: Any) -> None:
    await couch.check_credentials()
    info = await couch.info()
    assert info["couchdb"] == "Welcome"
    assert DB in await couch.keys()
    assert (await couch[DB]).id == DB
    with pytest.raises(aiocouch.PreconditionFailedError):
        await couch.create(DB)
    assert (await couch.create(DB, exists_ok=True)).id == DB
    with pytest.raises(aiocouch.NotFoundError):
        await couch["no-such-db"]
    await db.delete()
    assert DB not in await couch.keys()


async def test_document_crud(db: Any) -> None:
    doc = await db.create("alice", data={"name": "Alice", "tags": ["a", "ü"]})
    await doc.save()
    assert doc.rev is not None and doc.rev.startswith("1-")
    with pytest.raises(aiocouch.ConflictError):
        await db.create("alice")

    fetched = await db["alice"]
    assert fetched.data == {"_id": "alice", "_rev": doc.rev, "name": "Alice", "tags": ["a", "ü"]}
    fetched["name"] = "Alice B."
    await fetched.save()
    assert fetched.rev.startswith("2-")
    assert (await db.get("alice")).data["name"] == "Alice B."

    # The stale copy is refused, as CouchDB refuses an edit of a non-leaf revision.
    doc["name"] = "stale"
    with pytest.raises(aiocouch.ConflictError):
        await doc.save()

    old = await db.get("alice", rev=doc.rev)
    assert old.data["name"] == "Alice"
    assert await fetched.revs() == [fetched.rev, doc.rev]
    assert await fetched.conflicts() == []

    copied = await fetched.copy("alice-copy")
    assert copied.status == 201
    assert (await db["alice-copy"]).data["name"] == "Alice B."

    await fetched.delete()
    with pytest.raises(aiocouch.NotFoundError):
        await db["alice"]
    missing = await db.get("alice", default={"name": "new"})
    assert not missing.exists
    info = await db.info()
    assert (info["doc_count"], info["doc_del_count"]) == (1, 1)


async def test_attachments(db: Any) -> None:
    doc = await db.create("bob", data={"name": "Bob"})
    await doc.save()
    photo = bytes(range(256)) * 40
    att = doc.attachment("photos/avatar.png")
    assert not await att.exists()
    await att.save(photo, "image/png")
    assert doc.rev.startswith("2-")
    stub = doc["_attachments"]["photos/avatar.png"]
    assert (stub["content_type"], stub["length"], stub["stub"]) == ("image/png", len(photo), True)

    again = (await db["bob"]).attachment("photos/avatar.png")
    assert await again.exists()
    assert await again.fetch() == photo
    assert again.content_type == "image/png"

    note = doc.attachment("note.txt")
    await note.save("héllo".encode(), "text/plain")
    assert sorted((await db["bob"])["_attachments"]) == ["note.txt", "photos/avatar.png"]
    await att.delete()
    assert not await att.exists()
    assert list((await db["bob"])["_attachments"]) == ["note.txt"]
    assert await note.fetch() == "héllo".encode()


async def test_bulk_create_update_and_read(db: Any) -> None:
    ids = [f"person-{i:03d}" for i in range(150)]
    async with db.create_docs(ids[:100]) as bulk:
        async for doc in bulk:
            doc["n"] = int(doc.id[-3:])
        for doc_id in ids[100:]:
            bulk.create(doc_id, data={"n": int(doc_id[-3:])})
    assert len(bulk.ok) == 150 and bulk.error == []

    async with db.update_docs([*ids[::3], "person-new"], create=True) as bulk:
        async for doc in bulk:
            doc["n"] = doc.get("n", -1) * 10
            doc["updated"] = True
    assert len(bulk.ok) == 51 and bulk.error == []

    # A bulk write of a stale revision is a per-document conflict row, not a failed batch.
    stale = await db.get("person-001")
    fresh = await db.get("person-001")
    fresh["n"] = 1000
    await fresh.save()
    async with db.update_docs() as bulk:
        stale["n"] = -5
        bulk.append(stale)
    assert bulk.ok == [] and [d.id for d in bulk.error] == ["person-001"]
    assert bulk.response[0]["error"] == "conflict"

    values = {doc.id: doc["n"] async for doc in db.docs([*ids[:6], "person-new"])}
    assert values == {
        "person-000": 0,
        "person-001": 1000,
        "person-002": 2,
        "person-003": 30,
        "person-004": 4,
        "person-005": 5,
        "person-new": -10,
    }
    assert [key async for key in db.akeys()] == sorted([*ids, "person-new"])
    assert [doc.id async for doc in db.docs(prefix="person-14")] == [
        f"person-14{i}" for i in range(10)
    ]
    # A missing id is an error row, a deleted one a row whose doc is null: both "not found".
    with pytest.raises(aiocouch.NotFoundError):
        [doc async for doc in db.docs(["person-000", "nobody"])]
    await (await db["person-149"]).delete()
    with pytest.raises(aiocouch.NotFoundError):
        [doc async for doc in db.docs(["person-149"])]
    assert [doc.id async for doc in db.docs(["person-149", "nobody"], create=True)] == [
        "person-149",
        "nobody",
    ]


async def test_changes_normal_and_continuous(db: Any) -> None:
    async with db.create_docs([f"m{i}" for i in range(5)]) as bulk:
        async for doc in bulk:
            doc["v"] = 1
    gone = await db["m2"]
    await gone.delete()

    events = [event async for event in db.changes()]
    assert [(e.id, type(e).__name__) for e in events] == [
        ("m0", "ChangedEvent"),
        ("m1", "ChangedEvent"),
        ("m3", "ChangedEvent"),
        ("m4", "ChangedEvent"),
        ("m2", "DeletedEvent"),
    ]
    since = events[2].sequence
    later = [event.id async for event in db.changes(since=since)]
    assert later == ["m4", "m2"]
    with_docs = [event async for event in db.changes(include_docs=True, doc_ids=None)]
    assert (await with_docs[0].doc())["v"] == 1

    # A continuous feed from now: a write made while it listens arrives as an event.
    received: list[Any] = []

    async def listen() -> None:
        async for event in db.changes(feed="continuous", since="now", heartbeat=1000):
            received.append(event)
            return

    listener = asyncio.ensure_future(listen())
    try:
        await asyncio.sleep(0.2)
        doc = await db.create("late", data={"v": 2})
        await doc.save()
        async with asyncio.timeout(10):
            await listener
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert [(e.id, e.rev) for e in received] == [("late", doc.rev)]
    assert (await received[0].doc())["v"] == 2
