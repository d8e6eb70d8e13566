"""``_changes`` as CouchDB 3.x answers it (``chttpd_db:handle_changes_req``).

Feeds: ``normal`` (one JSON object), ``longpoll`` (the same, but waits for the first change),
``continuous`` (one JSON line per change, then ``{"last_seq", "pending"}`` on timeout) and
``eventsource`` (``data:``/``id:`` events). ``heartbeat`` writes newlines while a feed waits.
Filters: ``_doc_ids`` (GET ``doc_ids=`` JSON or POST body), ``_selector`` (POST body) and
``_design``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import pytest

from .conftest import Server
from .helpers import bulk, json_of, put_doc

# A feed that should answer at once is given this long before the test calls it a hang.
PROMPT = 5.0
# An error needs no waiting at all: anything slower than this is a hang.
ERROR_PROMPT = 2.0


async def changes(client: aiohttp.ClientSession, **params: str) -> dict[str, Any]:
    async with asyncio.timeout(PROMPT), client.get("/db/_changes", params=params) as r:
        assert r.status == 200, await r.text()
        return await json_of(r)


async def put(client: aiohttp.ClientSession, doc_id: str, body: dict[str, Any]) -> str:
    return await put_doc(client, f"/db/{doc_id}", body)


def ids(feed: dict[str, Any]) -> list[str]:
    return [row["id"] for row in feed["results"]]


@pytest.fixture
async def five(db: aiohttp.ClientSession) -> list[str]:
    """Five documents a..e written in that order; returns their revisions."""
    return [await put(db, name, {"n": n}) for n, name in enumerate("abcde")]


# --- feed=normal -----------------------------------------------------------------------------


async def test_normal_feed_lists_every_change_in_order_with_last_seq(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    feed = await changes(db)
    assert ids(feed) == list("abcde")
    assert [row["changes"] for row in feed["results"]] == [[{"rev": rev}] for rev in five]
    assert feed["last_seq"] == feed["results"][-1]["seq"]
    assert feed["pending"] == 0


async def test_normal_feed_of_an_empty_database_is_empty(db: aiohttp.ClientSession) -> None:
    feed = await changes(db)
    assert feed["results"] == []
    assert "last_seq" in feed


async def test_since_a_seq_lists_only_later_changes(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    first = await changes(db)
    third_seq = first["results"][2]["seq"]
    assert ids(await changes(db, since=str(third_seq))) == ["d", "e"]


async def test_an_updated_document_appears_once_at_its_latest_change(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    rev = await put(db, "b", {"_rev": five[1], "n": "again"})
    feed = await changes(db)
    assert ids(feed) == ["a", "c", "d", "e", "b"]
    assert feed["results"][-1]["changes"] == [{"rev": rev}]


async def test_since_now_skips_everything_before(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    feed = await changes(db, since="now")
    assert feed["results"] == []
    assert feed["last_seq"] == (await changes(db))["last_seq"]


async def test_limit_pages_through_the_feed_with_pending(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    page = await changes(db, limit="2")
    assert ids(page) == ["a", "b"]
    assert page["pending"] == 3
    rest = await changes(db, since=str(page["last_seq"]))
    assert ids(rest) == ["c", "d", "e"]


async def test_descending_lists_newest_first(db: aiohttp.ClientSession, five: list[str]) -> None:
    assert ids(await changes(db, descending="true")) == list("edcba")
    assert ids(await changes(db, descending="true", limit="2")) == ["e", "d"]


async def test_deleted_documents_are_flagged_deleted(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    async with db.delete("/db/c", params={"rev": five[2]}) as r:
        deleted_rev = (await json_of(r))["rev"]
    row = (await changes(db, include_docs="true"))["results"][-1]
    assert row["id"] == "c"
    assert row["deleted"] is True
    assert row["changes"] == [{"rev": deleted_rev}]
    assert row["doc"] == {"_id": "c", "_rev": deleted_rev, "_deleted": True}


async def test_include_docs_adds_each_document(db: aiohttp.ClientSession, five: list[str]) -> None:
    feed = await changes(db, include_docs="true")
    assert [row["doc"] for row in feed["results"]] == [
        {"_id": name, "_rev": rev, "n": n}
        for n, (name, rev) in enumerate(zip("abcde", five, strict=True))
    ]
    assert "doc" not in (await changes(db))["results"][0]


async def conflicted(db: aiohttp.ClientSession) -> None:
    docs = [{"_id": "x", "_rev": "1-aaaa", "v": "a"}, {"_id": "x", "_rev": "1-bbbb", "v": "b"}]
    await bulk(db, docs, new_edits=False)


async def test_conflicts_adds_conflicts_to_included_docs(db: aiohttp.ClientSession) -> None:
    await conflicted(db)
    row = (await changes(db, include_docs="true", conflicts="true"))["results"][0]
    assert row["doc"]["_rev"] == "1-bbbb"
    assert row["doc"]["_conflicts"] == ["1-aaaa"]


async def test_style_all_docs_lists_every_leaf(db: aiohttp.ClientSession) -> None:
    await conflicted(db)
    main = (await changes(db))["results"][0]["changes"]
    assert main == [{"rev": "1-bbbb"}]
    every = (await changes(db, style="all_docs"))["results"][0]["changes"]
    assert sorted(c["rev"] for c in every) == ["1-aaaa", "1-bbbb"]


async def test_attachments_inlines_data_in_included_docs(db: aiohttp.ClientSession) -> None:
    data = base64.b64encode(b"payload").decode()
    await put(db, "x", {"_attachments": {"f": {"content_type": "x/y", "data": data}}})
    row = (await changes(db, include_docs="true", attachments="true"))["results"][0]
    assert row["doc"]["_attachments"]["f"]["data"] == data
    stub = (await changes(db, include_docs="true"))["results"][0]["doc"]["_attachments"]["f"]
    assert stub["stub"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"feed": "sideways"},
        {"style": "some_docs"},
        {"heartbeat": "abc"},
        {"heartbeat": "-5"},
        {"limit": "many"},
    ],
)
async def test_malformed_options_are_400(db: aiohttp.ClientSession, params: dict[str, str]) -> None:
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] in {
            "bad_request",
            "query_parse_error",
            "invalid_since_seq",
        }


@pytest.mark.parametrize(
    ("feed", "since"),
    [
        ("normal", "not-a-seq"),
        ("normal", "-1"),
        ("normal", "abc-def"),
        ("longpoll", "not-a-seq"),
        ("continuous", "not-a-seq"),
        ("eventsource", "not-a-seq"),
    ],
)
async def test_malformed_since_is_a_prompt_400(
    db: aiohttp.ClientSession, five: list[str], feed: str, since: str
) -> None:
    # fabric_view_changes:validate_start_seq: {bad_request, <<"Malformed sequence supplied in
    # 'since' parameter.">>}, answered before the feed starts -- never a feed that never ends.
    params = {"feed": feed, "since": since, "timeout": "100"}
    async with asyncio.timeout(ERROR_PROMPT), db.get("/db/_changes", params=params) as r:
        body = await r.read()
        assert r.status == 400
    assert json.loads(body)["error"] == "bad_request"


async def test_post_without_body_is_the_plain_feed(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    headers = {"Content-Type": "application/json"}
    async with db.post("/db/_changes", headers=headers) as r:
        assert r.status == 200
        assert ids(await json_of(r)) == list("abcde")


# --- filters ---------------------------------------------------------------------------------


async def test_doc_ids_filter_by_get_takes_a_json_list(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    feed = await changes(db, filter="_doc_ids", doc_ids='["d", "b", "zz"]')
    assert ids(feed) == ["b", "d"]


async def test_doc_ids_filter_by_post_takes_the_body(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    body = {"doc_ids": ["e", "a"]}
    async with db.post("/db/_changes", json=body, params={"filter": "_doc_ids"}) as r:
        assert r.status == 200
        assert ids(await json_of(r)) == ["a", "e"]


@pytest.mark.parametrize("doc_ids", [None, '"a"', "[1, 2]", "[not json"])
async def test_doc_ids_filter_without_a_list_of_ids_is_400(
    db: aiohttp.ClientSession, doc_ids: str | None
) -> None:
    params = {"filter": "_doc_ids"} | ({"doc_ids": doc_ids} if doc_ids is not None else {})
    async with db.get("/db/_changes", params=params) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_selector_filter_keeps_matching_documents(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    body = {"selector": {"n": {"$gte": 3}}}
    async with db.post("/db/_changes", json=body, params={"filter": "_selector"}) as r:
        assert r.status == 200
        assert ids(await json_of(r)) == ["d", "e"]


async def test_selector_filter_without_selector_is_400(db: aiohttp.ClientSession) -> None:
    async with db.post("/db/_changes", json={}, params={"filter": "_selector"}) as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_design_filter_keeps_only_design_documents(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    await put(db, "_design/app", {"views": {}})
    await put(db, "f", {"n": 5})
    assert ids(await changes(db, filter="_design")) == ["_design/app"]


# --- longpoll --------------------------------------------------------------------------------


async def test_longpoll_with_pending_changes_answers_at_once(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    started = time.monotonic()
    feed = await changes(db, feed="longpoll", since="0", timeout="10000")
    assert time.monotonic() - started < 2.0
    assert ids(feed) == list("abcde")


async def test_longpoll_returns_as_soon_as_a_write_happens(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    params = {"feed": "longpoll", "since": "now", "timeout": "20000"}

    async def write_later() -> float:
        await asyncio.sleep(0.3)
        await put(db, "late", {"v": 1})
        return time.monotonic()

    writer = asyncio.create_task(write_later())
    started = time.monotonic()
    feed = await changes(db, **params)
    answered = time.monotonic()
    written = await writer
    assert ids(feed) == ["late"]
    assert answered - started >= 0.25  # it did wait for the write
    assert answered - written < 0.5  # and answered right after it


async def test_longpoll_without_changes_ends_after_timeout(db: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    feed = await changes(db, feed="longpoll", since="now", timeout="300")
    elapsed = time.monotonic() - started
    assert feed["results"] == []
    assert 0.25 <= elapsed < 3.0


async def test_longpoll_heartbeat_writes_newlines_while_waiting(
    db: aiohttp.ClientSession,
) -> None:
    quiet = {"feed": "longpoll", "since": "now", "timeout": "450"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=quiet) as r:
        without = await r.read()
    beating = quiet | {"heartbeat": "100"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=beating) as r:
        raw = await r.read()
    assert raw.count(b"\n") >= without.count(b"\n") + 2
    assert json.loads(raw)["results"] == []


# --- continuous ------------------------------------------------------------------------------


async def read_lines(response: aiohttp.ClientResponse) -> list[bytes]:
    lines = []
    while line := await response.content.readline():
        lines.append(line)
    return lines


async def test_continuous_feed_is_one_json_line_per_change_then_last_seq(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    params = {"feed": "continuous", "since": "0", "timeout": "200"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        assert r.status == 200
        lines = [line for line in await read_lines(r) if line.strip()]
    rows = [json.loads(line) for line in lines]
    assert [row["id"] for row in rows[:-1]] == list("abcde")
    assert set(rows[-1]) == {"last_seq", "pending"}
    assert rows[-1]["last_seq"] == rows[-2]["seq"]


async def test_continuous_feed_with_limit_stops_after_limit(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    params = {"feed": "continuous", "since": "0", "limit": "2", "timeout": "10000"}
    started = time.monotonic()
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        rows = [json.loads(line) for line in await read_lines(r) if line.strip()]
    assert [row.get("id") for row in rows[:2]] == ["a", "b"]
    assert time.monotonic() - started < 2.0


async def test_continuous_feed_notices_a_new_write_within_a_fraction_of_a_second(
    db: aiohttp.ClientSession, server: Server
) -> None:
    params = {"feed": "continuous", "since": "now", "timeout": "10000", "heartbeat": "5000"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        assert r.status == 200
        await asyncio.sleep(0.1)  # the feed is now waiting
        for doc_id in ("first", "second"):
            written = time.monotonic()
            await put(db, doc_id, {"v": 1})
            line = b""
            while not line.strip():
                line = await r.content.readline()
            assert json.loads(line)["id"] == doc_id
            assert time.monotonic() - written < 0.5


async def test_continuous_heartbeat_writes_newlines_while_idle(
    db: aiohttp.ClientSession,
) -> None:
    params = {"feed": "continuous", "since": "now", "timeout": "500", "heartbeat": "100"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        lines = await read_lines(r)
    assert lines.count(b"\n") >= 2
    assert set(json.loads(lines[-1])) == {"last_seq", "pending"}


# --- eventsource -----------------------------------------------------------------------------


def events(raw: bytes) -> list[dict[str, str]]:
    parsed = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields[name] = value
        parsed.append(fields)
    return parsed


async def test_eventsource_feed_sends_data_and_id_events(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    params = {"feed": "eventsource", "since": "0", "timeout": "200"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        assert r.status == 200
        assert r.content_type == "text/event-stream"
        raw = await r.read()
    data_events = [e for e in events(raw) if "data" in e and e.get("event") != "heartbeat"]
    rows = [json.loads(e["data"]) for e in data_events]
    assert [row["id"] for row in rows] == list("abcde")
    # chttpd_db:changes_callback writes "id: " ++ ?JSON_ENCODE(Seq): the JSON text of the seq.
    assert [e["id"] for e in data_events] == [json.dumps(row["seq"]) for row in rows]


async def test_eventsource_resumes_from_the_last_event_id_header(
    db: aiohttp.ClientSession, five: list[str]
) -> None:
    # chttpd_db:parse_changes_query: for feed=eventsource a Last-Event-ID header (what a
    # reconnecting browser sends back) overrides since.
    params = {"feed": "eventsource", "since": "0", "timeout": "200"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        sent = [e for e in events(await r.read()) if "id" in e]
    headers = {"Last-Event-ID": sent[2]["id"]}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params, headers=headers) as r:
        assert r.status == 200
        resumed = [json.loads(e["data"]) for e in events(await r.read()) if "id" in e]
    assert [row["id"] for row in resumed] == ["d", "e"]


async def test_eventsource_heartbeat_is_a_heartbeat_event(db: aiohttp.ClientSession) -> None:
    params = {"feed": "eventsource", "since": "now", "timeout": "450", "heartbeat": "100"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        raw = await r.read()
    assert {"event": "heartbeat", "data": ""} in events(raw)


# --- clients that go away --------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["continuous", "longpoll", "eventsource"])
async def test_client_disconnecting_mid_feed_leaves_the_server_healthy(
    db: aiohttp.ClientSession, server: Server, five: list[str], feed: str
) -> None:
    params = {"feed": feed, "since": "now", "heartbeat": "50", "timeout": "60000"}
    for _ in range(10):
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as leaving:
            r = await leaving.get("/db/_changes", params=params)
            assert r.status == 200
            await asyncio.wait_for(r.content.readline(), PROMPT)  # a heartbeat: it is live
            r.close()  # drop the connection mid-feed
    await asyncio.sleep(0.2)
    async with asyncio.timeout(PROMPT):
        async with db.get("/_up") as r:
            assert r.status == 200
        await put(db, "after", {"v": 1})
        assert ids(await changes(db))[-1] == "after"
        feed_after = await changes(db, feed="longpoll", since="0")
        assert "after" in ids(feed_after)


async def test_client_disconnecting_from_a_large_feed_leaves_the_server_healthy(
    db: aiohttp.ClientSession, server: Server
) -> None:
    docs = [{"_id": f"d{i:05d}", "pad": "x" * 200} for i in range(3000)]
    await bulk(db, docs)
    for feed in ("normal", "continuous"):
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as leaving:
            r = await leaving.get(
                "/db/_changes", params={"feed": feed, "include_docs": "true", "timeout": "1"}
            )
            await r.content.read(1000)
            r.close()
    async with asyncio.timeout(PROMPT):
        feed_after = await changes(db, since="0", limit="3")
    assert ids(feed_after) == ["d00000", "d00001", "d00002"]
