"""``HttpStore`` and ``HttpDatabases`` against real peers, and against a scripted fake server.

The end-to-end tests check the client on pouchdb-server (marked ``node``), and those marked
``ON_BOTH_PEERS`` on the real CouchDB too (marked ``couchdb``). The fake server tests pin what
only a scripted peer can show: the exact bytes of paths and query strings, how errors, 5xx,
timeouts and refused connections surface, and the tolerance for servers that omit fields or send
integer sequences. The CouchDB semantics themselves are the contract suite's (``tests/store``,
run on this client against CouchDB and pouchdb-server by the shared ``store_factory``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from peers import free_port, running_pouchdb_server, stop

from brainlink_docs import errors
from brainlink_docs.store.api import AllDocsQuery, ChangesQuery, ReadOptions
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.http import store as store_module

from .conftest import ON_BOTH_PEERS

DATA = bytes(range(256)) * 3
BIN = "application/octet-stream"


def md5_digest(data: bytes) -> str:
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode()


# --- a scripted CouchDB stand-in ------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the fake server received it, path and query still percent-encoded."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


def reply(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


async def _not_scripted(request: web.Request) -> web.StreamResponse:
    return reply({"error": "not_found", "reason": "missing"}, 404)


@dataclass
class FakeCouch:
    """Answers every request with ``handler`` and records it in ``seen``."""

    url: str = ""
    handler: Handler = _not_scripted
    seen: list[Seen] = field(default_factory=list)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        body = await request.read()
        self.seen.append(Seen(request.method, path, query, dict(request.headers), body))
        return await self.handler(request)

    def answer(self, body: object, status: int = 200) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return reply(body, status)

        self.handler = handler


@pytest.fixture
async def fake() -> AsyncIterator[FakeCouch]:
    couch = FakeCouch()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", couch.dispatch)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    couch.url = str(server.make_url("")).rstrip("/")
    try:
        yield couch
    finally:
        await server.close()


@pytest.fixture
async def fake_store(fake: FakeCouch) -> AsyncIterator[HttpStore]:
    db = await HttpStore.open(f"{fake.url}/db", timeout=5)
    try:
        yield db
    finally:
        await db.close()


# --- construction ---------------------------------------------------------------------------------


async def test_name_is_the_url_decoded_last_segment() -> None:
    db = await HttpStore.open("http://127.0.0.1:1/team%2Fnotes/")
    try:
        assert db.name == "team/notes"
        assert db.url == "http://127.0.0.1:1/team%2Fnotes"
    finally:
        await db.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://127.0.0.1:1/", "ftp://h/db"])
async def test_a_url_without_a_database_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        await HttpStore.open(url)


async def test_url_credentials_become_basic_auth_and_leave_the_url(fake: FakeCouch) -> None:
    fake.answer({"db_name": "db", "update_seq": 0})
    host = fake.url.removeprefix("http://")
    db = await HttpStore.open(f"http://alice:p%40ss@{host}/db")
    try:
        await db.info()
        assert "alice" not in db.url
    finally:
        await db.close()
    expected = "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert fake.seen[0].headers["Authorization"] == expected


async def test_auth_credentials_are_sent_as_basic_auth(fake: FakeCouch) -> None:
    fake.answer({"db_name": "db", "update_seq": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp 3.14 deprecates BasicAuth
        legacy = aiohttp.BasicAuth("bob", "pw")
    for auth in [("bob", "pw"), legacy]:
        db = await HttpStore.open(f"{fake.url}/db", auth=auth)
        try:
            await db.info()
        finally:
            await db.close()
    expected = "Basic " + base64.b64encode(b"bob:pw").decode()
    assert [seen.headers["Authorization"] for seen in fake.seen] == [expected, expected]


async def test_credentials_in_both_url_and_auth_are_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        await HttpStore.open("http://a:b@127.0.0.1:1/db", auth=("c", "d"))


async def test_a_borrowed_session_stays_open_and_an_owned_one_closes() -> None:
    async with aiohttp.ClientSession() as session:
        borrowed = await HttpStore.open("http://127.0.0.1:1/db", session=session)
        await borrowed.close()
        assert not session.closed
    owned = await HttpStore.open("http://127.0.0.1:1/db")
    session_of_owned = owned._t._session
    await owned.close()
    assert session_of_owned.closed


# --- wire encoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc_id", "path"),
    [
        ("plain", "/db/plain"),
        ("a/b c", "/db/a%2Fb%20c"),
        ("a+b&c?d#e%f", "/db/a%2Bb%26c%3Fd%23e%25f"),
        ("é", "/db/%C3%A9"),
        ("_design/app", "/db/_design/app"),
        ("_design/a/b", "/db/_design/a%2Fb"),
        ("_local/cp 1", "/db/_local/cp%201"),
    ],
)
async def test_doc_ids_are_encoded_as_couchdb_clients_do(
    fake: FakeCouch, fake_store: HttpStore, doc_id: str, path: str
) -> None:
    fake.answer({"_id": doc_id, "_rev": "1-a"})
    await fake_store.get(doc_id)
    assert fake.seen[0].path == path


async def test_attachment_names_keep_their_slashes(fake: FakeCouch, fake_store: HttpStore) -> None:
    fake.answer({"ok": True, "id": "d/e", "rev": "2-a"})
    await fake_store.put_attachment("d/e", "dir/a b.txt", b"x", "text/plain", "1-a")
    seen = fake.seen[0]
    assert (seen.method, seen.path, seen.params()) == (
        "PUT",
        "/db/d%2Fe/dir/a%20b.txt",
        {"rev": "1-a"},
    )
    assert seen.headers["Content-Type"] == "text/plain"
    assert seen.body == b"x"


@pytest.mark.parametrize("doc_id", ["_all_docs", "_changes", "_", "_design/", "", "_localx"])
async def test_ids_that_would_address_an_endpoint_are_never_sent(
    fake: FakeCouch, fake_store: HttpStore, doc_id: str
) -> None:
    with pytest.raises(errors.BadRequest):
        await fake_store.get(doc_id)
    assert fake.seen == []


@pytest.mark.parametrize("doc", [{"v": 1}, {"_id": "_bad"}, {"_id": ""}, {"_id": 5}])
async def test_docs_whose_id_is_no_path_are_posted(
    fake: FakeCouch, fake_store: HttpStore, doc: dict[str, Any]
) -> None:
    fake.answer({"ok": True, "id": "generated", "rev": "1-a"})
    result = await fake_store.put(doc)
    assert (fake.seen[0].method, fake.seen[0].path) == ("POST", "/db")
    assert orjson.loads(fake.seen[0].body) == doc
    assert result.id == "generated"


async def test_read_options_are_couchdb_query_values(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    fake.answer({"_id": "d", "_rev": "2-b"})
    options = ReadOptions(
        revs=True, conflicts=True, deleted_conflicts=True, attachments=True, atts_since=("1-a",)
    )
    await fake_store.get("d", rev="2-b", options=options)
    assert fake.seen[0].params() == {
        "revs": "true",
        "conflicts": "true",
        "deleted_conflicts": "true",
        "attachments": "true",
        "atts_since": '["1-a"]',
        "rev": "2-b",
    }


async def test_open_revs_asks_for_json_with_a_json_rev_list(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    fake.answer([{"missing": "1-a"}])
    assert await fake_store.open_revs("d", ["1-a"], ReadOptions(latest=True)) == [
        {"missing": "1-a"}
    ]
    fake.answer([])
    await fake_store.open_revs("d", None)
    first, second = fake.seen
    assert first.params() == {"open_revs": '["1-a"]', "latest": "true"}
    assert second.params() == {"open_revs": "all"}
    assert first.headers["Accept"] == "application/json"


async def test_all_docs_keys_are_json_and_plus_signs_survive(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    fake.answer({"total_rows": 0, "offset": 0, "rows": []})
    query = AllDocsQuery(
        startkey='a+b "c"', endkey="z&", inclusive_end=False, descending=True, limit=3, skip=1
    )
    await fake_store.all_docs(query)
    seen = fake.seen[0]
    assert seen.method == "GET"
    assert "%2B" in seen.query
    assert seen.params() == {
        "startkey": '"a+b \\"c\\""',
        "endkey": '"z&"',
        "inclusive_end": "false",
        "descending": "true",
        "limit": "3",
        "skip": "1",
    }


async def test_all_docs_with_keys_posts_them(fake: FakeCouch, fake_store: HttpStore) -> None:
    fake.answer({"total_rows": 1, "offset": None, "rows": [{"key": "x", "error": "not_found"}]})
    page = await fake_store.all_docs(AllDocsQuery(keys=("x",), include_docs=True))
    assert page.rows == [{"key": "x", "error": "not_found"}]
    seen = fake.seen[0]
    assert (seen.method, seen.params()) == ("POST", {"include_docs": "true"})
    assert orjson.loads(seen.body) == {"keys": ["x"]}
    assert seen.headers["Content-Type"] == "application/json"


async def test_changes_filters_go_in_the_body(fake: FakeCouch, fake_store: HttpStore) -> None:
    fake.answer({"results": [], "last_seq": "5-x"})
    await fake_store.changes(ChangesQuery(since="3-x", doc_ids=("a", "b"), style="all_docs"))
    await fake_store.changes(ChangesQuery(selector={"type": "a"}, limit=2))
    await fake_store.changes(ChangesQuery(selector={"type": "a"}, doc_ids=("a",)))
    by_ids, by_selector, both = fake.seen
    assert by_ids.params() == {"since": "3-x", "style": "all_docs", "filter": "_doc_ids"}
    assert orjson.loads(by_ids.body) == {"doc_ids": ["a", "b"]}
    assert by_selector.params()["filter"] == "_selector"
    assert orjson.loads(by_selector.body) == {"selector": {"type": "a"}}
    # pouchdb-server reads the selector only from the query string; CouchDB ignores it there.
    assert orjson.loads(by_selector.params()["selector"]) == {"type": "a"}
    assert orjson.loads(both.body) == {
        "selector": {"$and": [{"type": "a"}, {"_id": {"$in": ["a"]}}]}
    }


async def test_integer_sequences_read_as_strings_and_pending_defaults_to_zero(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    fake.answer(
        {
            "results": [{"seq": 7, "id": "a", "changes": [{"rev": "1-a"}], "deleted": True}],
            "last_seq": 7,
        }
    )
    page = await fake_store.changes(ChangesQuery(since="6"))
    assert page.last_seq == "7"
    assert page.pending == 0
    (change,) = page.results
    assert (change.seq, change.id, change.changes, change.deleted) == ("7", "a", ["1-a"], True)
    assert fake.seen[0].params()["since"] == "6"


async def test_info_tolerates_missing_fields(fake: FakeCouch, fake_store: HttpStore) -> None:
    fake.answer({"db_name": "db", "doc_count": 2, "update_seq": 9, "disk_size": 4096})
    info = await fake_store.info()
    assert (info.db_name, info.doc_count, info.doc_del_count) == ("db", 2, 0)
    assert (info.update_seq, info.purge_seq) == ("9", "0")
    assert (info.sizes.file, info.sizes.active, info.sizes.external) == (4096, 0, 0)
    assert info.extra == {"disk_size": 4096}


# --- bulk_docs rows -------------------------------------------------------------------------------


async def test_replicated_writes_get_one_row_per_input_doc(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    # CouchDB answers new_edits=false with error rows only (chttpd_db, replicated_changes).
    fake.answer([{"id": "b", "rev": "1-b", "error": "forbidden", "reason": "no"}])
    docs = [
        {"_id": "a", "_rev": "1-a"},
        {"_id": "b", "_rev": "1-b"},
        {"_id": "a", "_rev": "2-a"},
    ]
    results = await fake_store.bulk_docs(docs, new_edits=False)
    assert [r.to_json() for r in results] == [
        {"ok": True, "id": "a", "rev": "1-a"},
        {"id": "b", "error": "forbidden", "reason": "no"},
        {"ok": True, "id": "a", "rev": "2-a"},
    ]
    assert orjson.loads(fake.seen[0].body) == {"docs": docs, "new_edits": False}


async def test_interactive_rows_that_do_not_line_up_are_unavailable(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    fake.answer([])
    with pytest.raises(errors.Unavailable):
        await fake_store.bulk_docs([{"_id": "a"}])


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "token", "expected"),
    [
        (400, "bad_request", errors.BadRequest),
        (400, "doc_validation", errors.DocValidation),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (404, "not_found", errors.NotFound),
        (409, "conflict", errors.Conflict),
        (412, "file_exists", errors.FileExists),
        (413, "too_large", errors.TooLarge),
        (500, "unknown_error", errors.Unavailable),
        (503, "service_unavailable", errors.Unavailable),
    ],
)
async def test_error_answers_become_the_matching_couch_error(
    fake: FakeCouch,
    fake_store: HttpStore,
    status: int,
    token: str,
    expected: type[errors.CouchError],
) -> None:
    fake.answer({"error": token, "reason": "because"}, status)
    with pytest.raises(expected) as info:
        await fake_store.get("d")
    assert type(info.value) is expected
    assert info.value.reason == "because"


async def test_an_error_without_a_json_body_still_maps(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="<html>nope</html>", content_type="text/html")

    fake.handler = handler
    with pytest.raises(errors.NotFound):
        await fake_store.get("d")


async def test_a_2xx_that_is_not_json_is_unavailable(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text="<html>proxy login</html>")

    fake.handler = handler
    with pytest.raises(errors.Unavailable):
        await fake_store.get("d")


async def test_a_closed_port_is_unavailable() -> None:
    db = await HttpStore.open(f"http://127.0.0.1:{free_port()}/db")
    try:
        with pytest.raises(errors.Unavailable) as info:
            await db.get("d")
        assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    finally:
        await db.close()


@pytest.mark.node
async def test_a_server_that_goes_away_is_unavailable(tmp_path: Path) -> None:
    with running_pouchdb_server(tmp_path) as server:
        databases = await HttpDatabases.connect(server.url)
        db = await databases.create("gone")
        await db.put({"_id": "a"})
        stop(server)
        try:
            with pytest.raises(errors.Unavailable):
                await db.get("a")
        finally:
            await databases.close()


async def test_a_slow_answer_is_unavailable(fake: FakeCouch) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return reply({})

    fake.handler = handler
    db = await HttpStore.open(f"{fake.url}/db", timeout=0.2)
    try:
        with pytest.raises(errors.Unavailable) as info:
            await db.info()
        assert isinstance(info.value.__cause__, TimeoutError)
    finally:
        await db.close()


# --- waiting --------------------------------------------------------------------------------------


APACHE_WELCOME = {"couchdb": "Welcome", "vendor": {"name": "The Apache Software Foundation"}}


@pytest.mark.parametrize(
    "running",
    [
        [True, True, False],
        # CouchDB answered 202 before its shards' compaction showed as running: not done yet.
        [False, True, False],
    ],
    ids=["running-at-once", "running-after-the-answer"],
)
async def test_compact_waits_until_compaction_stops(
    fake: FakeCouch, fake_store: HttpStore, running: list[bool]
) -> None:
    states = iter(running)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return reply({"ok": True}, 202)
        if request.path == "/":
            return reply(APACHE_WELCOME)
        return reply({"db_name": "db", "update_seq": 1, "compact_running": next(states)})

    fake.handler = handler
    await fake_store.compact()
    assert [(s.method, s.path) for s in fake.seen] == [("POST", "/db/_compact"), ("GET", "/")] + [
        ("GET", "/db")
    ] * 3
    assert fake.seen[0].headers["Content-Type"] == "application/json"


async def test_wait_for_change_follows_last_seq_until_a_row(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    answers = iter(
        [
            {"results": [], "last_seq": "7-x"},
            {
                "results": [{"seq": "8-x", "id": "a", "changes": [{"rev": "1-a"}]}],
                "last_seq": "8-x",
            },
        ]
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        return reply(next(answers))

    fake.handler = handler
    async with asyncio.timeout(5):
        await fake_store.wait_for_change("5-x")
    first, second = (s.params() for s in fake.seen)
    assert first["feed"] == "longpoll"
    assert (first["since"], second["since"]) == ("5-x", "7-x")


async def test_wait_for_change_repolls_a_longpoll_that_never_answers(
    fake: FakeCouch, fake_store: HttpStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "LONGPOLL_TIMEOUT_MS", 100)
    monkeypatch.setattr(store_module, "LONGPOLL_GRACE_S", 0.1)
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)  # a server ignoring ``timeout`` and sending no heartbeat
        return reply({"results": [{"seq": 1, "id": "a", "changes": [{"rev": "1-a"}]}]})

    fake.handler = handler
    async with asyncio.timeout(4):
        await fake_store.wait_for_change("0")
    assert calls == 2


# --- attachments ----------------------------------------------------------------------------------


async def test_get_attachment_reads_that_exact_revision(
    fake: FakeCouch, fake_store: HttpStore
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/db/d":
            stub = {"content_type": "text/plain", "revpos": 2, "stub": True}
            return reply({"_id": "d", "_rev": "3-c", "_attachments": {"f": stub}})
        content_md5 = base64.b64encode(hashlib.md5(b"hi").digest()).decode()
        return web.Response(
            body=b"hi", content_type="text/plain", headers={"Content-MD5": content_md5}
        )

    fake.handler = handler
    att = await fake_store.get_attachment("d", "f")
    assert (att.data, att.content_type, att.revpos) == (b"hi", "text/plain", 2)
    assert att.digest == md5_digest(b"hi")
    assert fake.seen[1].params() == {"rev": "3-c"}


# --- against pouchdb-server -----------------------------------------------------------------------


@pytest.mark.node
async def test_crud_round_trip(store: HttpStore) -> None:
    created = await store.put({"_id": "a", "v": 1})
    assert created.rev is not None
    assert await store.get("a") == {"_id": "a", "_rev": created.rev, "v": 1}
    updated = await store.put({"_id": "a", "_rev": created.rev, "v": 2})
    assert updated.rev is not None
    assert updated.rev.startswith("2-")
    deleted = await store.delete("a", updated.rev)
    assert deleted.rev is not None
    with pytest.raises(errors.NotFound):
        await store.get("a")
    assert (await store.get("a", rev=deleted.rev))["_deleted"] is True


@pytest.mark.node
async def test_a_stale_rev_is_a_conflict(store: HttpStore) -> None:
    first = await store.put({"_id": "a"})
    await store.put({"_id": "a", "_rev": first.rev})
    with pytest.raises(errors.Conflict) as info:
        await store.put({"_id": "a", "_rev": first.rev})
    assert (info.value.status, info.value.error) == (409, "conflict")


@pytest.mark.node
async def test_a_missing_doc_is_not_found_missing(store: HttpStore) -> None:
    with pytest.raises(errors.NotFound) as info:
        await store.get("nope")
    assert info.value.reason == "missing"


@ON_BOTH_PEERS
async def test_a_missing_database_is_not_found(server_url: str, db_name: str) -> None:
    db = await HttpStore.open(f"{server_url}/{db_name}")
    try:
        with pytest.raises(errors.NotFound):
            await db.info()
    finally:
        await db.close()


@ON_BOTH_PEERS
@pytest.mark.parametrize("doc_id", ["a b", "a+b", "a&b", 'a"b', "a/b", "a%b", "a?b", "a#b", "é"])
async def test_ids_with_reserved_url_characters_round_trip(store: HttpStore, doc_id: str) -> None:
    result = await store.put({"_id": doc_id, "v": doc_id})
    assert (await store.get(doc_id))["v"] == doc_id
    page = await store.all_docs(AllDocsQuery(startkey=doc_id, endkey=doc_id))
    assert [row["id"] for row in page.rows] == [doc_id]
    assert result.rev is not None
    await store.delete(doc_id, result.rev)


@pytest.mark.node
async def test_bulk_docs_rows_line_up_in_both_modes(store: HttpStore) -> None:
    await store.put({"_id": "taken"})
    rows = await store.bulk_docs([{"_id": "x"}, {"_id": "taken"}, {"v": 1}])
    assert [(r.ok, r.error) for r in rows] == [(True, None), (False, "conflict"), (True, None)]
    replicated = [
        {"_id": "r", "_rev": "1-" + "a" * 32},
        {"_id": "r", "_rev": "1-" + "b" * 32},
        {"_id": "s", "_rev": "3-" + "c" * 32},
    ]
    rows = await store.bulk_docs(replicated, new_edits=False)
    assert [(r.id, r.rev, r.ok) for r in rows] == [(d["_id"], d["_rev"], True) for d in replicated]
    conflicted = await store.get("r", options=ReadOptions(conflicts=True))
    assert conflicted["_conflicts"] == ["1-" + "a" * 32]


@pytest.mark.node
async def test_all_docs_keys_report_each_key(store: HttpStore) -> None:
    await store.bulk_docs([{"_id": i} for i in "abc"])
    page = await store.all_docs(AllDocsQuery(keys=("c", "zz", "a"), include_docs=True))
    assert [row.get("id") for row in page.rows] == ["c", None, "a"]
    assert page.rows[1] == {"key": "zz", "error": "not_found"}
    assert page.rows[0]["doc"]["_id"] == "c"
    assert page.total_rows == 3


@ON_BOTH_PEERS
async def test_changes_pages_and_filters(store: HttpStore) -> None:
    await store.bulk_docs([{"_id": i, "type": t} for i, t in zip("abcd", "xyxy", strict=True)])
    first = await store.changes(ChangesQuery(limit=2))
    assert [c.id for c in first.results] == ["a", "b"]
    assert isinstance(first.last_seq, str)
    rest = await store.changes(ChangesQuery(since=first.last_seq))
    assert [c.id for c in rest.results] == ["c", "d"]
    assert all(isinstance(c.seq, str) for c in rest.results)
    by_ids = await store.changes(ChangesQuery(doc_ids=("d", "a")))
    assert [c.id for c in by_ids.results] == ["a", "d"]
    by_selector = await store.changes(ChangesQuery(selector={"type": "y"}, include_docs=True))
    assert [c.id for c in by_selector.results] == ["b", "d"]
    assert by_selector.results[0].doc is not None
    both = await store.changes(ChangesQuery(selector={"type": "y"}, doc_ids=("a", "b")))
    assert [c.id for c in both.results] == ["b"]


@ON_BOTH_PEERS
async def test_wait_for_change_wakes_on_a_write(store: HttpStore) -> None:
    seq = (await store.info()).update_seq
    waiter = asyncio.create_task(store.wait_for_change(seq))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await store.put({"_id": "a"})
    async with asyncio.timeout(5):
        await waiter


@pytest.mark.node
async def test_revs_diff_and_bulk_get(store: HttpStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    second = await store.put({"_id": "d", "_rev": first.rev, "v": 2})
    assert first.rev is not None
    assert second.rev is not None
    unknown = "3-" + "f" * 32
    assert await store.revs_diff({"d": [second.rev, unknown], "e": ["1-" + "e" * 32]}) == {
        "d": {"missing": [unknown]},
        "e": {"missing": ["1-" + "e" * 32]},
    }
    (entry,) = await store.bulk_get([{"id": "d", "rev": first.rev}], ReadOptions(revs=True))
    doc = entry["docs"][0]["ok"]
    assert (doc["_rev"], doc["v"]) == (first.rev, 1)
    assert doc["_revisions"]["start"] == 1


@pytest.mark.node
async def test_open_revs_lists_every_leaf(store: HttpStore) -> None:
    await store.bulk_docs(
        [{"_id": "c", "_rev": "1-" + d * 32, "v": d} for d in "ab"], new_edits=False
    )
    leaves = await store.open_revs("c", None)
    assert sorted(item["ok"]["v"] for item in leaves) == ["a", "b"]
    assert await store.open_revs("c", ["1-" + "f" * 32]) == [{"missing": "1-" + "f" * 32}]


@ON_BOTH_PEERS
async def test_attachments_round_trip_with_slashes_in_names(store: HttpStore) -> None:
    doc_id, name = "doc/with slash", "dir/file name é.bin"
    created = await store.put_attachment(doc_id, name, DATA, BIN, None)
    assert created.rev is not None
    att = await store.get_attachment(doc_id, name)
    assert (att.name, att.data, att.content_type, att.revpos) == (name, DATA, BIN, 1)
    assert att.digest == md5_digest(DATA)
    stub = (await store.get(doc_id))["_attachments"][name]
    assert (stub["digest"], stub["length"], stub["stub"]) == (md5_digest(DATA), len(DATA), True)
    removed = await store.delete_attachment(doc_id, name, created.rev)
    assert removed.rev is not None
    with pytest.raises(errors.NotFound):
        await store.get_attachment(doc_id, name)
    assert (await store.get_attachment(doc_id, name, rev=created.rev)).data == DATA


@ON_BOTH_PEERS
async def test_design_doc_attachments(store: HttpStore) -> None:
    result = await store.put({"_id": "_design/app", "views": {}})
    attached = await store.put_attachment(
        "_design/app", "index.html", b"<p>", "text/html", result.rev
    )
    assert attached.rev is not None
    assert (await store.get_attachment("_design/app", "index.html")).data == b"<p>"


@pytest.mark.node
async def test_local_docs(store: HttpStore) -> None:
    first = await store.put({"_id": "_local/cp", "seq": "1"})
    assert first.rev == "0-1"
    second = await store.put({"_id": "_local/cp", "_rev": first.rev, "seq": "2"})
    assert await store.get("_local/cp") == {"_id": "_local/cp", "_rev": "0-2", "seq": "2"}
    assert second.rev is not None
    await store.delete("_local/cp", second.rev)
    with pytest.raises(errors.NotFound):
        await store.get("_local/cp")
    assert (await store.changes()).results == []


@ON_BOTH_PEERS
async def test_info_and_compact(store: HttpStore, db_name: str) -> None:
    first = await store.put({"_id": "a", "v": 1})
    await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    async with asyncio.timeout(10):
        await store.compact()
    info = await store.info()
    assert (info.db_name, info.doc_count) == (db_name, 1)
    assert isinstance(info.update_seq, str)
    assert info.sizes.external >= 0
    with pytest.raises(errors.NotFound):
        await store.get("a", rev=first.rev)


@ON_BOTH_PEERS
async def test_databases_lifecycle(databases: HttpDatabases, db_name: str) -> None:
    assert not await databases.exists(db_name)
    with pytest.raises(errors.NotFound) as missing:
        await databases.open(db_name)
    assert missing.value.reason == "Database does not exist."
    created = await databases.create(db_name)
    try:
        assert created.name == db_name
        assert await databases.exists(db_name)
        assert db_name in await databases.list()
        with pytest.raises(errors.FileExists):
            await databases.create(db_name)
        opened = await databases.open(db_name)
        await created.put({"_id": "shared"})
        assert (await opened.get("shared"))["_id"] == "shared"
    finally:
        await databases.delete(db_name)
    assert not await databases.exists(db_name)


async def test_create_checks_the_name_before_asking() -> None:
    databases = await HttpDatabases.connect(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(errors.BadRequest) as info:
            await databases.create("Bad Name")
        assert info.value.error == "illegal_database_name"
    finally:
        await databases.close()
