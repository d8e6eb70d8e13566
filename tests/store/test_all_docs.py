"""Contract: ``all_docs`` (CouchDB's GET/POST /db/_all_docs).

CouchDB collates ``_all_docs`` ids as raw UTF-8 bytes (``couch_ejson_compare`` is not used for
the id btree), so ``"B" < "_design/x" < "a" < "é"``. Ranges skip deleted documents; ``keys`` look
each id up and report deleted and missing ones inline. ``total_rows`` counts live documents,
``_local`` documents live in a separate tree and never appear.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.store.api import (
    AllDocsQuery,
    ChangesQuery,
    DocumentStore,
    all_docs_pages,
    iter_all_docs,
)

from .helpers import STORE_EXAMPLES


def ids(page_rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in page_rows]


async def put_all(store: DocumentStore, doc_ids: list[str]) -> dict[str, str]:
    results = await store.bulk_docs([{"_id": i, "n": i} for i in doc_ids])
    assert all(r.ok for r in results)
    return {r.id: r.rev for r in results if r.rev}


@pytest.fixture
async def abc(store: DocumentStore) -> dict[str, str]:
    return await put_all(store, ["c", "a", "e", "b", "d"])


# --- shape --------------------------------------------------------------------------------------


async def test_empty_database_has_no_rows(store: DocumentStore) -> None:
    page = await store.all_docs()
    assert page.total_rows == 0
    assert page.rows == []


async def test_rows_carry_id_key_and_winning_rev(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs()
    assert page.rows == [
        {"id": i, "key": i, "value": {"rev": abc[i]}} for i in ["a", "b", "c", "d", "e"]
    ]
    assert page.total_rows == 5


async def test_include_docs_adds_the_winning_doc(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(include_docs=True, limit=1))
    assert page.rows == [
        {
            "id": "a",
            "key": "a",
            "value": {"rev": abc["a"]},
            "doc": {"_id": "a", "_rev": abc["a"], "n": "a"},
        }
    ]


async def test_rows_follow_updates(store: DocumentStore, abc: dict[str, str]) -> None:
    updated = await store.put({"_id": "b", "_rev": abc["b"], "n": "B2"})
    page = await store.all_docs(AllDocsQuery(keys=("b",), include_docs=True))
    assert page.rows[0]["value"] == {"rev": updated.rev}
    assert page.rows[0]["doc"]["n"] == "B2"


async def test_conflicted_doc_shows_its_winner_and_conflicts_when_asked(
    store: DocumentStore,
) -> None:
    await store.bulk_docs(
        [
            {"_id": "c", "_rev": "1-" + "a" * 32, "v": "a"},
            {"_id": "c", "_rev": "1-" + "b" * 32, "v": "b"},
        ],
        new_edits=False,
    )
    page = await store.all_docs(AllDocsQuery(include_docs=True, conflicts=True))
    (row,) = page.rows
    assert row["value"] == {"rev": "1-" + "b" * 32}
    assert row["doc"]["v"] == "b"
    assert row["doc"]["_conflicts"] == ["1-" + "a" * 32]
    plain = await store.all_docs(AllDocsQuery(include_docs=True))
    assert "_conflicts" not in plain.rows[0]["doc"]


async def test_update_seq_is_reported_when_asked(store: DocumentStore) -> None:
    await put_all(store, ["a"])
    assert (await store.all_docs()).update_seq is None
    page = await store.all_docs(AllDocsQuery(update_seq=True))
    assert page.update_seq is not None
    # The reported seq is the database's: nothing is newer than it.
    assert (await store.changes(ChangesQuery(since=page.update_seq))).results == []


# --- what is listed -----------------------------------------------------------------------------


async def test_ids_collate_as_utf8_bytes(store: DocumentStore) -> None:
    doc_ids = ["é", "a", "B", "_design/x", "Z", "1", "~", "aa", "A", "\U0001f600", "\ue000"]
    await put_all(store, doc_ids)
    page = await store.all_docs()
    assert ids(page.rows) == sorted(doc_ids, key=lambda s: s.encode("utf-8"))
    assert ids(page.rows)[:3] == ["1", "A", "B"]


async def test_deleted_docs_are_not_listed_or_counted(
    store: DocumentStore, abc: dict[str, str]
) -> None:
    await store.delete("c", abc["c"])
    page = await store.all_docs()
    assert ids(page.rows) == ["a", "b", "d", "e"]
    assert page.total_rows == 4


async def test_design_docs_are_listed(store: DocumentStore, abc: dict[str, str]) -> None:
    await store.put({"_id": "_design/app"})
    page = await store.all_docs()
    assert "_design/app" in ids(page.rows)
    assert page.total_rows == 6


async def test_local_docs_are_never_listed(store: DocumentStore, abc: dict[str, str]) -> None:
    await store.put({"_id": "_local/checkpoint", "seq": 1})
    page = await store.all_docs()
    assert "_local/checkpoint" not in ids(page.rows)
    assert page.total_rows == 5
    ranged = await store.all_docs(AllDocsQuery(startkey="_", endkey="_\uffff"))
    assert ranged.rows == []


# --- ranges -------------------------------------------------------------------------------------


async def test_startkey_and_endkey_are_inclusive(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(startkey="b", endkey="d"))
    assert ids(page.rows) == ["b", "c", "d"]


async def test_inclusive_end_false_excludes_the_endkey(
    store: DocumentStore, abc: dict[str, str]
) -> None:
    page = await store.all_docs(AllDocsQuery(startkey="b", endkey="d", inclusive_end=False))
    assert ids(page.rows) == ["b", "c"]


async def test_keys_between_ids_bound_a_range(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(startkey="bb", endkey="dd"))
    assert ids(page.rows) == ["c", "d"]


async def test_descending_reverses_and_starts_from_the_high_end(
    store: DocumentStore, abc: dict[str, str]
) -> None:
    assert ids((await store.all_docs(AllDocsQuery(descending=True))).rows) == list("edcba")
    page = await store.all_docs(AllDocsQuery(descending=True, startkey="d", endkey="b"))
    assert ids(page.rows) == ["d", "c", "b"]


async def test_descending_inclusive_end_false_excludes_the_low_endkey(
    store: DocumentStore, abc: dict[str, str]
) -> None:
    page = await store.all_docs(
        AllDocsQuery(descending=True, startkey="d", endkey="b", inclusive_end=False)
    )
    assert ids(page.rows) == ["d", "c"]


async def test_reversed_range_is_empty(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(startkey="d", endkey="b"))
    assert page.rows == []


async def test_limit_and_skip_page_through(store: DocumentStore, abc: dict[str, str]) -> None:
    assert ids((await store.all_docs(AllDocsQuery(limit=2))).rows) == ["a", "b"]
    assert ids((await store.all_docs(AllDocsQuery(limit=2, skip=2))).rows) == ["c", "d"]
    assert ids((await store.all_docs(AllDocsQuery(skip=4))).rows) == ["e"]
    assert (await store.all_docs(AllDocsQuery(skip=9))).rows == []
    assert (await store.all_docs(AllDocsQuery(limit=0))).rows == []


async def test_total_rows_ignores_the_range(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(startkey="c", limit=1))
    assert page.total_rows == 5


# --- keys ---------------------------------------------------------------------------------------


async def test_keys_return_rows_in_the_order_asked(
    store: DocumentStore, abc: dict[str, str]
) -> None:
    page = await store.all_docs(AllDocsQuery(keys=("d", "a", "c", "a")))
    assert ids(page.rows) == ["d", "a", "c", "a"]
    assert page.rows[0] == {"id": "d", "key": "d", "value": {"rev": abc["d"]}}


async def test_keys_report_missing_ids(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(keys=("a", "nope")))
    assert page.rows[1] == {"key": "nope", "error": "not_found"}


async def test_keys_report_deleted_docs(store: DocumentStore, abc: dict[str, str]) -> None:
    tomb = await store.delete("b", abc["b"])
    page = await store.all_docs(AllDocsQuery(keys=("b",), include_docs=True))
    assert page.rows == [
        {"id": "b", "key": "b", "value": {"rev": tomb.rev, "deleted": True}, "doc": None}
    ]


async def test_keys_with_include_docs(store: DocumentStore, abc: dict[str, str]) -> None:
    page = await store.all_docs(AllDocsQuery(keys=("e", "a"), include_docs=True))
    assert [row["doc"] for row in page.rows] == [
        {"_id": "e", "_rev": abc["e"], "n": "e"},
        {"_id": "a", "_rev": abc["a"], "n": "a"},
    ]


# --- laws ---------------------------------------------------------------------------------------

# Ids: any text without surrogates (not encodable), not starting with "_" (reserved).
DOC_ID = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6).filter(
    lambda s: not s.startswith("_")
)
KEY = st.one_of(st.none(), DOC_ID, st.sampled_from(["", "a", "z", "\uffff", "\U0010ffff"]))


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


def model_range(live: set[str], q: AllDocsQuery) -> list[str]:
    """CouchDB's _all_docs over ``live`` ids, written the straightforward way."""
    order = sorted(live, key=utf8, reverse=q.descending)

    def after_start(i: str) -> bool:
        if q.startkey is None:
            return True
        return utf8(i) <= utf8(q.startkey) if q.descending else utf8(i) >= utf8(q.startkey)

    def before_end(i: str) -> bool:
        if q.endkey is None:
            return True
        a, b = utf8(i), utf8(q.endkey)
        if q.descending:
            return a >= b if q.inclusive_end else a > b
        return a <= b if q.inclusive_end else a < b

    selected = [i for i in order if after_start(i) and before_end(i)][q.skip :]
    return selected if q.limit is None else selected[: q.limit]


