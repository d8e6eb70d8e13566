"""Many documents at once, as CouchDB 3.x answers them.

``_all_docs`` (and ``_design_docs``/``_local_docs``) take ``couch_mrview_http`` parameters:
keys are JSON (``key``, ``keys``, ``startkey``/``start_key``, ``endkey``/``end_key``), booleans
are ``true``/``false``, integers are integers, and anything malformed is 400. ``_bulk_docs``
answers one row per document (none for successes under ``new_edits: false``); ``_bulk_get``
answers JSON or ``multipart/mixed``; ``_revs_diff`` and ``_missing_revs`` name what is missing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from .helpers import ACCEPT_JSON, bulk, json_of

IDS = ["apple", "banana", "cherry", "date", "elder", "fig"]


async def all_docs(
    client: aiohttp.ClientSession, path: str = "/db/_all_docs", **params: str
) -> dict[str, Any]:
    async with client.get(path, params=params) as r:
        assert r.status == 200, await r.text()
        return await json_of(r)


def ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["rows"]]


@pytest.fixture
async def fruit(db: aiohttp.ClientSession) -> dict[str, str]:
    """Six documents, inserted out of order; returns id -> rev."""
    rows = await bulk(db, [{"_id": i, "n": n} for n, i in reversed(list(enumerate(IDS)))])
    return {row["id"]: row["rev"] for row in rows}


# --- _all_docs -------------------------------------------------------------------------------


async def test_all_docs_lists_every_document_by_id_with_its_rev(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    page = await all_docs(db)
    assert page["total_rows"] == len(IDS)
    assert page["offset"] == 0
    assert page["rows"] == [{"id": i, "key": i, "value": {"rev": fruit[i]}} for i in IDS]


async def test_all_docs_orders_ids_by_raw_bytes(db: aiohttp.ClientSession) -> None:
    names = ["b", "B", "a", "_design/z", "é", "aa", "A", "1"]
    await bulk(db, [{"_id": n} for n in names])
    assert ids(await all_docs(db)) == sorted(names, key=lambda n: n.encode())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startkey": '"cherry"'}, IDS[2:]),
        ({"start_key": '"cherry"'}, IDS[2:]),
        ({"endkey": '"cherry"'}, IDS[:3]),
        ({"end_key": '"cherry"'}, IDS[:3]),
        ({"endkey": '"cherry"', "inclusive_end": "false"}, IDS[:2]),
        ({"startkey": '"c"', "endkey": '"e"'}, ["cherry", "date"]),
        ({"key": '"date"'}, ["date"]),
        ({"limit": "2"}, IDS[:2]),
        ({"limit": "0"}, []),
        ({"skip": "4"}, IDS[4:]),
        ({"skip": "1", "limit": "2"}, IDS[1:3]),
        ({"descending": "true"}, list(reversed(IDS))),
        ({"descending": "true", "startkey": '"cherry"'}, ["cherry", "banana", "apple"]),
        ({"descending": "true", "endkey": '"date"'}, ["fig", "elder", "date"]),
        (
            {"descending": "true", "endkey": '"date"', "inclusive_end": "false"},
            ["fig", "elder"],
        ),
        ({"descending": "true", "skip": "1", "limit": "2"}, ["elder", "date"]),
        ({"keys": '["fig", "apple"]'}, ["fig", "apple"]),
    ],
)
async def test_all_docs_honours_range_paging_and_key_options(
    db: aiohttp.ClientSession,
    fruit: dict[str, str],
    params: dict[str, str],
    expected: list[str],
) -> None:
    page = await all_docs(db, **params)
    assert ids(page) == expected
    assert page["total_rows"] == len(IDS)


@pytest.mark.xfail(
    strict=True,
    reason="documented deviation (README): offset is the rows skipped, as PouchDB reports it; "
    "CouchDB's exact position costs a count over the id index on every page",
)
async def test_all_docs_offset_counts_rows_before_the_first_returned(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    assert (await all_docs(db, startkey='"cherry"'))["offset"] == 2
    assert (await all_docs(db, skip="3"))["offset"] == 3


async def test_all_docs_key_of_a_missing_id_matches_no_row(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    # couch_mrview_http:parse_param("key") sets start_key = end_key: a range, not a lookup, so a
    # missing id yields no row (unlike keys=[...], which answers an error row).
    page = await all_docs(db, key='"grape"')
    assert page["rows"] == []


async def test_all_docs_keys_answers_error_rows_for_missing_and_values_for_deleted(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    async with db.delete("/db/date", params={"rev": fruit["date"]}) as r:
        deleted_rev = (await json_of(r))["rev"]
    page = await all_docs(db, keys='["date", "grape", "apple"]', include_docs="true")
    assert page["rows"][0] == {
        "id": "date",
        "key": "date",
        "value": {"rev": deleted_rev, "deleted": True},
        "doc": None,
    }
    assert page["rows"][1] == {"key": "grape", "error": "not_found"}
    assert page["rows"][2]["doc"] == {"_id": "apple", "_rev": fruit["apple"], "n": 0}


async def test_all_docs_post_keys_matches_get_keys(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    keys = ["fig", "nope", "banana", "fig"]
    async with db.post("/db/_all_docs", json={"keys": keys}) as r:
        assert r.status == 200
        posted = await json_of(r)
    got = await all_docs(db, keys=json.dumps(keys))
    assert posted["rows"] == got["rows"]
    assert [row["key"] for row in posted["rows"]] == keys


async def test_all_docs_post_takes_query_options_alongside_keys(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    body = {"keys": ["cherry", "apple"]}
    async with db.post("/db/_all_docs", json=body, params={"include_docs": "true"}) as r:
        rows = (await json_of(r))["rows"]
    assert [row["doc"]["n"] for row in rows] == [2, 0]


async def test_all_docs_post_without_keys_lists_everything(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    async with db.post("/db/_all_docs", json={}, params={"limit": "3"}) as r:
        assert r.status == 200
        assert ids(await json_of(r)) == IDS[:3]


async def test_all_docs_include_docs_adds_each_body(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    page = await all_docs(db, include_docs="true", limit="2")
    assert [row["doc"] for row in page["rows"]] == [
        {"_id": "apple", "_rev": fruit["apple"], "n": 0},
        {"_id": "banana", "_rev": fruit["banana"], "n": 1},
    ]


async def test_all_docs_conflicts_adds_conflicts_to_included_docs(
    db: aiohttp.ClientSession,
) -> None:
    await bulk(
        db,
        [{"_id": "doc", "_rev": "1-aaaa"}, {"_id": "doc", "_rev": "1-bbbb"}],
        new_edits=False,
    )
    page = await all_docs(db, include_docs="true", conflicts="true")
    assert page["rows"][0]["doc"]["_conflicts"] == ["1-aaaa"]
    plain = await all_docs(db, include_docs="true")
    assert "_conflicts" not in plain["rows"][0]["doc"]


async def test_all_docs_attachments_inlines_attachment_data(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"bytes").decode()
    await bulk(db, [{"_id": "a", "_attachments": {"f": {"content_type": "x/y", "data": data}}}])
    stub = (await all_docs(db, include_docs="true"))["rows"][0]["doc"]["_attachments"]["f"]
    assert stub["stub"] is True
    full = await all_docs(db, include_docs="true", attachments="true")
    assert full["rows"][0]["doc"]["_attachments"]["f"]["data"] == data


async def test_all_docs_update_seq_reports_the_database_sequence(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    page = await all_docs(db, update_seq="true")
    async with db.get("/db") as r:
        info = await json_of(r)
    assert page["update_seq"] == info["update_seq"]
    assert "update_seq" not in await all_docs(db)


async def test_all_docs_skips_deleted_documents_and_counts_only_live_ones(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    async with db.delete("/db/banana", params={"rev": fruit["banana"]}) as r:
        assert r.status == 200
    page = await all_docs(db)
    assert "banana" not in ids(page)
    assert page["total_rows"] == len(IDS) - 1


async def test_all_docs_uppercase_boolean_is_accepted(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    # couch_mrview_http:parse_boolean lower-cases the value first.
    assert ids(await all_docs(db, descending="TRUE"))[0] == "fig"


@pytest.mark.parametrize(
    "params",
    [
        {"startkey": "cherry"},  # not JSON
        {"endkey": "{"},
        {"key": "date"},
        {"keys": "[not json"},
        {"keys": '"apple"'},  # JSON, but not a list
        {"limit": "ten"},
        {"limit": "-1"},
        {"skip": "-2"},
        {"descending": "yes"},
        {"include_docs": "1"},
        {"inclusive_end": "maybe"},
    ],
)
async def test_all_docs_malformed_options_are_400(
    db: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    async with db.get("/db/_all_docs", params=params) as r:
        assert r.status == 400
        body = await json_of(r)
    assert body["error"] in {"bad_request", "query_parse_error"}


async def test_all_docs_post_with_keys_that_are_not_a_list_is_400(
    db: aiohttp.ClientSession,
) -> None:
    async with db.post("/db/_all_docs", json={"keys": "apple"}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_all_docs_streams_large_results_completely(db: aiohttp.ClientSession) -> None:
    many = [{"_id": f"doc{i:05d}"} for i in range(2500)]
    await bulk(db, many)
    page = await all_docs(db)
    assert ids(page) == [d["_id"] for d in many]
    assert page["total_rows"] == 2500
    limited = await all_docs(db, skip="1200", limit="1500")
    assert ids(limited) == [d["_id"] for d in many[1200:2500]]


# --- _design_docs and _local_docs ------------------------------------------------------------


async def test_design_docs_lists_only_design_documents(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    await bulk(db, [{"_id": "_design/b"}, {"_id": "_design/a"}, {"_id": "designer"}])
    page = await all_docs(db, "/db/_design_docs")
    assert ids(page) == ["_design/a", "_design/b"]
    assert ids(await all_docs(db, "/db/_design_docs", descending="true")) == [
        "_design/b",
        "_design/a",
    ]
    assert ids(await all_docs(db, "/db/_design_docs", startkey='"_design/b"')) == ["_design/b"]
    async with db.post("/db/_design_docs", json={"keys": ["_design/b"]}) as r:
        assert ids(await json_of(r)) == ["_design/b"]


async def test_local_docs_lists_only_local_documents(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    for name in ["b", "a"]:
        async with db.put(f"/db/_local/{name}", json={"v": name}) as r:
            assert r.status == 201
    page = await all_docs(db, "/db/_local_docs")
    assert ids(page) == ["_local/a", "_local/b"]
    assert all(row["value"]["rev"].startswith("0-") for row in page["rows"])
    docs = await all_docs(db, "/db/_local_docs", include_docs="true")
    assert [row["doc"]["v"] for row in docs["rows"]] == ["a", "b"]
    assert ids(await all_docs(db, "/db/_local_docs", descending="true")) == ["_local/b", "_local/a"]
    async with db.post("/db/_local_docs", json={"keys": ["_local/b"]}) as r:
        assert ids(await json_of(r)) == ["_local/b"]


# --- _bulk_docs ------------------------------------------------------------------------------


async def test_bulk_docs_creates_updates_and_deletes_in_one_request(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    rows = await bulk(
        db,
        [
            {"_id": "new", "v": 1},
            {"_id": "apple", "_rev": fruit["apple"], "n": 100},
            {"_id": "banana", "_rev": fruit["banana"], "_deleted": True},
            {"v": "generated id"},
        ],
    )
    assert [row.get("ok") for row in rows] == [True, True, True, True]
    assert rows[0]["id"] == "new" and rows[0]["rev"].startswith("1-")
    assert rows[1]["rev"].startswith("2-")
    assert rows[2]["rev"].startswith("2-")
    async with db.get(f"/db/{rows[3]['id']}") as r:
        assert (await json_of(r))["v"] == "generated id"
    async with db.get("/db/banana") as r:
        assert r.status == 404


async def test_bulk_docs_reports_conflicts_per_document(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    rows = await bulk(
        db,
        [
            {"_id": "apple", "n": "no rev"},
            {"_id": "cherry", "_rev": fruit["cherry"], "n": "good"},
            {"_id": "date", "_rev": "1-0000", "n": "stale"},
        ],
    )
    assert rows[0] == {"id": "apple", "error": "conflict", "reason": "Document update conflict."}
    assert rows[1]["ok"] is True
    assert rows[2]["error"] == "conflict"
    async with db.get("/db/apple") as r:
        assert (await json_of(r))["n"] == 0


async def test_bulk_docs_with_new_edits_false_answers_no_rows_for_successes(
    db: aiohttp.ClientSession,
) -> None:
    rows = await bulk(
        db,
        [
            {"_id": "a", "_rev": "3-cccc", "_revisions": {"start": 3, "ids": ["cccc", "bbbb"]}},
            {"_id": "a", "_rev": "2-dddd", "v": "branch"},
            {"_id": "b", "_rev": "1-eeee"},
        ],
        new_edits=False,
    )
    assert rows == []
    async with db.get("/db/a", params={"open_revs": "all"}, headers=ACCEPT_JSON) as r:
        leaves = sorted(item["ok"]["_rev"] for item in await json_of(r))
    assert leaves == ["2-dddd", "3-cccc"]
    async with db.get("/db/b") as r:
        assert (await json_of(r))["_rev"] == "1-eeee"


async def test_bulk_docs_new_edits_false_is_idempotent(db: aiohttp.ClientSession) -> None:
    doc = {"_id": "a", "_rev": "1-aaaa", "v": 1}
    assert await bulk(db, [doc], new_edits=False) == []
    assert await bulk(db, [doc], new_edits=False) == []
    async with db.get("/db") as r:
        assert (await json_of(r))["doc_count"] == 1


async def test_bulk_docs_new_edits_false_without_rev_is_400(db: aiohttp.ClientSession) -> None:
    # chttpd_db:validate_revs throws for the whole request: "When `new_edits: false`, the
    # document needs `_rev` or `_revisions` specified".
    body = {"docs": [{"_id": "x", "v": 1}], "new_edits": False}
    async with db.post("/db/_bulk_docs", json=body) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"docs": {"_id": "x"}},
        {"docs": "nope"},
        {"docs": [], "new_edits": "false"},
        [{"_id": "x"}],
    ],
)
async def test_bulk_docs_malformed_request_is_400(db: aiohttp.ClientSession, body: Any) -> None:
    async with db.post("/db/_bulk_docs", json=body) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_bulk_docs_empty_list_answers_empty_list(db: aiohttp.ClientSession) -> None:
    assert await bulk(db, []) == []


# --- _bulk_get -------------------------------------------------------------------------------


async def test_bulk_get_answers_json_results_in_request_order(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    request = {
        "docs": [
            {"id": "cherry"},
            {"id": "apple", "rev": fruit["apple"]},
            {"id": "apple", "rev": "1-0000"},
            {"id": "grape"},
        ]
    }
    async with db.post("/db/_bulk_get", json=request) as r:
        assert r.status == 200
        results = (await json_of(r))["results"]
    assert [res["id"] for res in results] == ["cherry", "apple", "apple", "grape"]
    assert results[0]["docs"] == [{"ok": {"_id": "cherry", "_rev": fruit["cherry"], "n": 2}}]
    assert results[1]["docs"][0]["ok"]["_rev"] == fruit["apple"]
    assert results[2]["docs"] == [
        {"error": {"id": "apple", "rev": "1-0000", "error": "not_found", "reason": "missing"}}
    ]
    assert results[3]["docs"] == [
        {"error": {"id": "grape", "rev": "undefined", "error": "not_found", "reason": "missing"}}
    ]


async def test_bulk_get_without_rev_answers_every_leaf(db: aiohttp.ClientSession) -> None:
    await bulk(
        db, [{"_id": "d", "_rev": "1-aaaa"}, {"_id": "d", "_rev": "1-bbbb"}], new_edits=False
    )
    async with db.post("/db/_bulk_get", json={"docs": [{"id": "d"}]}) as r:
        (result,) = (await json_of(r))["results"]
    assert sorted(doc["ok"]["_rev"] for doc in result["docs"]) == ["1-aaaa", "1-bbbb"]


async def test_bulk_get_revs_adds_revision_history(db: aiohttp.ClientSession) -> None:
    async with db.put("/db/d", json={"v": 1}) as r:
        rev1 = (await json_of(r))["rev"]
    async with db.put("/db/d", json={"_rev": rev1, "v": 2}) as r:
        rev2 = (await json_of(r))["rev"]
    body = {"docs": [{"id": "d", "rev": rev2}]}
    async with db.post("/db/_bulk_get", json=body, params={"revs": "true"}) as r:
        doc = (await json_of(r))["results"][0]["docs"][0]["ok"]
    assert doc["_revisions"]["start"] == 2
    assert doc["_revisions"]["ids"] == [rev2.split("-")[1], rev1.split("-")[1]]


async def test_bulk_get_attachments_inlines_data(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"att").decode()
    await bulk(db, [{"_id": "d", "_attachments": {"f": {"content_type": "x/y", "data": data}}}])
    body = {"docs": [{"id": "d"}]}
    async with db.post("/db/_bulk_get", json=body, params={"attachments": "true"}) as r:
        doc = (await json_of(r))["results"][0]["docs"][0]["ok"]
    assert base64.b64decode(doc["_attachments"]["f"]["data"]) == b"att"


async def test_bulk_get_multipart_mixed_answers_one_part_per_revision(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    request = {"docs": [{"id": "apple"}, {"id": "fig", "rev": "1-0000"}, {"id": "date"}]}
    headers = {"Accept": "multipart/mixed"}
    async with db.post("/db/_bulk_get", json=request, headers=headers) as r:
        assert r.status == 200
        assert r.content_type == "multipart/mixed"
        reader = aiohttp.MultipartReader(r.headers, r.content)
        parts = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            parts.append((part.headers["Content-Type"], json.loads(await part.read())))
    assert len(parts) == 3
    assert parts[0][1]["_id"] == "apple" and parts[0][1]["_rev"] == fruit["apple"]
    assert 'error="true"' in parts[1][0]
    assert parts[1][1]["error"] == "not_found"
    assert parts[2][1]["_id"] == "date"


async def test_bulk_get_json_is_chosen_when_the_client_accepts_json(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    # chttpd_db:bulk_get_is_multipart: multipart only when JSON is not acceptable.
    headers = {"Accept": "application/json"}
    async with db.post("/db/_bulk_get", json={"docs": [{"id": "apple"}]}, headers=headers) as r:
        assert r.content_type == "application/json"


@pytest.mark.parametrize("body", [{}, {"docs": "apple"}, [{"id": "apple"}]])
async def test_bulk_get_malformed_request_is_400(db: aiohttp.ClientSession, body: Any) -> None:
    async with db.post("/db/_bulk_get", json=body) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


# --- _revs_diff and _missing_revs ------------------------------------------------------------


async def test_revs_diff_names_missing_revisions_and_possible_ancestors(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    request = {
        "apple": [fruit["apple"], "2-abcd"],
        "banana": [fruit["banana"]],
        "grape": ["1-ffff"],
    }
    async with db.post("/db/_revs_diff", json=request) as r:
        assert r.status == 200
        diff = await json_of(r)
    assert diff["apple"]["missing"] == ["2-abcd"]
    assert diff["apple"]["possible_ancestors"] == [fruit["apple"]]
    assert "banana" not in diff
    assert diff["grape"] == {"missing": ["1-ffff"]}


async def test_missing_revs_names_only_missing_revisions(
    db: aiohttp.ClientSession, fruit: dict[str, str]
) -> None:
    request = {"apple": [fruit["apple"], "2-abcd"], "banana": [fruit["banana"]]}
    async with db.post("/db/_missing_revs", json=request) as r:
        assert r.status == 200
        assert await json_of(r) == {"missing_revs": {"apple": ["2-abcd"]}}


@pytest.mark.parametrize("path", ["/db/_revs_diff", "/db/_missing_revs"])
@pytest.mark.parametrize("body", [[1, 2], {"doc": "1-abc"}, {"doc": [1]}])
async def test_revs_diff_and_missing_revs_reject_malformed_bodies(
    db: aiohttp.ClientSession, path: str, body: Any
) -> None:
    async with db.post(path, json=body) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"
