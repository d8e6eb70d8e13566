"""``validate_doc_update`` on the embedded store: which design documents validate is cached
and follows their edits, a function that loops or throws cannot hang the store, and the
verdict table is CouchDB's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from brainlink_docs.errors import CouchError, Forbidden, QueryServerError, Unauthorized
from brainlink_docs.store.sqlite import SqliteStore
from brainlink_docs.views.validation import verdict_error

NO_RED = "function(doc) { if (doc.color === 'red') throw({forbidden: 'no red'}); }"
NO_BLUE = "function(doc) { if (doc.color === 'blue') throw({forbidden: 'no blue'}); }"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "db.sqlite")
    yield opened
    await opened.close()


async def refused(store: Any, doc: dict[str, Any]) -> str | None:
    try:
        await store.put(doc)
    except CouchError as exc:
        return exc.reason
    return None


async def test_design_documents_written_any_way_change_what_is_validated(
    store: SqliteStore,
) -> None:
    assert await refused(store, {"_id": "r0", "color": "red"}) is None
    await store.put({"_id": "_design/a", "validate_doc_update": NO_RED})
    assert await refused(store, {"_id": "r1", "color": "red"}) == "no red"
    # Edited: the new function applies to the next write.
    ddoc = await store.get("_design/a")
    result = await store.put({**ddoc, "validate_doc_update": NO_BLUE})
    assert await refused(store, {"_id": "r2", "color": "red"}) is None
    assert await refused(store, {"_id": "b1", "color": "blue"}) == "no blue"
    # A second design document: both apply, in id order.
    await store.bulk_docs([{"_id": "_design/b", "validate_doc_update": NO_RED}])
    assert await refused(store, {"_id": "r3", "color": "red"}) == "no red"
    # Replicated in: applies too.
    replicated = {"_id": "_design/c", "_rev": "1-abc", "validate_doc_update": NO_BLUE}
    await store.bulk_docs([replicated], new_edits=False)
    # Deleted: no longer applies.
    await store.delete("_design/a", result.rev or "")
    ddoc_b = await store.get("_design/b")
    await store.delete("_design/b", ddoc_b["_rev"])
    assert await refused(store, {"_id": "r4", "color": "red"}) is None
    assert await refused(store, {"_id": "b2", "color": "blue"}) == "no blue"


async def test_a_looping_function_times_out_and_the_store_goes_on(store: SqliteStore) -> None:
    loops = "function(doc) { if (doc.loop) { while (true) {} } }"
    await store.put({"_id": "_design/loop", "validate_doc_update": loops})
    started = time.monotonic()
    with pytest.raises(QueryServerError, match="timed out"):
        await store.put({"_id": "l", "loop": True})
    assert time.monotonic() - started < 30
    # Other writes meanwhile and after are fine; the refused one wrote nothing.
    await asyncio.gather(*(store.put({"_id": f"ok{i}"}) for i in range(3)))
    assert (await store.info()).doc_count == 4


async def test_the_embedded_store_validates_as_an_admin_unless_told_otherwise(
    store: SqliteStore,
) -> None:
    admins_only = """function(doc, old, user, sec) {
      if (user.roles.indexOf('_admin') === -1) throw({unauthorized: 'admins only'});
      if (user.db !== 'db') throw({forbidden: 'wrong db ' + user.db});
    }"""
    await store.put({"_id": "_design/v", "validate_doc_update": admins_only})
    await store.put({"_id": "by-admin"})
    guest = store.as_user({"db": "db", "name": "guest", "roles": []})
    with pytest.raises(Unauthorized, match="admins only"):
        await guest.put({"_id": "by-guest"})
    rows = await guest.bulk_docs([{"_id": "g1"}, {"_id": "g2"}])
    assert [row.error for row in rows] == ["unauthorized", "unauthorized"]
    admin = await store.get("by-admin")
    with pytest.raises(Unauthorized):
        await guest.delete("by-admin", admin["_rev"])
    with pytest.raises(Unauthorized):
        await guest.put_attachment("by-admin", "a.txt", b"x", "text/plain", admin["_rev"])
    done = await store.put_attachment("by-admin", "a.txt", b"x", "text/plain", admin["_rev"])
    with pytest.raises(Unauthorized):
        await guest.delete_attachment("by-admin", "a.txt", done.rev or "")
    await store.delete_attachment("by-admin", "a.txt", done.rev or "")


@pytest.mark.parametrize(
    ("verdict", "status", "error", "reason"),
    [
        ({"forbidden": "no"}, 403, "forbidden", "no"),
        ({"unauthorized": "who"}, 401, "unauthorized", "who"),
        ({"forbidden": {"field": "x"}}, 403, "forbidden", '{"field":"x"}'),
        ({"other": "x"}, 500, "unknown_error", "x"),
        ("plain", 500, "unknown_error", "plain"),
        ({"$error": ["TypeError", "bad"]}, 500, "TypeError", "bad"),
    ],
)
def test_verdicts_become_couchdbs_errors(
    verdict: Any, status: int, error: str, reason: str
) -> None:
    found = verdict_error(verdict)
    assert found is not None
    assert (found.status, found.error, found.reason) == (status, error, reason)
    assert isinstance(found, Forbidden) == (status == 403)


@pytest.mark.parametrize("verdict", [42, None, True, [], {"forbidden": "a", "other": "b"}])
def test_verdicts_couchdb_has_no_clause_for_fail_the_request(verdict: Any) -> None:
    with pytest.raises(QueryServerError, match="function_clause"):
        verdict_error(verdict)


def test_one_is_valid() -> None:
    assert verdict_error(1) is None