async def make_live(store: DocumentStore, wanted: set[str]) -> None:
    """Bring the store to exactly ``wanted`` live docs (deleting the rest, recreating as needed)."""
    page = await store.all_docs()
    current = {row["id"]: row["value"]["rev"] for row in page.rows}
    gone = [{"_id": i, "_rev": r, "_deleted": True} for i, r in current.items() if i not in wanted]
    new = [{"_id": i} for i in wanted if i not in current]
    results = await store.bulk_docs(gone + new)
    assert all(r.ok for r in results), results


@STORE_EXAMPLES
@given(
    live=st.sets(DOC_ID, max_size=15),
    startkey=KEY,
    endkey=KEY,
    inclusive_end=st.booleans(),
    descending=st.booleans(),
    skip=st.integers(0, 4),
    limit=st.one_of(st.none(), st.integers(0, 6)),
)
async def test_ranges_match_a_model_of_utf8_sorted_ids(
    store: DocumentStore,
    live: set[str],
    startkey: str | None,
    endkey: str | None,
    inclusive_end: bool,
    descending: bool,
    skip: int,
    limit: int | None,
) -> None:
    await make_live(store, live)
    query = AllDocsQuery(
        startkey=startkey,
        endkey=endkey,
        inclusive_end=inclusive_end,
        descending=descending,
        skip=skip,
        limit=limit,
    )
    page = await store.all_docs(query)
    assert ids(page.rows) == model_range(live, query)
    assert [row["key"] for row in page.rows] == ids(page.rows)
    assert page.total_rows == len(live)


