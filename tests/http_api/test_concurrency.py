"""Concurrent writers and clients that vanish mid-request.

Optimistic concurrency as CouchDB promises it: of the writers that PUT against the same
revision exactly one wins (201) and every other gets 409, so retrying writers build one linear
history with no lost or duplicated revisions. A request whose connection drops before its body
is complete writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
import pytest

from .conftest import Server
from .helpers import db_info, json_of

WRITERS = 50
# Generous: a writer loses at most WRITERS - 1 races before it wins.
MAX_ATTEMPTS_PER_WRITER = 10 * WRITERS
DEADLINE = 60.0


async def test_fifty_racing_writers_build_one_linear_history(
    db: aiohttp.ClientSession,
) -> None:
    async with db.put("/db/counter", json={"writer": None}) as r:
        assert r.status == 201
        first_rev = (await json_of(r))["rev"]

    wins: list[tuple[str, str, int]] = []  # (base rev, new rev, writer)
    statuses: Counter[int] = Counter()
    start = asyncio.Event()

    async def writer(n: int) -> None:
        await start.wait()
        for _ in range(MAX_ATTEMPTS_PER_WRITER):
            async with db.get("/db/counter") as r:
                assert r.status == 200
                base = (await json_of(r))["_rev"]
            body = {"_rev": base, "writer": n}
            async with db.put("/db/counter", json=body) as r:
                statuses[r.status] += 1
                if r.status == 201:
                    wins.append((base, (await json_of(r))["rev"], n))
                    return
                assert r.status == 409, await r.text()
                assert await json_of(r) == {
                    "error": "conflict",
                    "reason": "Document update conflict.",
                }
        pytest.fail(f"writer {n} never won a race")

    async with asyncio.timeout(DEADLINE):
        tasks = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
        start.set()
        await asyncio.gather(*tasks)

    # Every writer won exactly once, and exactly one writer won from each revision.
    assert sorted(n for _, _, n in wins) == list(range(WRITERS))
    assert statuses[201] == WRITERS
    assert set(statuses) <= {201, 409}
    bases = [base for base, _, _ in wins]
    assert len(set(bases)) == WRITERS, "two writers succeeded from the same revision"

    # The wins chain from the first revision to the current one, one generation per win.
    successor = {base: new for base, new, _ in wins}
    chain = [first_rev]
    while chain[-1] in successor:
        chain.append(successor[chain[-1]])
    assert len(chain) == WRITERS + 1, "a successful write is not on the winning history"
    assert [int(rev.split("-")[0]) for rev in chain] == list(range(1, WRITERS + 2))

    async with db.get("/db/counter", params={"revs": "true", "conflicts": "true"}) as r:
        final = await json_of(r)
    assert final["_rev"] == chain[-1]
    assert "_conflicts" not in final
    assert final["_revisions"]["start"] == WRITERS + 1
    assert final["_revisions"]["ids"] == [rev.split("-", 1)[1] for rev in reversed(chain)]
    winner_of_last = next(n for base, new, n in wins if new == chain[-1])
    assert final["writer"] == winner_of_last

    headers = {"Accept": "application/json"}
    async with db.get("/db/counter", params={"open_revs": "all"}, headers=headers) as r:
        leaves = [item["ok"]["_rev"] for item in await json_of(r)]
    assert leaves == [chain[-1]]
    info = await db_info(db)
    assert info["doc_count"] == 1
    async with db.get("/db/_changes") as r:
        results = (await json_of(r))["results"]
    assert [(row["id"], row["changes"]) for row in results] == [("counter", [{"rev": chain[-1]}])]


async def test_concurrent_creates_of_one_id_have_exactly_one_winner(
    db: aiohttp.ClientSession,
) -> None:
    async def create(n: int) -> int:
        async with db.put("/db/contested", json={"n": n}) as r:
            return r.status

    statuses = await asyncio.gather(*(create(n) for n in range(WRITERS)))
    assert Counter(statuses) == {201: 1, 409: WRITERS - 1}
    async with db.get("/db/contested", params={"revs": "true"}) as r:
        doc = await json_of(r)
    assert doc["_rev"].startswith("1-")


async def test_concurrent_writers_of_distinct_documents_all_land(
    db: aiohttp.ClientSession,
) -> None:
    async def create(n: int) -> None:
        async with db.put(f"/db/doc{n:03d}", json={"n": n}) as r:
            assert r.status == 201

    async def bulk(n: int) -> None:
        docs = [{"_id": f"bulk{n:03d}-{i}"} for i in range(10)]
        async with db.post("/db/_bulk_docs", json={"docs": docs}) as r:
            assert r.status == 201
            assert all(row["ok"] for row in await json_of(r))

    await asyncio.gather(*(create(n) for n in range(WRITERS)), *(bulk(n) for n in range(10)))
    info = await db_info(db)
    assert info["doc_count"] == WRITERS + 100
    async with db.get("/db/_changes") as r:
        ids = [row["id"] for row in (await json_of(r))["results"]]
    assert len(ids) == len(set(ids)) == WRITERS + 100
    async with db.get("/db/_all_docs") as r:
        assert (await json_of(r))["total_rows"] == WRITERS + 100


# --- connections dropped mid-upload ----------------------------------------------------------


async def send_partial(server: Server, head: str, body: bytes) -> None:
    """Send a request head and part of its body, then drop the connection."""
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    auth = server.auth_headers["Authorization"]
    writer.write(f"{head}\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n".encode())
    writer.write(body)
    await writer.drain()
    await asyncio.sleep(0.05)  # the server is now waiting for the rest
    writer.transport.abort()
    await asyncio.sleep(0.05)


def _json_head(method: str, path: str, length: int, ctype: str = "application/json") -> str:
    return f"{method} {path} HTTP/1.1\r\nContent-Type: {ctype}\r\nContent-Length: {length}"


async def test_dropped_document_upload_writes_nothing(
    db: aiohttp.ClientSession, server: Server
) -> None:
    before = await db_info(db)
    body = b'{"complete_looking": true, "pad": "' + b"x" * 500
    await send_partial(server, _json_head("PUT", "/db/partial", 100_000), body)
    await send_partial(server, _json_head("POST", "/db", 100_000), body)
    async with db.get("/db/partial") as r:
        assert r.status == 404
    after = await db_info(db)
    assert after["doc_count"] == before["doc_count"] == 0
    assert after["update_seq"] == before["update_seq"]


async def test_dropped_bulk_upload_writes_none_of_its_documents(
    db: aiohttp.ClientSession, server: Server
) -> None:
    prefix = b'{"docs": [{"_id": "one"}, {"_id": "two"}, {"_id": "three"}, {"_id": "fo'
    await send_partial(server, _json_head("POST", "/db/_bulk_docs", 10_000), prefix)
    async with db.get("/db/_all_docs") as r:
        assert (await json_of(r))["rows"] == []
    async with db.get("/db/_changes") as r:
        assert (await json_of(r))["results"] == []


async def test_dropped_attachment_upload_writes_nothing(
    db: aiohttp.ClientSession, server: Server
) -> None:
    async with db.put("/db/doc", json={"v": 1}) as r:
        rev = (await json_of(r))["rev"]
    head = _json_head("PUT", f"/db/doc/big.bin?rev={rev}", 1_000_000, "application/octet-stream")
    await send_partial(server, head, b"\x00" * 50_000)
    head = _json_head("PUT", "/db/newdoc/big.bin", 1_000_000, "application/octet-stream")
    await send_partial(server, head, b"\x01" * 50_000)
    async with db.get("/db/doc") as r:
        doc = await json_of(r)
    assert doc["_rev"] == rev
    assert "_attachments" not in doc
    async with db.get("/db/newdoc") as r:
        assert r.status == 404


async def test_dropped_chunked_upload_writes_nothing(
    db: aiohttp.ClientSession, server: Server
) -> None:
    head = (
        "PUT /db/chunked HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
    )
    doc = b'{"a": 1}'
    # One complete chunk holding a whole, valid document; the terminating chunk never comes.
    await send_partial(server, head, f"{len(doc):x}\r\n".encode() + doc + b"\r\n")
    async with db.get("/db/chunked") as r:
        assert r.status == 404


async def test_dropped_multipart_upload_writes_nothing(
    db: aiohttp.ClientSession, server: Server
) -> None:
    doc = {"_attachments": {"a.bin": {"follows": True, "content_type": "x/y", "length": 9000}}}
    body = (
        b"--XX\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps(doc).encode()
        + b"\r\n--XX\r\nContent-Type: x/y\r\n\r\n"
        + b"y" * 4000
    )
    head = _json_head("PUT", "/db/mp", 100_000, 'multipart/related; boundary="XX"')
    await send_partial(server, head, body)
    async with db.get("/db/mp") as r:
        assert r.status == 404


async def test_server_stays_healthy_after_many_dropped_uploads(
    db: aiohttp.ClientSession, server: Server
) -> None:
    await asyncio.gather(
        *(send_partial(server, _json_head("PUT", f"/db/d{n}", 50_000), b"{") for n in range(30))
    )
    async with asyncio.timeout(5):
        async with db.get("/_up") as r:
            assert r.status == 200
        async with db.put("/db/after", json={"ok": True}) as r:
            assert r.status == 201
        info = await db_info(db)
    assert info["doc_count"] == 1
