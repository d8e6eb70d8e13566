"""Server-level endpoints, as CouchDB 3.x answers them (``chttpd_misc``).

``GET /`` and ``/_up`` answer anyone; ``_all_dbs`` takes ``couch_mrview_http`` parameters
(JSON-encoded keys); ``_dbs_info`` answers GET and POST ``{"keys": [...]}``; ``_uuids`` hands
out ``count`` fresh ids and refuses more than ``[uuids] max_count`` (1000).
"""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from .conftest import Server
from .helpers import BAD_CTYPE, SYSTEM_DBS, create_db, json_of

HEX32 = re.compile(r"^[0-9a-f]{32}$")
DB_NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]
# What _all_dbs lists once DB_NAMES exist: `_audit` and `_users` sort first ("_" < "a" in bytes).
LISTED = [*SYSTEM_DBS, *DB_NAMES]


async def create_dbs(client: aiohttp.ClientSession, names: list[str]) -> None:
    for name in names:
        await create_db(client, name)


async def all_dbs(client: aiohttp.ClientSession, **query: str) -> list[str]:
    async with client.get("/_all_dbs", params=query) as r:
        assert r.status == 200, await r.text()
        return await json_of(r)


# --- welcome and _up -------------------------------------------------------------------------


async def test_welcome_names_couchdb_version_uuid_and_features(server: Server) -> None:
    async with aiohttp.ClientSession() as anonymous, anonymous.get(server.url + "/") as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        body = await json_of(r)
    assert body["couchdb"] == "Welcome"
    assert body["version"].startswith("3.")
    assert HEX32.match(body["uuid"])
    assert isinstance(body["features"], list)
    assert all(isinstance(f, str) for f in body["features"])
    assert isinstance(body["vendor"], dict) and "name" in body["vendor"]


async def test_welcome_uuid_is_stable_across_requests(client: aiohttp.ClientSession) -> None:
    async with client.get("/") as first, client.get("/") as second:
        assert (await json_of(first))["uuid"] == (await json_of(second))["uuid"]


async def test_up_answers_ok_without_credentials(server: Server) -> None:
    async with aiohttp.ClientSession() as anonymous, anonymous.get(server.url + "/_up") as r:
        assert r.status == 200
        body = await json_of(r)
    assert body["status"] == "ok"


async def test_welcome_refuses_post_with_405_and_allow_header(
    client: aiohttp.ClientSession,
) -> None:
    async with client.post("/", json={}) as r:
        assert r.status == 405
        assert (await json_of(r))["error"] == "method_not_allowed"
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "HEAD"} <= allow
    assert "POST" not in allow


# --- _all_dbs --------------------------------------------------------------------------------


async def test_all_dbs_lists_every_database_in_order(client: aiohttp.ClientSession) -> None:
    await create_dbs(client, list(reversed(DB_NAMES)))
    assert await all_dbs(client) == LISTED


