"""Document endpoints as CouchDB 3.x answers them (``chttpd_db:db_doc_req``).

An edit names its revision by ``?rev=``, ``If-Match`` or the body's ``_rev``; every document
answer carries the revision as ``ETag`` and a matching ``If-None-Match`` gets 304. Reads take
``parse_doc_query``'s options: booleans are the word ``true`` (anything else is ignored),
``open_revs`` and ``atts_since`` are JSON, ``rev`` is a plain revision. ``open_revs`` answers
JSON to a client that accepts JSON and ``multipart/mixed`` otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from .conftest import Server, serving
from .helpers import ACCEPT_JSON, BAD_CTYPE, bulk, get_doc, json_of, put_doc

HEX32 = re.compile(r"^[0-9a-f]{32}$")
CONFLICT = {"error": "conflict", "reason": "Document update conflict."}
MISSING = {"error": "not_found", "reason": "missing"}
DELETED = {"error": "not_found", "reason": "deleted"}
SMALL_DOC_LIMIT = 1024


async def mixed_parts(response: aiohttp.ClientResponse) -> list[tuple[str, Any]]:
    """The (content type, JSON) of each part of a ``multipart/mixed`` answer.

    A part may itself be ``multipart/related`` (a document whose attachments follow it, as
    CouchDB sends them); its attachments are folded back into the JSON as base64 ``data``.
    """
    reader = aiohttp.MultipartReader(response.headers, response.content)
    parts: list[tuple[str, Any]] = []
    while (part := await reader.next()) is not None:
        if isinstance(part, aiohttp.MultipartReader):
            parts.append(("multipart/related", await _related_doc(part)))
            continue
        ctype = part.headers.get("Content-Type", "")
        parts.append((ctype, json.loads(await part.read())))
    return parts


async def _related_doc(reader: aiohttp.MultipartReader) -> dict[str, Any]:
    first = await reader.next()
    assert isinstance(first, aiohttp.BodyPartReader)
    doc = json.loads(await first.read())
    following = [n for n, a in doc.get("_attachments", {}).items() if a.get("follows")]
    for name in following:
        part = await reader.next()
        assert isinstance(part, aiohttp.BodyPartReader)
        att = doc["_attachments"][name]
        att["data"] = base64.b64encode(await part.read(decode=False)).decode()
        del att["follows"]
    return doc


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[Server]:
    """A second server whose ``max_document_size`` is small enough to exceed in a test."""
    async with serving(tmp_path / "small", max_document_size=SMALL_DOC_LIMIT) as small:
        yield small


# --- create, read, update, delete ------------------------------------------------------------


async def test_put_creates_document_with_201_ok_id_rev_etag_and_location(
    db: aiohttp.ClientSession,
) -> None:
    async with db.put("/db/doc", json={"a": 1}) as r:
        assert r.status == 201
        body = await json_of(r)
        assert body["ok"] is True
        assert body["id"] == "doc"
        assert body["rev"].startswith("1-")
        assert r.headers["ETag"] == f'"{body["rev"]}"'
        assert r.headers["Location"].endswith("/db/doc")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # CouchDB 3.5 answers these Locations (percent-encoded); a raw control character in
        # the header made aiohttp drop the connection instead of answering.
        ("/db/new%20doc%1F", "/db/new%20doc%1F"),
        ("/db/a%2Fb", "/db/a%2Fb"),
        ("/db/_design/app", "/db/_design/app"),
    ],
)
async def test_location_is_percent_encoded(
    db: aiohttp.ClientSession, path: str, expected: str
) -> None:
    async with db.put(yarl.URL(path, encoded=True), json={}) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Location"].endswith(expected)


async def test_get_returns_body_with_id_and_rev_and_etag(db: aiohttp.ClientSession) -> None:
    rev = await put_doc(db, "/db/doc", {"a": 1, "nested": {"list": [1, "two", None]}})
    async with db.get("/db/doc") as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        assert r.headers["ETag"] == f'"{rev}"'
        assert await json_of(r) == {
            "_id": "doc",
            "_rev": rev,
            "a": 1,
            "nested": {"list": [1, "two", None]},
        }


async def test_unicode_ids_and_bodies_round_trip(db: aiohttp.ClientSession) -> None:
    body = {"text": "żółć — 漢字 — 🦀", "esc": "tab\tnl\n"}
    await put_doc(db, "/db/%C3%A9t%C3%A9%20%F0%9F%A6%80", body)
    doc = await get_doc(db, "/db/%C3%A9t%C3%A9%20%F0%9F%A6%80")
    assert doc["_id"] == "été 🦀"
    assert doc["text"] == body["text"] and doc["esc"] == body["esc"]


async def test_put_without_rev_on_existing_document_is_409_conflict(
    db: aiohttp.ClientSession,
) -> None:
    await put_doc(db, "/db/doc", {"a": 1})
    async with db.put("/db/doc", json={"a": 2}) as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT


async def test_put_with_stale_rev_is_409_conflict(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    await put_doc(db, "/db/doc", {"_rev": rev1, "a": 2})
    async with db.put("/db/doc", json={"_rev": rev1, "a": 3}) as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT
    assert (await get_doc(db, "/db/doc"))["a"] == 2


@pytest.mark.parametrize("where", ["body", "query", "if-match"])
async def test_update_takes_its_rev_from_body_query_or_if_match(
    db: aiohttp.ClientSession, where: str
) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    body: dict[str, Any] = {"a": 2}
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    if where == "body":
        body["_rev"] = rev1
    elif where == "query":
        params["rev"] = rev1
    else:
        headers["If-Match"] = f'"{rev1}"'
    rev2 = await put_doc(db, "/db/doc", body, params=params, headers=headers)
    assert rev2.startswith("2-")
    assert await get_doc(db, "/db/doc") == {"_id": "doc", "_rev": rev2, "a": 2}


async def test_rev_in_query_and_body_that_disagree_is_400(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    async with db.put("/db/doc", json={"_rev": rev1, "a": 2}, params={"rev": "1-abc"}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_rev_in_query_and_if_match_that_disagree_is_400(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    headers = {"If-Match": '"1-abc"'}
    async with db.put("/db/doc", json={"a": 2}, params={"rev": rev1}, headers=headers) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_get_missing_document_is_404_missing(db: aiohttp.ClientSession) -> None:
    async with db.get("/db/nope") as r:
        assert r.status == 404
        assert await json_of(r) == MISSING


@pytest.mark.parametrize("where", ["query", "if-match"])
async def test_delete_with_rev_is_200_and_leaves_a_tombstone(
    db: aiohttp.ClientSession, where: str
) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    params = {"rev": rev1} if where == "query" else {}
    headers = {"If-Match": f'"{rev1}"'} if where == "if-match" else {}
    async with db.delete("/db/doc", params=params, headers=headers) as r:
        assert r.status == 200
        body = await json_of(r)
        assert body["ok"] is True and body["id"] == "doc"
        assert body["rev"].startswith("2-")
        assert r.headers["ETag"] == f'"{body["rev"]}"'
    async with db.get("/db/doc") as r:
        assert r.status == 404
        assert await json_of(r) == DELETED
    tombstone = await get_doc(db, "/db/doc", rev=body["rev"])
    assert tombstone == {"_id": "doc", "_rev": body["rev"], "_deleted": True}
    assert (await get_doc(db, "/db/doc", rev=rev1))["a"] == 1


async def test_delete_without_rev_is_409_conflict(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/doc", {"a": 1})
    async with db.delete("/db/doc") as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT
    assert (await get_doc(db, "/db/doc"))["a"] == 1


async def test_delete_with_stale_rev_is_409_conflict(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    await put_doc(db, "/db/doc", {"_rev": rev1, "a": 2})
    async with db.delete("/db/doc", params={"rev": rev1}) as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT


async def test_delete_missing_document_is_404(db: aiohttp.ClientSession) -> None:
    async with db.delete("/db/nope") as r:
        assert r.status == 404
        assert await json_of(r) == MISSING


async def test_recreate_after_delete_continues_the_history(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    async with db.delete("/db/doc", params={"rev": rev1}) as r:
        assert r.status == 200
    rev3 = await put_doc(db, "/db/doc", {"a": 3})
    assert rev3.startswith("3-")


async def test_head_answers_etag_without_body(db: aiohttp.ClientSession) -> None:
    rev = await put_doc(db, "/db/doc", {"a": 1})
    async with db.head("/db/doc") as r:
        assert r.status == 200
        assert r.headers["ETag"] == f'"{rev}"'
        assert await r.read() == b""
    async with db.head("/db/nope") as r:
        assert r.status == 404
        assert await r.read() == b""


# --- ETag and If-None-Match ------------------------------------------------------------------


async def test_if_none_match_with_current_etag_is_304_without_body(
    db: aiohttp.ClientSession,
) -> None:
    rev = await put_doc(db, "/db/doc", {"a": 1})
    async with db.get("/db/doc", headers={"If-None-Match": f'"{rev}"'}) as r:
        assert r.status == 304
        assert r.headers["ETag"] == f'"{rev}"'
        assert await r.read() == b""


async def test_if_none_match_with_stale_etag_is_200(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"a": 1})
    rev2 = await put_doc(db, "/db/doc", {"_rev": rev1, "a": 2})
    async with db.get("/db/doc", headers={"If-None-Match": f'"{rev1}"'}) as r:
        assert r.status == 200
        assert r.headers["ETag"] == f'"{rev2}"'


@pytest.mark.parametrize("template", ['"1-other", "{rev}"', 'W/"{rev}"', '"{rev}", "2-x"'])
async def test_if_none_match_lists_and_weak_tags_match_too(
    db: aiohttp.ClientSession, template: str
) -> None:
    # chttpd:etag_match splits If-None-Match on ", " and strips a W/ prefix from each tag.
    rev = await put_doc(db, "/db/doc", {"a": 1})
    async with db.get("/db/doc", headers={"If-None-Match": template.format(rev=rev)}) as r:
        assert r.status == 304


async def test_every_document_response_carries_the_revision_as_etag(
    db: aiohttp.ClientSession,
) -> None:
    async with db.put("/db/doc", json={"a": 1}) as r:
        rev1 = (await json_of(r))["rev"]
        assert r.headers["ETag"] == f'"{rev1}"'
    async with db.get("/db/doc") as r:
        assert r.headers["ETag"] == f'"{rev1}"'
    async with db.head("/db/doc") as r:
        assert r.headers["ETag"] == f'"{rev1}"'
    async with db.request("COPY", "/db/doc", headers={"Destination": "copy"}) as r:
        assert r.status == 201
        assert r.headers["ETag"] == f'"{(await json_of(r))["rev"]}"'
    async with db.delete("/db/doc", params={"rev": rev1}) as r:
        assert r.headers["ETag"] == f'"{(await json_of(r))["rev"]}"'


# --- COPY ------------------------------------------------------------------------------------


async def test_copy_to_new_id_duplicates_the_body(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/src", {"a": 1, "b": [2]})
    async with db.request("COPY", "/db/src", headers={"Destination": "dst"}) as r:
        assert r.status == 201
        body = await json_of(r)
        assert body["id"] == "dst"
        assert body["rev"].startswith("1-")
        assert r.headers["Location"].endswith("/db/dst")
    dst = await get_doc(db, "/db/dst")
    assert dst == {"_id": "dst", "_rev": body["rev"], "a": 1, "b": [2]}


async def test_copy_onto_existing_id_needs_its_rev_in_destination(
    db: aiohttp.ClientSession,
) -> None:
    await put_doc(db, "/db/src", {"v": "new"})
    dst_rev = await put_doc(db, "/db/dst", {"v": "old"})
    async with db.request("COPY", "/db/src", headers={"Destination": "dst"}) as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT
    headers = {"Destination": f"dst?rev={dst_rev}"}
    async with db.request("COPY", "/db/src", headers=headers) as r:
        assert r.status == 201
        assert (await json_of(r))["rev"].startswith("2-")
    assert (await get_doc(db, "/db/dst"))["v"] == "new"


async def test_copy_of_an_older_revision_copies_that_revision(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/src", {"v": 1})
    await put_doc(db, "/db/src", {"_rev": rev1, "v": 2})
    headers = {"Destination": "dst"}
    async with db.request("COPY", "/db/src", params={"rev": rev1}, headers=headers) as r:
        assert r.status == 201
    assert (await get_doc(db, "/db/dst"))["v"] == 1


async def test_copy_carries_attachments(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"attached bytes").decode()
    attachments = {"f.bin": {"content_type": "application/octet-stream", "data": data}}
    await put_doc(db, "/db/src", {"_attachments": attachments})
    async with db.request("COPY", "/db/src", headers={"Destination": "dst"}) as r:
        assert r.status == 201
    async with db.get("/db/dst/f.bin") as r:
        assert r.status == 200
        assert await r.read() == b"attached bytes"


async def test_copy_without_destination_is_400(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/src", {"v": 1})
    async with db.request("COPY", "/db/src") as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_copy_of_missing_document_is_404(db: aiohttp.ClientSession) -> None:
    async with db.request("COPY", "/db/nope", headers={"Destination": "dst"}) as r:
        assert r.status == 404


# --- _design/ and _local/ ids ----------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["_design", "_local"])
@pytest.mark.parametrize(("write_sep", "read_sep"), [("/", "%2F"), ("%2F", "/"), ("/", "/")])
async def test_prefixed_ids_work_with_literal_or_encoded_slash(
    db: aiohttp.ClientSession, prefix: str, write_sep: str, read_sep: str
) -> None:
    rev = await put_doc(db, f"/db/{prefix}{write_sep}thing", {"v": 1})
    doc = await get_doc(db, f"/db/{prefix}{read_sep}thing")
    assert doc["_id"] == f"{prefix}/thing"
    assert doc["_rev"] == rev
    rev2 = await put_doc(db, f"/db/{prefix}{read_sep}thing", {"_rev": rev, "v": 2})
    async with db.delete(f"/db/{prefix}{write_sep}thing", params={"rev": rev2}) as r:
        assert r.status == 200
    async with db.get(f"/db/{prefix}/thing") as r:
        assert r.status == 404


async def test_local_documents_stay_out_of_all_docs_and_changes(
    db: aiohttp.ClientSession,
) -> None:
    rev = await put_doc(db, "/db/_local/checkpoint", {"seq": 1})
    assert rev.startswith("0-")
    await put_doc(db, "/db/_local/checkpoint", {"_rev": rev, "seq": 2})
    await put_doc(db, "/db/normal", {"v": 1})
    rows = (await get_doc(db, "/db/_all_docs"))["rows"]
    assert [row["id"] for row in rows] == ["normal"]
    results = (await get_doc(db, "/db/_changes"))["results"]
    assert [row["id"] for row in results] == ["normal"]
    assert (await get_doc(db, "/db"))["doc_count"] == 1


async def test_design_documents_are_listed_in_all_docs(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/_design/app", {"views": {}})
    rows = (await get_doc(db, "/db/_all_docs"))["rows"]
    assert [row["id"] for row in rows] == ["_design/app"]


@pytest.mark.parametrize("function", ["_show/s", "_list/l/v", "_update/u"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_deprecated_design_document_functions_are_501_not_implemented(
    db: aiohttp.ClientSession, function: str, method: str
) -> None:
    await put_doc(db, "/db/_design/app", {"views": {"by_x": {"map": "function(d){emit(d.x)}"}}})
    async with db.request(method, f"/db/_design/app/{function}", json={}) as r:
        assert r.status == 501
        body = await json_of(r)
    assert body["error"] == "not_implemented"
    assert isinstance(body["reason"], str)


async def test_local_documents_refuse_attachments_with_400(db: aiohttp.ClientSession) -> None:
    # chttpd_db: db_req([_, <<"_local">> | _Rest]) throws {bad_request, <<"_local documents do
    # not accept attachments.">>}
    await put_doc(db, "/db/_local/doc", {"v": 1})
    async with db.put("/db/_local/doc/att.txt", data=b"x") as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"
    async with db.get("/db/_local/doc/att.txt") as r:
        assert r.status == 400


async def test_bare_local_prefix_is_400_invalid_local_document_id(
    db: aiohttp.ClientSession,
) -> None:
    async with db.get("/db/_local") as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_encoded_slash_makes_a_plain_id_while_a_literal_slash_names_an_attachment(
    db: aiohttp.ClientSession,
) -> None:
    await put_doc(db, "/db/a%2Fb", {"v": 1})
    assert (await get_doc(db, "/db/a%2Fb"))["_id"] == "a/b"
    async with db.get("/db/a/b") as r:
        assert r.status == 404  # attachment "b" of document "a"
    ids = [row["id"] for row in (await get_doc(db, "/db/_all_docs"))["rows"]]
    assert ids == ["a/b"]


@pytest.mark.parametrize("doc_id", ["_foo", "_design", "_localx"])
async def test_ids_with_a_reserved_underscore_are_400_illegal_docid(
    db: aiohttp.ClientSession, doc_id: str
) -> None:
    async with db.put(f"/db/{doc_id}", json={"v": 1}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] in {"illegal_docid", "bad_request"}
    async with db.post("/db", json={"_id": doc_id, "v": 1}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] in {"illegal_docid", "bad_request"}
    assert (await get_doc(db, "/db"))["doc_count"] == 0


async def test_unknown_underscore_member_is_400_doc_validation(db: aiohttp.ClientSession) -> None:
    async with db.put("/db/doc", json={"_bogus": 1}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "doc_validation"


# --- read options ----------------------------------------------------------------------------


async def test_rev_reads_an_older_revision(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"v": 1})
    await put_doc(db, "/db/doc", {"_rev": rev1, "v": 2})
    assert await get_doc(db, "/db/doc", rev=rev1) == {"_id": "doc", "_rev": rev1, "v": 1}


async def test_rev_that_never_existed_is_404(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/doc", {"v": 1})
    async with db.get("/db/doc", params={"rev": "1-00000000000000000000000000000000"}) as r:
        assert r.status == 404
        assert (await json_of(r))["error"] == "not_found"


@pytest.mark.parametrize("rev", ["abc", "x-abc", "1", "-1-abc"])
async def test_malformed_rev_is_400_bad_request(db: aiohttp.ClientSession, rev: str) -> None:
    # chttpd_db:parse_doc_query -> couch_doc:parse_rev throws {bad_request, "Invalid rev format"}
    await put_doc(db, "/db/doc", {"v": 1})
    async with db.get("/db/doc", params={"rev": rev}) as r:
        assert r.status == 400
        assert await json_of(r) == {"error": "bad_request", "reason": "Invalid rev format"}


async def test_revs_lists_the_revision_path(db: aiohttp.ClientSession) -> None:
    revs = [await put_doc(db, "/db/doc", {"v": 1})]
    for v in range(2, 5):
        revs.append(await put_doc(db, "/db/doc", {"_rev": revs[-1], "v": v}))
    doc = await get_doc(db, "/db/doc", revs="true")
    assert doc["_revisions"] == {
        "start": 4,
        "ids": [r.split("-", 1)[1] for r in reversed(revs)],
    }
    old = await get_doc(db, "/db/doc", rev=revs[1], revs="true")
    assert old["_revisions"]["start"] == 2
    assert old["_revisions"]["ids"] == [r.split("-", 1)[1] for r in reversed(revs[:2])]


async def test_revs_info_reports_availability_of_each_revision(
    db: aiohttp.ClientSession,
) -> None:
    rev1 = await put_doc(db, "/db/doc", {"v": 1})
    rev2 = await put_doc(db, "/db/doc", {"_rev": rev1, "v": 2})
    info = (await get_doc(db, "/db/doc", revs_info="true"))["_revs_info"]
    assert [entry["rev"] for entry in info] == [rev2, rev1]
    assert info[0]["status"] == "available"
    assert info[1]["status"] in {"available", "missing"}


async def test_conflicts_and_deleted_conflicts_list_losing_leaves(
    db: aiohttp.ClientSession,
) -> None:
    await bulk(
        db,
        [
            {"_id": "doc", "_rev": "1-aaaa", "v": "a"},
            {"_id": "doc", "_rev": "1-cccc", "v": "c"},
            {"_id": "doc", "_rev": "1-bbbb", "_deleted": True},
        ],
        new_edits=False,
    )
    plain = await get_doc(db, "/db/doc")
    assert plain == {"_id": "doc", "_rev": "1-cccc", "v": "c"}
    assert (await get_doc(db, "/db/doc", conflicts="true"))["_conflicts"] == ["1-aaaa"]
    deleted = await get_doc(db, "/db/doc", deleted_conflicts="true")
    assert deleted["_deleted_conflicts"] == ["1-bbbb"]
    meta = await get_doc(db, "/db/doc", meta="true")
    assert meta["_conflicts"] == ["1-aaaa"]
    assert meta["_deleted_conflicts"] == ["1-bbbb"]
    assert meta["_revs_info"][0]["rev"] == "1-cccc"


async def test_local_seq_reports_the_documents_sequence(db: aiohttp.ClientSession) -> None:
    await put_doc(db, "/db/doc", {"v": 1})
    doc = await get_doc(db, "/db/doc", local_seq="true")
    assert "_local_seq" in doc


@pytest.mark.parametrize("value", ["1", "yes", "TRUE", ""])
async def test_doc_boolean_options_other_than_true_are_ignored(
    db: aiohttp.ClientSession, value: str
) -> None:
    # chttpd_db:parse_doc_query only acts on {"revs", "true"} etc.; any other pair falls into
    # "% unknown key value pair, ignore." -- it is not an error.
    rev = await put_doc(db, "/db/doc", {"v": 1})
    async with db.get("/db/doc", params={"revs": value, "conflicts": value}) as r:
        assert r.status == 200
        assert await json_of(r) == {"_id": "doc", "_rev": rev, "v": 1}


async def test_latest_reads_the_newest_leaf_instead_of_an_old_rev(
    db: aiohttp.ClientSession,
) -> None:
    rev1 = await put_doc(db, "/db/doc", {"v": 1})
    rev2 = await put_doc(db, "/db/doc", {"_rev": rev1, "v": 2})
    assert (await get_doc(db, "/db/doc", rev=rev1, latest="true"))["_rev"] == rev2
    async with db.get(
        "/db/doc", params={"open_revs": json.dumps([rev1]), "latest": "true"}, headers=ACCEPT_JSON
    ) as r:
        assert [item["ok"]["_rev"] for item in await json_of(r)] == [rev2]


async def test_attachments_true_inlines_attachment_data(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"hello bytes").decode()
    atts = {"a.bin": {"content_type": "application/octet-stream", "data": data}}
    await put_doc(db, "/db/doc", {"_attachments": atts})
    stub = (await get_doc(db, "/db/doc"))["_attachments"]["a.bin"]
    assert stub["stub"] is True and "data" not in stub
    assert stub["length"] == len(b"hello bytes")
    assert stub["digest"].startswith("md5-")
    full = (await get_doc(db, "/db/doc", attachments="true"))["_attachments"]["a.bin"]
    assert base64.b64decode(full["data"]) == b"hello bytes"
    assert "stub" not in full


async def test_atts_since_inlines_only_attachments_newer_than_known_revisions(
    db: aiohttp.ClientSession,
) -> None:
    old = {"content_type": "text/plain", "data": base64.b64encode(b"old").decode()}
    rev1 = await put_doc(db, "/db/doc", {"_attachments": {"old.txt": old}})
    doc = await get_doc(db, "/db/doc")
    new = {"content_type": "text/plain", "data": base64.b64encode(b"new").decode()}
    atts = {"old.txt": doc["_attachments"]["old.txt"], "new.txt": new}
    await put_doc(db, "/db/doc", {"_rev": rev1, "_attachments": atts})
    since = await get_doc(db, "/db/doc", atts_since=json.dumps([rev1]))
    assert since["_attachments"]["old.txt"].get("stub") is True
    assert base64.b64decode(since["_attachments"]["new.txt"]["data"]) == b"new"


@pytest.mark.parametrize("value", ["not-json", '"1-abc"', "[1,2]", '{"a":1}'])
async def test_atts_since_that_is_not_a_json_list_of_revs_is_400(
    db: aiohttp.ClientSession, value: str
) -> None:
    await put_doc(db, "/db/doc", {"v": 1})
    async with db.get("/db/doc", params={"atts_since": value}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


# --- open_revs -------------------------------------------------------------------------------


async def conflicted(db: aiohttp.ClientSession) -> None:
    await bulk(
        db,
        [
            {"_id": "doc", "_rev": "1-aaaa", "v": "a"},
            {"_id": "doc", "_rev": "1-bbbb", "v": "b"},
        ],
        new_edits=False,
    )


async def test_open_revs_all_as_json_lists_every_leaf(db: aiohttp.ClientSession) -> None:
    await conflicted(db)
    async with db.get("/db/doc", params={"open_revs": "all"}, headers=ACCEPT_JSON) as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        items = await json_of(r)
    assert sorted(item["ok"]["_rev"] for item in items) == ["1-aaaa", "1-bbbb"]
    assert {item["ok"]["v"] for item in items} == {"a", "b"}


async def test_open_revs_list_answers_missing_revisions_as_missing(
    db: aiohttp.ClientSession,
) -> None:
    await conflicted(db)
    revs = json.dumps(["1-aaaa", "1-ffff"])
    async with db.get("/db/doc", params={"open_revs": revs}, headers=ACCEPT_JSON) as r:
        assert r.status == 200
        items = await json_of(r)
    assert {"missing": "1-ffff"} in items
    assert [i["ok"]["_rev"] for i in items if "ok" in i] == ["1-aaaa"]


@pytest.mark.parametrize("accept", [None, "multipart/mixed", "multipart/*, application/json"])
async def test_open_revs_is_multipart_mixed_unless_the_client_only_takes_json(
    db: aiohttp.ClientSession, accept: str | None
) -> None:
    await conflicted(db)
    headers = {"Accept": accept} if accept else {}
    async with db.get("/db/doc", params={"open_revs": "all"}, headers=headers) as r:
        assert r.status == 200
        assert r.content_type == "multipart/mixed"
        parts = await mixed_parts(r)
    assert sorted(doc["_rev"] for _, doc in parts) == ["1-aaaa", "1-bbbb"]


async def test_open_revs_multipart_flags_missing_revisions_as_error_parts(
    db: aiohttp.ClientSession,
) -> None:
    await conflicted(db)
    revs = json.dumps(["1-bbbb", "1-ffff"])
    headers = {"Accept": "multipart/mixed"}
    async with db.get("/db/doc", params={"open_revs": revs}, headers=headers) as r:
        parts = await mixed_parts(r)
    docs = [doc for ctype, doc in parts if 'error="true"' not in ctype]
    errors = [doc for ctype, doc in parts if 'error="true"' in ctype]
    assert [doc["_rev"] for doc in docs] == ["1-bbbb"]
    assert errors == [{"missing": "1-ffff"}]


async def test_open_revs_multipart_carries_attachment_bytes(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"\x00\x01binary\xff").decode()
    atts = {"b.bin": {"content_type": "application/octet-stream", "data": data}}
    rev = await put_doc(db, "/db/doc", {"_attachments": atts})
    params = {"open_revs": json.dumps([rev]), "attachments": "true"}
    async with db.get("/db/doc", params=params, headers={"Accept": "multipart/mixed"}) as r:
        parts = await mixed_parts(r)
    (_, doc) = parts[0]
    assert base64.b64decode(doc["_attachments"]["b.bin"]["data"]) == b"\x00\x01binary\xff"


async def test_open_revs_with_revs_includes_each_history(db: aiohttp.ClientSession) -> None:
    rev1 = await put_doc(db, "/db/doc", {"v": 1})
    rev2 = await put_doc(db, "/db/doc", {"_rev": rev1, "v": 2})
    params = {"open_revs": json.dumps([rev2]), "revs": "true"}
    async with db.get("/db/doc", params=params, headers=ACCEPT_JSON) as r:
        (item,) = await json_of(r)
    assert item["ok"]["_revisions"]["start"] == 2
    assert len(item["ok"]["_revisions"]["ids"]) == 2


async def test_open_revs_all_on_missing_document_is_404(db: aiohttp.ClientSession) -> None:
    async with db.get("/db/nope", params={"open_revs": "all"}, headers=ACCEPT_JSON) as r:
        assert r.status == 404
        assert await json_of(r) == MISSING


@pytest.mark.parametrize("value", ["[not json", '"1-abc"', "{}", "[1]"])
async def test_open_revs_that_is_not_all_or_a_json_list_is_400(
    db: aiohttp.ClientSession, value: str
) -> None:
    await put_doc(db, "/db/doc", {"v": 1})
    async with db.get("/db/doc", params={"open_revs": value}, headers=ACCEPT_JSON) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


# --- POST /db, batch -------------------------------------------------------------------------


async def test_post_without_id_generates_one(db: aiohttp.ClientSession) -> None:
    async with db.post("/db", json={"v": 1}) as r:
        assert r.status == 201
        body = await json_of(r)
        assert r.headers["Location"].endswith(f"/db/{body['id']}")
    assert HEX32.match(body["id"])
    assert body["rev"].startswith("1-")
    assert (await get_doc(db, f"/db/{body['id']}"))["v"] == 1


async def test_post_with_id_uses_it(db: aiohttp.ClientSession) -> None:
    async with db.post("/db", json={"_id": "chosen", "v": 1}) as r:
        assert r.status == 201
        assert (await json_of(r))["id"] == "chosen"
    async with db.post("/db", json={"_id": "chosen", "v": 2}) as r:
        assert r.status == 409
        assert await json_of(r) == CONFLICT


async def test_posted_ids_are_unique(db: aiohttp.ClientSession) -> None:
    ids = set()
    for _ in range(20):
        async with db.post("/db", json={}) as r:
            ids.add((await json_of(r))["id"])
    assert len(ids) == 20


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_batch_ok_is_202_accepted_and_the_write_lands(
    db: aiohttp.ClientSession, method: str
) -> None:
    path = "/db/batched" if method == "PUT" else "/db"
    body = {"v": 1} if method == "PUT" else {"_id": "batched", "v": 1}
    async with db.request(method, path, json=body, params={"batch": "ok"}) as r:
        assert r.status == 202
        assert await json_of(r) == {"ok": True, "id": "batched"}
    for _ in range(100):
        async with db.get("/db/batched") as r:
            if r.status == 200:
                assert (await json_of(r))["v"] == 1
                return
        await asyncio.sleep(0.02)
    pytest.fail("a batch=ok write never became visible")


async def test_put_with_new_edits_false_stores_the_given_revision(
    db: aiohttp.ClientSession,
) -> None:
    body = {"_rev": "3-cafe", "_revisions": {"start": 3, "ids": ["cafe", "beef", "f00d"]}}
    async with db.put("/db/doc", json={**body, "v": 1}, params={"new_edits": "false"}) as r:
        assert r.status == 201
        assert (await json_of(r))["rev"] == "3-cafe"
    doc = await get_doc(db, "/db/doc", revs="true")
    assert doc["_rev"] == "3-cafe"
    assert doc["_revisions"] == {"start": 3, "ids": ["cafe", "beef", "f00d"]}


# --- bodies that are not documents -----------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1', b"\xff\xfe", b'{"a": tru}'])
@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_malformed_json_is_400_bad_request(
    db: aiohttp.ClientSession, body: bytes, method: str
) -> None:
    path = "/db/doc" if method == "PUT" else "/db"
    headers = {"Content-Type": "application/json"}
    async with db.request(method, path, data=body, headers=headers) as r:
        assert r.status == 400
        assert await json_of(r) == {"error": "bad_request", "reason": "invalid UTF-8 JSON"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_json_that_is_not_an_object_is_400_document_must_be_an_object(
    db: aiohttp.ClientSession, body: bytes, method: str
) -> None:
    # couch_doc:from_json_obj(_Other) -> throw({bad_request, "Document must be a JSON object"})
    path = "/db/doc" if method == "PUT" else "/db"
    headers = {"Content-Type": "application/json"}
    async with db.request(method, path, data=body, headers=headers) as r:
        assert r.status == 400
        assert await json_of(r) == {
            "error": "bad_request",
            "reason": "Document must be a JSON object",
        }


async def test_gzip_encoded_json_body_is_accepted(db: aiohttp.ClientSession) -> None:
    # chttpd:maybe_decompress inflates a gzip Content-Encoding before decoding the JSON.
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    body = gzip.compress(json.dumps({"zipped": True}).encode())
    async with db.put("/db/doc", data=body, headers=headers) as r:
        assert r.status == 201
    assert (await get_doc(db, "/db/doc"))["zipped"] is True


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_corrupt_compressed_json_body_is_400_not_500(
    db: aiohttp.ClientSession, encoding: str
) -> None:
    # chttpd:maybe_decompress: {bad_request, "Request body is not properly gzipped."}; any other
    # encoding is {bad_ctype, ...} (415). Either way the client's fault.
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    async with db.put("/db/doc", data=b"\x1f\x8b garbage", headers=headers) as r:
        assert r.status in {400, 415}
        assert (await json_of(r))["error"] in {"bad_request", "bad_content_type"}


async def test_empty_body_is_400(db: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json"}
    async with db.put("/db/doc", data=b"", headers=headers) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_document_over_max_document_size_is_413_document_too_large(
    small_server: Server, method: str
) -> None:
    async with aiohttp.ClientSession(small_server.url, headers=small_server.auth_headers) as s:
        async with s.put("/db") as r:
            assert r.status == 201
        big = {"_id": "big", "filler": "x" * (SMALL_DOC_LIMIT * 2)}
        path = "/db/big" if method == "PUT" else "/db"
        async with s.request(method, path, json=big) as r:
            assert r.status == 413
            assert await json_of(r) == {"error": "document_too_large", "reason": "big"}
        async with s.get("/db/big") as r:
            assert r.status == 404
        async with s.put("/db/small", json={"filler": "x" * (SMALL_DOC_LIMIT // 2)}) as r:
            assert r.status == 201


# --- methods and media types -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "must_allow"),
    [
        ("PATCH", "/db/doc", {"GET", "PUT", "DELETE", "HEAD", "COPY"}),
        ("POST", "/db/doc/att.txt", {"GET", "PUT", "DELETE", "HEAD"}),
        ("DELETE", "/db/_all_docs", {"GET", "POST", "HEAD"}),
        ("GET", "/db/_bulk_docs", {"POST"}),
        ("PUT", "/db/_bulk_get", {"POST"}),
        ("GET", "/db/_revs_diff", {"POST"}),
        ("GET", "/db/_missing_revs", {"POST"}),
        ("PUT", "/db/_changes", {"GET", "POST"}),
        ("GET", "/db/_purge", {"POST"}),
        ("DELETE", "/_uuids", {"GET"}),
        ("PUT", "/_dbs_info", {"GET", "POST"}),
    ],
)
async def test_wrong_method_is_405_with_an_allow_header(
    db: aiohttp.ClientSession, method: str, path: str, must_allow: set[str]
) -> None:
    async with db.request(method, path) as r:
        assert r.status == 405
        assert (await json_of(r))["error"] == "method_not_allowed"
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert must_allow <= allow
    assert method not in allow


POST_JSON_ENDPOINTS = [
    ("/db", {"v": 1}),
    ("/db/_bulk_docs", {"docs": []}),
    ("/db/_all_docs", {"keys": []}),
    ("/db/_design_docs", {"keys": []}),
    ("/db/_local_docs", {"keys": []}),
    ("/db/_bulk_get", {"docs": []}),
    ("/db/_revs_diff", {}),
    ("/db/_missing_revs", {}),
    ("/db/_purge", {}),
    ("/db/_changes", {"doc_ids": []}),
    ("/_dbs_info", {"keys": ["db"]}),
]


@pytest.mark.parametrize(("path", "body"), POST_JSON_ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_post_endpoints_refuse_other_media_types_with_415(
    db: aiohttp.ClientSession, path: str, body: Any, content_type: str
) -> None:
    data = json.dumps(body).encode()
    async with db.post(path, data=data, headers={"Content-Type": content_type}) as r:
        assert r.status == 415
        assert await json_of(r) == BAD_CTYPE
    assert (await get_doc(db, "/db"))["doc_count"] == 0


@pytest.mark.parametrize("raw", ["/db/%zz", "/db/doc%", "/db/%2", "/%G1"])
async def test_invalid_percent_encoding_is_400_bad_request(
    db: aiohttp.ClientSession, server: Server, raw: str
) -> None:
    # chttpd:check_url_encoding throws {bad_request, invalid_url_encoding} for a "%" not
    # followed by two hex digits.
    url = yarl.URL(server.url + raw, encoded=True)
    async with db.get(url) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"
