"""The audit log (issue 19 item 6): every write through the server to an ``integration``,
``apiKey``, ``permission`` or ``user`` document leaves exactly one ``auditLogEntry`` in
``_audit`` (writer, action, ip, user agent, new rev), failed writes and other types none; the
log is append-only for everyone and readable by server admins only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from brainlink_docs.config import AuditSettings
from brainlink_docs.models.audit import AuditLogEntry
from brainlink_docs.multipart import related_upload

from .conftest import Server, serving
from .helpers import bulk, create_db, json_of, put_doc

AGENT = "audit-test/1.0"
APPEND_ONLY = {"error": "forbidden", "reason": "the audit log is append-only"}
# What CouchDB 3.5 answers for any admin-only database (checked with curl).
NOT_ALLOWED = {"error": "forbidden", "reason": "You are not allowed to access this db."}
NOT_AUTHORIZED = {"error": "unauthorized", "reason": "You are not authorized to access this db."}
ID_SHAPE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{16}$")


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(name, password)}


def integration(doc_id: str = "u/ana/integration/1", **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "type": "integration", "provider": "github", **extra}


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {**server.auth_headers, "User-Agent": AGENT}
    async with aiohttp.ClientSession(server.url, headers=headers) as session:
        await create_db(session)
        yield session


async def entries(admin: aiohttp.ClientSession, db: str = "db") -> list[dict[str, Any]]:
    """The log's entries about ``db``, in ``_id`` (time) order."""
    async with admin.get("/_audit/_all_docs", params={"include_docs": "true"}) as r:
        assert r.status == 200, await r.text()
        rows = (await json_of(r))["rows"]
    return [row["doc"] for row in rows if row["doc"]["database"] == db]


