"""Database endpoints as CouchDB 3.x answers them (``chttpd_db``).

``PUT /db`` creates (201, 412 ``file_exists``, 400 ``illegal_database_name``), ``GET``/``HEAD``
read the info, ``DELETE`` drops; names may hold ``/``, sent as ``%2F``. Under the database:
``_compact`` (202, JSON only), ``_revs_limit``, ``_ensure_full_commit``, ``_purge`` and
``_security``.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from .helpers import BAD_CTYPE, SYSTEM_DBS, bulk, create_db, db_info, json_of, put_doc

MISSING_DB = {"error": "not_found", "reason": "Database does not exist."}
FILE_EXISTS = {
    "error": "file_exists",
    "reason": "The database could not be created, the file already exists.",
}


# --- create, read, delete --------------------------------------------------------------------


async def test_put_creates_database_with_201_ok_and_location(
    client: aiohttp.ClientSession,
) -> None:
    async with client.put("/db") as r:
        assert r.status == 201
        assert await json_of(r) == {"ok": True}
        assert r.headers["Location"].endswith("/db")


async def test_put_existing_database_is_412_file_exists(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.put("/db") as r:
        assert r.status == 412
        assert await json_of(r) == FILE_EXISTS


@pytest.mark.parametrize(
    "raw_name",
    ["Upper", "1abc", "_private", "a%20b", "caf%C3%A9", "a.b", "a*b", "-db", "a%00b"],
)
async def test_put_illegal_name_is_400_illegal_database_name(
    client: aiohttp.ClientSession, raw_name: str
) -> None:
    async with client.put(f"/{raw_name}") as r:
        assert r.status == 400
        body = await json_of(r)
    assert body["error"] == "illegal_database_name"
    assert "Only lowercase characters (a-z)" in body["reason"]
    async with client.get("/_all_dbs") as r:
        assert await json_of(r) == SYSTEM_DBS


async def test_put_name_over_238_characters_is_400(client: aiohttp.ClientSession) -> None:
    # CouchDB refuses it as illegal_database_name or, once the shard file name would pass 255
    # bytes, database_name_too_long (fabric_db_create); both are the client's 400.
    async with client.put("/" + "x" * 239) as r:
        assert r.status == 400
        body = await json_of(r)
    assert body["error"] in {"illegal_database_name", "database_name_too_long"}
    async with client.get("/_all_dbs") as r:
        assert await json_of(r) == SYSTEM_DBS


@pytest.mark.parametrize("name", ["a", "db_1", "a$b", "a(b)", "a+b", "a-b", "z" * 238])
async def test_put_accepts_every_legal_character(client: aiohttp.ClientSession, name: str) -> None:
    from urllib.parse import quote

    async with client.put("/" + quote(name, safe="")) as r:
        assert r.status == 201, await r.text()
    async with client.get("/_all_dbs") as r:
        assert await json_of(r) == [*SYSTEM_DBS, name]


async def test_name_with_encoded_slash_is_one_database(client: aiohttp.ClientSession) -> None:
    async with client.put("/team%2Fnotes") as r:
        assert r.status == 201
    info = await db_info(client, "team%2Fnotes")
    assert info["db_name"] == "team/notes"
    async with client.get("/_all_dbs") as r:
        assert await json_of(r) == [*SYSTEM_DBS, "team/notes"]
    await put_doc(client, "/team%2Fnotes/doc", {"x": 1})
    async with client.get("/team%2Fnotes/doc") as r:
        assert r.status == 200
        assert (await json_of(r))["x"] == 1
    async with client.delete("/team%2Fnotes") as r:
        assert r.status == 200
    async with client.get("/_all_dbs") as r:
        assert await json_of(r) == SYSTEM_DBS


async def test_get_database_reports_counts_and_sequence(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    empty = await db_info(client)
    assert empty["db_name"] == "db"
    assert empty["doc_count"] == 0
    assert empty["doc_del_count"] == 0
    assert set(empty["sizes"]) >= {"file", "external", "active"}
    assert "instance_start_time" in empty
    rev = await put_doc(client, "/db/a", {"v": 1})
    await put_doc(client, "/db/b", {"v": 2})
    async with client.delete(f"/db/a?rev={rev}") as r:
        assert r.status == 200
    info = await db_info(client)
    assert info["doc_count"] == 1
    assert info["doc_del_count"] == 1
    assert info["update_seq"] != empty["update_seq"]


async def test_get_missing_database_is_404_database_does_not_exist(
    client: aiohttp.ClientSession,
) -> None:
    async with client.get("/nope") as r:
        assert r.status == 404
        assert await json_of(r) == MISSING_DB


async def test_head_database_answers_status_without_body(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.head("/db") as r:
        assert r.status == 200
        assert await r.read() == b""
    async with client.head("/nope") as r:
        assert r.status == 404
        assert await r.read() == b""


async def test_delete_database_removes_it_and_its_documents(
    client: aiohttp.ClientSession,
) -> None:
    await create_db(client)
    await put_doc(client, "/db/doc", {"v": 1})
    async with client.delete("/db") as r:
        assert r.status == 200
        assert await json_of(r) == {"ok": True}
    async with client.get("/db") as r:
        assert r.status == 404
        assert await json_of(r) == MISSING_DB
    await create_db(client)
    async with client.get("/db/doc") as r:
        assert r.status == 404
    assert (await db_info(client))["doc_count"] == 0


async def test_delete_missing_database_is_404(client: aiohttp.ClientSession) -> None:
    async with client.delete("/nope") as r:
        assert r.status == 404
        assert await json_of(r) == MISSING_DB


async def test_delete_database_with_rev_is_400_and_keeps_it(client: aiohttp.ClientSession) -> None:
    # chttpd_db:handle_request guards against a DELETE meant for a document.
    await create_db(client)
    async with client.delete("/db?rev=1-abc") as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"
    await db_info(client)


@pytest.mark.parametrize("method", ["PATCH", "COPY"])
async def test_database_refuses_other_methods_with_405_and_allow(
    client: aiohttp.ClientSession, method: str
) -> None:
    await create_db(client)
    async with client.request(method, "/db") as r:
        assert r.status == 405
        assert (await json_of(r))["error"] == "method_not_allowed"
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "HEAD", "POST", "DELETE"} <= allow


@pytest.mark.parametrize(
    "path", ["/nope/doc", "/nope/_all_docs", "/nope/_changes", "/nope/_security"]
)
async def test_anything_under_a_missing_database_is_404_database_does_not_exist(
    client: aiohttp.ClientSession, path: str
) -> None:
    async with client.get(path) as r:
        assert r.status == 404
        assert await json_of(r) == MISSING_DB


# --- _compact, _view_cleanup, _ensure_full_commit -------------------------------------------


async def test_compact_is_202_accepted_and_keeps_documents(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    rev = await put_doc(client, "/db/doc", {"v": 1})
    await put_doc(client, "/db/doc", {"_rev": rev, "v": 2})
    async with client.post("/db/_compact", json={}) as r:
        assert r.status == 202
        assert await json_of(r) == {"ok": True}
    async with client.get("/db/doc") as r:
        assert (await json_of(r))["v"] == 2


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_compact_without_json_content_type_is_415(
    client: aiohttp.ClientSession, content_type: str | None
) -> None:
    await create_db(client)
    headers = {"Content-Type": content_type} if content_type else {}
    async with client.post("/db/_compact", data=b"", headers=headers) as r:
        assert r.status == 415
        assert await json_of(r) == BAD_CTYPE


async def test_compact_with_json_content_type_and_charset_is_accepted(
    client: aiohttp.ClientSession,
) -> None:
    await create_db(client)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with client.post("/db/_compact", data=b"{}", headers=headers) as r:
        assert r.status == 202


async def test_compact_refuses_get_with_405_allow_post(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.get("/db/_compact") as r:
        assert r.status == 405
        assert r.headers["Allow"] == "POST"


async def test_compact_missing_database_is_404(client: aiohttp.ClientSession) -> None:
    async with client.post("/nope/_compact", json={}) as r:
        assert r.status == 404
        assert await json_of(r) == MISSING_DB


async def test_ensure_full_commit_is_201_with_instance_start_time(
    client: aiohttp.ClientSession,
) -> None:
    await create_db(client)
    async with client.post("/db/_ensure_full_commit", json={}) as r:
        assert r.status == 201
        body = await json_of(r)
    assert body["ok"] is True
    assert "instance_start_time" in body


async def test_ensure_full_commit_on_missing_database_is_404(
    client: aiohttp.ClientSession,
) -> None:
    async with client.post("/nope/_ensure_full_commit", json={}) as r:
        assert r.status == 404


async def test_ensure_full_commit_without_json_content_type_is_415(
    client: aiohttp.ClientSession,
) -> None:
    # chttpd_db: db_req(POST _ensure_full_commit) begins with
    # chttpd:validate_ctype(Req, "application/json").
    await create_db(client)
    async with client.post("/db/_ensure_full_commit", data=b"", headers={}) as r:
        assert r.status == 415
        assert await json_of(r) == BAD_CTYPE


# --- _revs_limit -----------------------------------------------------------------------------


async def test_revs_limit_defaults_to_1000(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.get("/db/_revs_limit") as r:
        assert r.status == 200
        assert await json_of(r) == 1000


async def test_revs_limit_round_trips_and_stems_new_histories(
    client: aiohttp.ClientSession,
) -> None:
    await create_db(client)
    async with client.put("/db/_revs_limit", data=b"3") as r:
        assert r.status == 200
        assert await json_of(r) == {"ok": True}
    async with client.get("/db/_revs_limit") as r:
        assert await json_of(r) == 3
    rev = await put_doc(client, "/db/doc", {"v": 0})
    for v in range(1, 6):
        rev = await put_doc(client, "/db/doc", {"_rev": rev, "v": v})
    async with client.get("/db/doc", params={"revs": "true"}) as r:
        revisions = (await json_of(r))["_revisions"]
    assert revisions["start"] == 6
    assert len(revisions["ids"]) <= 3
    assert rev.endswith(revisions["ids"][0])


@pytest.mark.parametrize("body", [b'"ten"', b"{}", b"0", b"-5", b"not json"])
async def test_revs_limit_rejects_values_that_are_not_positive_integers(
    client: aiohttp.ClientSession, body: bytes
) -> None:
    await create_db(client)
    async with client.put("/db/_revs_limit", data=body) as r:
        assert 400 <= r.status < 500
    async with client.get("/db/_revs_limit") as r:
        assert await json_of(r) == 1000


async def test_revs_limit_refuses_post_with_405(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.post("/db/_revs_limit", json=5) as r:
        assert r.status == 405
        assert {"GET", "PUT"} <= {m.strip() for m in r.headers["Allow"].split(",")}


# --- _purge ----------------------------------------------------------------------------------


async def test_purge_removes_a_document_for_good(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    rev1 = await put_doc(client, "/db/gone", {"v": 1})
    rev2 = await put_doc(client, "/db/gone", {"_rev": rev1, "v": 2})
    await put_doc(client, "/db/kept", {"v": 1})
    before = await db_info(client)

    async with client.post("/db/_purge", json={"gone": [rev2]}) as r:
        assert r.status in {201, 202}
        body = await json_of(r)
    assert body["purge_seq"] is None
    assert body["purged"] == {"gone": [rev2]}

    for params in ({}, {"rev": rev2}, {"rev": rev1}, {"open_revs": "all"}):
        async with client.get("/db/gone", params=params) as r:
            assert r.status == 404, params
    async with client.get("/db/_all_docs") as r:
        assert [row["id"] for row in (await json_of(r))["rows"]] == ["kept"]
    async with client.get("/db/_changes") as r:
        assert [row["id"] for row in (await json_of(r))["results"]] == ["kept"]
    async with client.post("/db/_revs_diff", json={"gone": [rev1, rev2]}) as r:
        assert sorted((await json_of(r))["gone"]["missing"]) == sorted([rev1, rev2])
    after = await db_info(client)
    assert after["doc_count"] == before["doc_count"] - 1
    assert after["purge_seq"] != before["purge_seq"]


async def test_purge_of_one_conflict_branch_promotes_the_other(
    client: aiohttp.ClientSession,
) -> None:
    await create_db(client)
    docs = [
        {"_id": "doc", "_rev": "1-aaaa", "side": "a"},
        {"_id": "doc", "_rev": "1-bbbb", "side": "b"},
    ]
    await bulk(client, docs, new_edits=False)
    async with client.get("/db/doc") as r:
        assert (await json_of(r))["_rev"] == "1-bbbb"
    async with client.post("/db/_purge", json={"doc": ["1-bbbb"]}) as r:
        assert (await json_of(r))["purged"] == {"doc": ["1-bbbb"]}
    async with client.get("/db/doc", params={"conflicts": "true"}) as r:
        body = await json_of(r)
    assert body["_rev"] == "1-aaaa"
    assert "_conflicts" not in body


async def test_purge_of_unknown_revision_purges_nothing(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    rev = await put_doc(client, "/db/doc", {"v": 1})
    async with client.post("/db/_purge", json={"doc": ["1-0000"], "ghost": ["1-1111"]}) as r:
        assert r.status in {201, 202}
        purged = (await json_of(r))["purged"]
    assert purged.get("doc", []) == []
    assert purged.get("ghost", []) == []
    async with client.get("/db/doc") as r:
        assert (await json_of(r))["_rev"] == rev


async def test_purge_needs_json_content_type(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    body = json.dumps({"doc": ["1-abc"]})
    async with client.post("/db/_purge", data=body, headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415


@pytest.mark.parametrize("body", [[1, 2], {"doc": "1-abc"}, {"doc": [1]}])
async def test_purge_rejects_malformed_bodies_with_400(
    client: aiohttp.ClientSession, body: Any
) -> None:
    await create_db(client)
    async with client.post("/db/_purge", json=body) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


# --- _security -------------------------------------------------------------------------------


async def test_security_round_trips(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    security = {
        "admins": {"names": ["alice"], "roles": ["ops"]},
        "members": {"names": ["bob"], "roles": []},
    }
    async with client.put("/db/_security", json=security) as r:
        assert r.status == 200
        assert await json_of(r) == {"ok": True}
    async with client.get("/db/_security") as r:
        assert r.status == 200
        assert await json_of(r) == security


async def test_security_starts_as_an_object(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.get("/db/_security") as r:
        assert r.status == 200
        assert isinstance(await json_of(r), dict)


async def test_security_is_dropped_with_its_database(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.put("/db/_security", json={"members": {"names": ["x"]}}) as r:
        assert r.status == 200
    async with client.delete("/db") as r:
        assert r.status == 200
    await create_db(client)
    async with client.get("/db/_security") as r:
        assert "x" not in json.dumps(await json_of(r))


@pytest.mark.parametrize("body", [b"[1]", b'"admins"', b"{broken"])
async def test_security_rejects_non_object_bodies_with_400(
    client: aiohttp.ClientSession, body: bytes
) -> None:
    await create_db(client)
    headers = {"Content-Type": "application/json"}
    async with client.put("/db/_security", data=body, headers=headers) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_security_refuses_delete_with_405(client: aiohttp.ClientSession) -> None:
    await create_db(client)
    async with client.delete("/db/_security") as r:
        assert r.status == 405
        assert {"GET", "PUT"} <= {m.strip() for m in r.headers["Allow"].split(",")}
