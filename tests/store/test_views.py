"""The view query API of ``DocumentStore`` on every backend (embedded file and memory, our
server, the real CouchDB, pouchdb-server): the same design document answers the same queries
with the same rows, reductions and errors, and an index follows later writes."""

from __future__ import annotations

import pytest

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.store.api import DocumentStore, ViewQuery

DESIGN = {
    "_id": "_design/chat",
    "views": {
        "by_chat": {"map": "function(doc){ if (doc.chat) emit([doc.chat, doc.seq], doc.tokens); }"},
        "tokens": {
            "map": "function(doc){ if (doc.chat) emit(doc.chat, doc.tokens); }",
            "reduce": "_sum",
        },
    },
}
MESSAGES = [{"_id": f"m{i:02d}", "chat": "ab"[i % 2], "seq": i, "tokens": i * 10} for i in range(6)]


async def seeded(store: DocumentStore) -> DocumentStore:
    assert all(r.ok for r in await store.bulk_docs([*MESSAGES, DESIGN]))
    return store


def keys(rows: list[dict[str, object]]) -> list[object]:
    return [row["key"] for row in rows]


async def test_a_map_view_answers_rows_in_key_order(store: DocumentStore) -> None:
    page = await (await seeded(store)).query_view("chat", "by_chat")
    assert page.total_rows == 6 and page.offset == 0
    assert keys(page.rows) == [["a", 0], ["a", 2], ["a", 4], ["b", 1], ["b", 3], ["b", 5]]
    assert [row["id"] for row in page.rows] == ["m00", "m02", "m04", "m01", "m03", "m05"]


async def test_ranges_limits_and_descending(store: DocumentStore) -> None:
    await seeded(store)
    query = ViewQuery(startkey=["b"], endkey=["b", {}], descending=False, limit=2, skip=1)
    page = await store.query_view("chat", "by_chat", query)
    assert keys(page.rows) == [["b", 3], ["b", 5]]
    assert page.offset == 4
    desc = ViewQuery(startkey=["a", {}], endkey=["a"], descending=True)
    assert keys((await store.query_view("chat", "by_chat", desc)).rows) == [
        ["a", 4],
        ["a", 2],
        ["a", 0],
    ]


async def test_reduce_group_and_keys(store: DocumentStore) -> None:
    await seeded(store)
    total = await store.query_view("chat", "tokens")
    assert total.rows == [{"key": None, "value": 150}]
    grouped = await store.query_view("chat", "tokens", ViewQuery(group=True))
    assert grouped.rows == [{"key": "a", "value": 60}, {"key": "b", "value": 90}]
    picked = await store.query_view("chat", "tokens", ViewQuery(keys=("b", "a"), group=True))
    assert picked.rows == [{"key": "b", "value": 90}, {"key": "a", "value": 60}]
    plain = await store.query_view("chat", "tokens", ViewQuery(reduce=False, key="a"))
    assert [row["value"] for row in plain.rows] == [0, 20, 40]


async def test_include_docs_and_later_writes(store: DocumentStore) -> None:
    await seeded(store)
    query = ViewQuery(key=["a", 2], include_docs=True)
    row = (await store.query_view("chat", "by_chat", query)).rows[0]
    assert row["doc"]["_id"] == "m02" and row["doc"]["tokens"] == 20
    doc = await store.get("m02")
    await store.put({**doc, "seq": 7})
    await store.delete("m04", (await store.get("m04"))["_rev"])
    page = await store.query_view("chat", "by_chat", ViewQuery(startkey=["a"], endkey=["a", {}]))
    assert keys(page.rows) == [["a", 0], ["a", 7]]
    assert page.total_rows == 5


async def test_errors(store: DocumentStore) -> None:
    await seeded(store)
    with pytest.raises(NotFound):
        await store.query_view("nope", "by_chat")
    with pytest.raises(NotFound):
        await store.query_view("chat", "nope")
    with pytest.raises(BadRequest):
        await store.query_view("chat", "by_chat", ViewQuery(group=True))
    with pytest.raises(BadRequest):
        await store.query_view("chat", "tokens", ViewQuery(include_docs=True))