async def test_all_dbs_lists_only_system_databases_on_a_fresh_server(
    client: aiohttp.ClientSession,
) -> None:
    assert await all_dbs(client) == SYSTEM_DBS


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"startkey": '"charlie"'}, ["charlie", "delta", "echo"]),
        ({"start_key": '"charlie"'}, ["charlie", "delta", "echo"]),
        ({"endkey": '"charlie"'}, ["_audit", "_users", "alpha", "bravo", "charlie"]),
        ({"end_key": '"charlie"'}, ["_audit", "_users", "alpha", "bravo", "charlie"]),
        (
            {"endkey": '"charlie"', "inclusive_end": "false"},
            ["_audit", "_users", "alpha", "bravo"],
        ),
        ({"startkey": '"b"', "endkey": '"d"'}, ["bravo", "charlie"]),
        ({"limit": "3"}, ["_audit", "_users", "alpha"]),
        ({"skip": "4"}, ["charlie", "delta", "echo"]),
        ({"skip": "2", "limit": "2"}, ["alpha", "bravo"]),
        ({"limit": "0"}, []),
        ({"descending": "true"}, list(reversed(LISTED))),
        (
            {"descending": "true", "startkey": '"charlie"'},
            ["charlie", "bravo", "alpha", "_users", "_audit"],
        ),
        ({"descending": "true", "endkey": '"charlie"'}, ["echo", "delta", "charlie"]),
        ({"descending": "true", "limit": "1", "skip": "1"}, ["delta"]),
    ],
)
async def test_all_dbs_honours_range_and_paging_options(
    client: aiohttp.ClientSession, query: dict[str, str], expected: list[str]
) -> None:
    await create_dbs(client, DB_NAMES)
    assert await all_dbs(client, **query) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"startkey": "charlie"},  # keys are JSON: a bare word is not a JSON string
        {"limit": "two"},
        {"limit": "-1"},
        {"skip": "x"},
        {"descending": "yes"},
    ],
)
async def test_all_dbs_rejects_malformed_options_with_400(
    client: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    async with client.get("/_all_dbs", params=query) as r:
        assert r.status == 400
        body = await json_of(r)
    assert body["error"] in {"bad_request", "query_parse_error"}
    assert isinstance(body["reason"], str)


async def test_all_dbs_refuses_post_with_405(client: aiohttp.ClientSession) -> None:
    async with client.post("/_all_dbs", json={}) as r:
        assert r.status == 405
        assert "GET" in r.headers["Allow"]


# --- _dbs_info -------------------------------------------------------------------------------


async def test_dbs_info_get_answers_key_and_info_for_every_database(
    client: aiohttp.ClientSession,
) -> None:
    await create_dbs(client, ["alpha", "bravo"])
    async with client.put("/alpha/doc", json={"x": 1}) as r:
        assert r.status == 201
    async with client.get("/_dbs_info") as r:
        assert r.status == 200
        rows = await json_of(r)
    assert [row["key"] for row in rows] == [*SYSTEM_DBS, "alpha", "bravo"]
    rows = rows[len(SYSTEM_DBS) :]
    assert rows[0]["info"]["db_name"] == "alpha"
    assert rows[0]["info"]["doc_count"] == 1
    assert rows[1]["info"]["doc_count"] == 0


async def test_dbs_info_post_answers_in_key_order_with_not_found_for_missing(
    client: aiohttp.ClientSession,
) -> None:
    await create_dbs(client, ["alpha", "bravo"])
    async with client.post("/_dbs_info", json={"keys": ["bravo", "nope", "alpha"]}) as r:
        assert r.status == 200
        rows = await json_of(r)
    assert [row["key"] for row in rows] == ["bravo", "nope", "alpha"]
    assert rows[0]["info"]["db_name"] == "bravo"
    assert rows[1] == {"key": "nope", "error": "not_found"}
    assert rows[2]["info"]["db_name"] == "alpha"


async def test_dbs_info_post_without_keys_is_400(client: aiohttp.ClientSession) -> None:
    async with client.post("/_dbs_info", json={"other": 1}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_dbs_info_post_with_more_than_100_keys_is_400(
    client: aiohttp.ClientSession,
) -> None:
    keys = [f"db{i}" for i in range(101)]
    async with client.post("/_dbs_info", json={"keys": keys}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_dbs_info_post_needs_json_content_type(client: aiohttp.ClientSession) -> None:
    body = json.dumps({"keys": ["alpha"]})
    async with client.post("/_dbs_info", data=body, headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415
        assert await json_of(r) == BAD_CTYPE


# --- _uuids ----------------------------------------------------------------------------------


async def test_uuids_defaults_to_one_uuid(client: aiohttp.ClientSession) -> None:
    async with client.get("/_uuids") as r:
        assert r.status == 200
        body = await json_of(r)
    assert len(body["uuids"]) == 1
    assert HEX32.match(body["uuids"][0])


async def test_uuids_count_gives_that_many_distinct_uuids(client: aiohttp.ClientSession) -> None:
    async with client.get("/_uuids", params={"count": "25"}) as r:
        assert r.status == 200
        uuids = (await json_of(r))["uuids"]
    assert len(uuids) == 25
    assert len(set(uuids)) == 25
    assert all(HEX32.match(u) for u in uuids)


async def test_uuids_are_not_cacheable(client: aiohttp.ClientSession) -> None:
    async with client.get("/_uuids") as r:
        assert "no-cache" in r.headers["Cache-Control"]


async def test_uuids_count_over_max_count_is_400(client: aiohttp.ClientSession) -> None:
    async with client.get("/_uuids", params={"count": "1001"}) as r:
        assert r.status == 400
        assert await json_of(r) == {
            "error": "bad_request",
            "reason": "count parameter too large",
        }


async def test_uuids_count_at_max_count_is_served(client: aiohttp.ClientSession) -> None:
    async with client.get("/_uuids", params={"count": "1000"}) as r:
        assert r.status == 200
        assert len((await json_of(r))["uuids"]) == 1000


@pytest.mark.parametrize("count", ["abc", "-3", "1.5"])
async def test_uuids_count_that_is_not_a_positive_integer_is_bad_request(
    client: aiohttp.ClientSession, count: str
) -> None:
    # couch_httpd_misc_handlers:handle_uuids_req throws {bad_request, <<"count must be a
    # positive integer">>}: the token is bad_request, not query_parse_error.
    async with client.get("/_uuids", params={"count": count}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"