@STORE_EXAMPLES
@given(
    live=st.sets(DOC_ID, max_size=15),
    keys=st.lists(DOC_ID, max_size=6),
)
async def test_keys_match_a_model_lookup(
    store: DocumentStore, live: set[str], keys: list[str]
) -> None:
    await make_live(store, live)
    page = await store.all_docs(AllDocsQuery(keys=tuple(keys)))
    assert [row["key"] for row in page.rows] == keys
    for key, row in zip(keys, page.rows, strict=True):
        if key in live:
            assert row["id"] == key
            assert "error" not in row
        else:
            # Never written (not_found) or deleted by an earlier example (value.deleted).
            assert row.get("error") == "not_found" or row["value"].get("deleted") is True


@STORE_EXAMPLES
@given(live=st.sets(DOC_ID, max_size=20), page_size=st.integers(1, 7), descending=st.booleans())
async def test_iter_all_docs_pages_visit_every_row_once(
    store: DocumentStore, live: set[str], page_size: int, descending: bool
) -> None:
    await make_live(store, live)
    query = AllDocsQuery(descending=descending)
    seen = [row["id"] async for row in iter_all_docs(store, query, page_size=page_size)]
    assert seen == sorted(live, key=utf8, reverse=descending)


async def test_a_page_walk_loses_no_row_when_the_last_one_seen_is_deleted(
    store: DocumentStore,
) -> None:
    """Each page restarts at the last id seen; deleting that document between two pages must
    not make the walk drop the row after it (as ``skip=1`` would)."""
    written = await store.bulk_docs([{"_id": f"d{i}"} for i in range(6)])
    revs = {r.id: r.rev for r in written}
    seen: list[str] = []
    async for rows in all_docs_pages(store, AllDocsQuery(), page_size=2):
        seen += [row["id"] for row in rows]
        if seen[-1] == "d1":
            await store.delete("d1", revs["d1"])
    assert seen == ["d0", "d1", "d2", "d3", "d4", "d5"]