def brief(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    return entry["action"], entry["resourceType"], entry["resourceId"], entry["rev"]


async def add_member(admin: aiohttp.ClientSession, name: str, password: str) -> None:
    user = {"name": name, "password": password, "roles": [], "type": "user"}
    await put_doc(admin, f"/_users/org.couchdb.user:{name}", user)
    security = {"members": {"names": [name]}, "admins": {"names": []}}
    async with admin.put("/db/_security", json=security) as r:
        assert r.status == 200, await r.text()


# --- each write path -------------------------------------------------------------------------


async def test_put_update_delete_and_post_make_one_entry_each(
    admin: aiohttp.ClientSession,
) -> None:
    doc = integration("i1")
    rev1 = await put_doc(admin, "/db/i1", doc)
    rev2 = await put_doc(admin, "/db/i1", {**doc, "_rev": rev1, "v": 2})
    async with admin.delete("/db/i1", params={"rev": rev2}) as r:
        assert r.status == 200
        rev3 = (await json_of(r))["rev"]
    async with admin.post("/db", json={"type": "apiKey", "name": "ci"}) as r:
        assert r.status == 201
        posted = await json_of(r)
    log = await entries(admin)
    assert [brief(e) for e in log] == [
        ("create", "integration", "i1", rev1),
        ("update", "integration", "i1", rev2),
        ("delete", "integration", "i1", rev3),
        ("create", "apiKey", posted["id"], posted["rev"]),
    ]
    for entry in log:
        assert ID_SHAPE.match(entry["_id"]), entry["_id"]
        model = AuditLogEntry.from_body(entry, entry["_rev"])  # the lead's entity takes it
        assert model.doc_id() == entry["_id"] and model.revision == entry["rev"]
        assert entry["createdAt"] == entry["timestamp"]
        assert entry["type"] == "auditLogEntry" and entry["schemaVersion"] == 1
        assert entry["userId"] == "admin"
        assert entry["ipAddress"] == "127.0.0.1"
        assert entry["userAgent"] == AGENT
        assert entry["database"] == "db"


async def test_a_recreated_document_is_a_create_and_copy_is_logged(
    admin: aiohttp.ClientSession,
) -> None:
    rev1 = await put_doc(admin, "/db/k", {"type": "apiKey"})
    async with admin.delete("/db/k", params={"rev": rev1}) as r:
        rev2 = (await json_of(r))["rev"]
    rev3 = await put_doc(admin, "/db/k", {"type": "apiKey", "again": True})
    async with admin.request("COPY", "/db/k", headers={"Destination": "k2"}) as r:
        assert r.status == 201
        copied = (await json_of(r))["rev"]
    assert [brief(e) for e in await entries(admin)] == [
        ("create", "apiKey", "k", rev1),
        ("delete", "apiKey", "k", rev2),
        ("create", "apiKey", "k", rev3),
        ("create", "apiKey", "k2", copied),
    ]


async def test_bulk_docs_logs_each_successful_sensitive_row(
    admin: aiohttp.ClientSession,
) -> None:
    first = await put_doc(admin, "/db/taken", {"type": "permission"})
    rows = await bulk(
        admin,
        [
            {"_id": "p1", "type": "permission"},
            {"_id": "note", "type": "chatMessage"},
            {"_id": "taken", "type": "permission"},  # conflict: no entry
            {"_id": "u/ana", "type": "user", "email": "ana@example.com"},
        ],
    )
    assert [row.get("error") for row in rows] == [None, None, "conflict", None]
    rows2 = await bulk(
        admin,
        [
            {"_id": "p1", "_rev": rows[0]["rev"], "_deleted": True},
            {"_id": "u/ana", "_rev": rows[3]["rev"], "type": "user", "email": "a@b.c"},
            {"_id": "note", "_rev": rows[1]["rev"], "type": "chatMessage", "v": 2},
        ],
    )
    assert [brief(e) for e in await entries(admin)] == [
        ("create", "permission", "taken", first),
        ("create", "permission", "p1", rows[0]["rev"]),
        ("create", "user", "u/ana", rows[3]["rev"]),
        ("delete", "permission", "p1", rows2[0]["rev"]),
        ("update", "user", "u/ana", rows2[1]["rev"]),
    ]


async def test_multipart_put_is_logged(admin: aiohttp.ClientSession) -> None:
    doc = {
        "type": "integration",
        "_attachments": {"cert.pem": {"content_type": "text/plain", "data": b"-----BEGIN"}},
    }
    body, ctype = related_upload(doc)
    async with admin.put("/db/i", data=body, headers={"Content-Type": ctype}) as r:
        assert r.status == 201, await r.text()
        rev = (await json_of(r))["rev"]
    assert [brief(e) for e in await entries(admin)] == [("create", "integration", "i", rev)]


async def test_attachment_writes_on_a_sensitive_document_are_updates(
    admin: aiohttp.ClientSession,
) -> None:
    rev1 = await put_doc(admin, "/db/i", integration("i"))
    note = await put_doc(admin, "/db/n", {"type": "note"})
    async with admin.put("/db/i/a.txt", params={"rev": rev1}, data=b"x") as r:
        assert r.status == 201
        rev2 = (await json_of(r))["rev"]
    async with admin.delete("/db/i/a.txt", params={"rev": rev2}) as r:
        assert r.status == 200
        rev3 = (await json_of(r))["rev"]
    async with admin.put("/db/n/a.txt", params={"rev": note}, data=b"x") as r:
        assert r.status == 201
    async with admin.put("/db/fresh/a.txt", data=b"x") as r:
        assert r.status == 201  # a new document with no type
    assert [brief(e) for e in await entries(admin)] == [
        ("create", "integration", "i", rev1),
        ("update", "integration", "i", rev2),
        ("update", "integration", "i", rev3),
    ]


async def test_replicated_writes_are_replicate_entries_once(admin: aiohttp.ClientSession) -> None:
    live = await put_doc(admin, "/db/i", integration("i"))
    replicated = [
        {"_id": "r", "_rev": "1-aaa", "type": "apiKey"},
        {"_id": "n", "_rev": "1-bbb", "type": "note"},
        {"_id": "i", "_revisions": {"start": 2, "ids": ["ccc", live[2:]]}, "_deleted": True},
    ]
    await bulk(admin, replicated, new_edits=False)
    await bulk(admin, replicated, new_edits=False)  # already held: nothing written, no entry
    async with admin.put(
        "/db/r2", params={"new_edits": "false"}, json={"_rev": "3-ddd", "type": "user"}
    ) as r:
        assert r.status == 201, await r.text()
    assert [brief(e) for e in await entries(admin)] == [
        ("create", "integration", "i", live),
        ("replicate", "apiKey", "r", "1-aaa"),
        ("replicate", "integration", "i", "2-ccc"),
        ("replicate", "user", "r2", "3-ddd"),
    ]


async def test_the_replicate_endpoint_writes_are_logged(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    await create_db(admin, "copy")
    rev = await put_doc(admin, "/db/i", integration("i"))
    job = {"source": f"{server.authed_url}/db", "target": f"{server.authed_url}/copy"}
    async with admin.post("/_replicate", json=job) as r:
        assert r.status == 200, await r.text()
    (entry,) = await entries(admin, "copy")
    assert brief(entry) == ("replicate", "integration", "i", rev)
    assert entry["userId"] == "admin"


async def test_a_sensitive_document_changed_to_another_type_is_logged(
    admin: aiohttp.ClientSession,
) -> None:
    rev1 = await put_doc(admin, "/db/i", integration("i"))
    rev2 = await put_doc(admin, "/db/i", {"_rev": rev1, "type": "note"})
    assert [brief(e) for e in await entries(admin)][1:] == [("update", "integration", "i", rev2)]


async def test_failed_and_ordinary_writes_make_no_entries(admin: aiohttp.ClientSession) -> None:
    await put_doc(admin, "/db/m", {"type": "chatMessage", "content": "hi"})
    await bulk(admin, [{"type": "workspace"} for _ in range(3)])
    rev = await put_doc(admin, "/db/i", integration("i"))
    async with admin.put("/db/i", json=integration("i")) as r:
        assert r.status == 409
    async with admin.delete("/db/i", params={"rev": "1-000"}) as r:
        assert r.status == 409
    async with admin.put("/db/i/a.txt", params={"rev": "1-000"}, data=b"x") as r:
        assert r.status == 409
    async with admin.put("/db/_local/i", json=integration()) as r:
        assert r.status == 201
    assert [brief(e) for e in await entries(admin)] == [("create", "integration", "i", rev)]


async def test_a_member_and_an_anonymous_writer_are_named_as_such(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    await add_member(admin, "bob", "pw-bob")
    async with aiohttp.ClientSession(server.url, headers=basic("bob", "pw-bob")) as bob:
        await put_doc(bob, "/db/b", {"type": "apiKey"})
        async with bob.put("/db/_design/x", json={"type": "apiKey"}) as r:
            assert r.status == 403  # refused by the member rules: no entry
    async with admin.put("/db/_security", json={}) as r:
        assert r.status == 200  # a public database
    async with aiohttp.ClientSession(server.url) as anonymous:
        await put_doc(anonymous, "/db/a", {"type": "apiKey"})
    log = await entries(admin)
    assert [(e["userId"], e["resourceId"]) for e in log] == [("bob", "b"), (None, "a")]
    assert log[0]["userAgent"].startswith("Python/")  # aiohttp's own


async def test_users_database_writes_are_logged_as_user_documents(server: Server) -> None:
    async with aiohttp.ClientSession(server.url) as anonymous:
        doc = {"name": "cy", "password": "pw", "roles": [], "type": "user"}
        rev = await put_doc(anonymous, "/_users/org.couchdb.user:cy", doc)
    async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
        (entry,) = await entries(admin, "_users")
    assert brief(entry) == ("create", "user", "org.couchdb.user:cy", rev)
    assert entry["userId"] is None
    assert "password" not in entry and "derived_key" not in entry


# --- the client's address --------------------------------------------------------------------


@pytest.mark.parametrize(("trust", "logged"), [(False, "127.0.0.1"), (True, "203.0.113.7")])
async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    tmp_path: Path, trust: bool, logged: str
) -> None:
    audit = AuditSettings(trust_forwarded=trust)
    async with (
        serving(tmp_path / "data", audit=audit) as server,
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
    ):
        await create_db(admin)
        forwarded = {"X-Forwarded-For": "203.0.113.7, 10.0.0.2"}
        await put_doc(admin, "/db/i", integration("i"), headers=forwarded)
        await put_doc(admin, "/db/j", integration("j"))
        log = await entries(admin)
    assert [e["ipAddress"] for e in log] == [logged, "127.0.0.1"]


# --- settings --------------------------------------------------------------------------------


async def test_the_types_list_and_the_switch_are_settings(tmp_path: Path) -> None:
    audit = AuditSettings(types=("chatMessage",))
    async with (
        serving(tmp_path / "a", audit=audit) as server,
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
    ):
        await create_db(admin)
        await put_doc(admin, "/db/i", integration("i"))
        rev = await put_doc(admin, "/db/m", {"type": "chatMessage"})
        assert [brief(e) for e in await entries(admin)] == [("create", "chatMessage", "m", rev)]
    async with (
        serving(tmp_path / "b", audit=AuditSettings(enabled=False)) as server,
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
    ):
        await create_db(admin)
        await put_doc(admin, "/db/i", integration("i"))
        async with admin.get("/_audit") as r:
            assert r.status == 404


# --- the log itself --------------------------------------------------------------------------

WRITES = [
    ("PUT", "/_audit/x", {"type": "note"}),
    ("POST", "/_audit", {"type": "note"}),
    ("POST", "/_audit/_bulk_docs", {"docs": [{"_id": "x"}]}),
    ("POST", "/_audit/_bulk_docs", {"docs": [{"_id": "x", "_rev": "1-a"}], "new_edits": False}),
    ("DELETE", "/_audit/ENTRY?rev=REV", None),
    ("PUT", "/_audit/ENTRY?rev=REV", {"forged": True}),
    ("PUT", "/_audit/ENTRY/a.txt?rev=REV", None),
    ("COPY", "/_audit/ENTRY", None),
    ("POST", "/_audit/_purge", {"ENTRY": ["REV"]}),
    ("PUT", "/_audit/_security", {"members": {"names": ["bob"]}}),
    ("PUT", "/_audit/_revs_limit", 5),
    ("POST", "/_audit/_index", {"index": {"fields": ["userId"]}}),
    ("DELETE", "/_audit", None),
    ("PUT", "/_audit", None),
]
READS = [
    ("GET", "/_audit", None),
    ("GET", "/_audit/_all_docs", None),
    ("POST", "/_audit/_all_docs", {"keys": ["ENTRY"]}),
    ("GET", "/_audit/ENTRY", None),
    ("GET", "/_audit/_changes", None),
    ("POST", "/_audit/_find", {"selector": {"userId": "admin"}}),
]


async def call(
    session: aiohttp.ClientSession, method: str, path: str, body: Any, entry: dict[str, Any]
) -> tuple[int, Any]:
    path = path.replace("ENTRY", entry["_id"]).replace("REV", entry["_rev"])
    if isinstance(body, dict):
        body = {
            k.replace("ENTRY", entry["_id"]): [entry["_rev"]] if v == ["REV"] else v
            for k, v in body.items()
        }
    headers = {"Destination": "copied"} if method == "COPY" else {}
    async with session.request(method, path, json=body, headers=headers) as r:
        return r.status, await json_of(r)


async def test_nobody_writes_the_audit_log(server: Server, admin: aiohttp.ClientSession) -> None:
    await put_doc(admin, "/db/i", integration("i"))
    await add_member(admin, "bob", "pw-bob")
    (entry,) = await entries(admin)
    before = await entries(admin, "_users")
    async with (
        aiohttp.ClientSession(server.url, headers=basic("bob", "pw-bob")) as bob,
        aiohttp.ClientSession(server.url) as anonymous,
    ):
        for session in (admin, bob, anonymous):
            for method, path, body in WRITES:
                answer = await call(session, method, path, body, entry)
                assert answer == (403, APPEND_ONLY), (method, path, answer)
    assert await entries(admin) == [entry]
    assert await entries(admin, "_users") == before
    async with admin.get("/_audit") as r:
        assert (await json_of(r))["doc_count"] == 2  # the integration and bob's _users doc


async def test_only_server_admins_read_the_audit_log(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    await put_doc(admin, "/db/i", integration("i"))
    await add_member(admin, "bob", "pw-bob")
    (entry,) = await entries(admin)
    async with (
        aiohttp.ClientSession(server.url, headers=basic("bob", "pw-bob")) as bob,
        aiohttp.ClientSession(server.url) as anonymous,
    ):
        for method, path, body in READS:
            assert (await call(admin, method, path, body, entry))[0] == 200, path
            assert await call(bob, method, path, body, entry) == (403, NOT_ALLOWED), path
            assert await call(anonymous, method, path, body, entry) == (401, NOT_AUTHORIZED), path


async def test_a_batch_of_sensitive_documents_writes_its_entries_in_one_batch(
    admin: aiohttp.ClientSession,
) -> None:
    docs = [{"_id": f"u/ana/apiKey/{i:04}", "type": "apiKey"} for i in range(1000)]
    rows = await bulk(admin, docs)
    log = await entries(admin)
    assert sorted((e["resourceId"], e["rev"]) for e in log) == [(r["id"], r["rev"]) for r in rows]
    # One timestamp and one batch part for all, the rows' indexes after it: the entries were
    # made by one call and written by one bulk_docs, in the order of the rows.
    assert len({e["timestamp"] for e in log}) == 1
    assert len({e["id"][:10] for e in log}) == 1
    assert [int(e["id"][10:], 16) for e in log] == list(range(1000))
    assert {e["action"] for e in log} == {"create"}


async def test_a_client_that_hangs_up_still_gets_the_entries_of_what_was_written(
    server: Server, admin: aiohttp.ClientSession
) -> None:
    """The handler is cancelled when its client goes; a write that got to the writer commits
    anyway, and its entry must follow it (the entry's write is shielded)."""
    for i in range(20):
        body = orjson.dumps({"_id": f"gone{i}", "type": "apiKey"})
        head = (
            f"POST /db HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: {server.auth_headers['Authorization']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head.encode() + body)
        await writer.drain()
        await asyncio.sleep(i / 20_000)  # hang up at different points of the write
        writer.close()
        await writer.wait_closed()
    await asyncio.sleep(0.5)
    async with admin.get("/db/_all_docs") as r:
        written = {row["id"] for row in (await json_of(r))["rows"]}
    assert {e["resourceId"] for e in await entries(admin)} == written
