"""Attachment endpoints as CouchDB 3.x answers them (``chttpd_db:db_attachment_req``).

``/{db}/{doc}/{name}``: everything after the document id is the name, slashes included. Reads
carry ``ETag: "<base64 md5>"`` and honour ``If-None-Match``, a byte ``Range`` (206, or 416 when
unsatisfiable) and ``Accept-Encoding: gzip`` for compressible types. Documents may also arrive
as ``multipart/related`` with ``"follows": true`` attachments, which is how CouchDB's
replicator pushes them (``couch_httpd_multipart:encode_multipart_stream``).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import Server, serving
from .helpers import get_doc, json_of

SMALL_ATT_LIMIT = 1024
BINARY = bytes(range(256)) * 4  # 1 KiB that no compressor shrinks much and no codec mangles
TEXT = ("The quick brown fox jumps over the lazy dog. " * 100).encode()  # 4.5 KB, compressible


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def put_att(
    client: aiohttp.ClientSession,
    path: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    rev: str | None = None,
) -> str:
    params = {"rev": rev} if rev else {}
    headers = {"Content-Type": content_type}
    async with client.put(path, data=data, params=params, headers=headers) as r:
        assert r.status == 201, await r.text()
        return (await json_of(r))["rev"]


def related_body(
    doc: dict[str, Any], parts: list[tuple[str, str, bytes, str | None]]
) -> tuple[bytes, str]:
    """A ``multipart/related`` body byte for byte as CouchDB's replicator writes it.

    ``parts`` are (name, content type, bytes, content encoding) in the order of the JSON's
    ``_attachments``.
    """
    boundary = uuid.uuid4().hex
    out = [
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(),
        json.dumps(doc).encode(),
        f"\r\n--{boundary}".encode(),
    ]
    for name, ctype, data, encoding in parts:
        out.append(f'\r\nContent-Disposition: attachment; filename="{name}"'.encode())
        out.append(f"\r\nContent-Type: {ctype}".encode())
        out.append(f"\r\nContent-Length: {len(data)}".encode())
        if encoding:
            out.append(f"\r\nContent-Encoding: {encoding}".encode())
        out.append(b"\r\n\r\n")
        out.append(data)
        out.append(f"\r\n--{boundary}".encode())
    out.append(b"--")
    return b"".join(out), f'multipart/related; boundary="{boundary}"'


@pytest.fixture
async def raw(server: Server, db: aiohttp.ClientSession) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that neither asks for nor undoes compression (headers are set per request)."""
    async with aiohttp.ClientSession(
        server.url, headers=server.auth_headers, auto_decompress=False
    ) as session:
        yield session


@pytest.fixture
async def small_server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path / "small", max_attachment_size=SMALL_ATT_LIMIT) as small:
        yield small


# --- PUT, GET, HEAD, DELETE ------------------------------------------------------------------


async def test_put_attachment_creates_the_document_with_201_and_location(
    db: aiohttp.ClientSession,
) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    async with db.put("/db/doc/file.bin", data=BINARY, headers=headers) as r:
        assert r.status == 201
        body = await json_of(r)
        assert body["ok"] is True and body["id"] == "doc"
        assert body["rev"].startswith("1-")
        assert r.headers["Location"].endswith("/db/doc/file.bin")
    doc = await get_doc(db, "/db/doc")
    stub = doc["_attachments"]["file.bin"]
    assert stub["stub"] is True
    assert stub["content_type"] == "application/octet-stream"
    assert stub["length"] == len(BINARY)
    assert stub["digest"] == "md5-" + md5_b64(BINARY)
    assert stub["revpos"] == 1


async def test_get_attachment_returns_bytes_type_and_md5_etag(
    raw: aiohttp.ClientSession,
) -> None:
    await put_att(raw, "/db/doc/file.bin", BINARY, "image/png")
    async with raw.get("/db/doc/file.bin") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["ETag"] == f'"{md5_b64(BINARY)}"'
        assert await r.read() == BINARY


async def test_head_attachment_answers_headers_without_body(raw: aiohttp.ClientSession) -> None:
    await put_att(raw, "/db/doc/file.bin", BINARY)
    async with raw.head("/db/doc/file.bin") as r:
        assert r.status == 200
        assert r.headers["ETag"] == f'"{md5_b64(BINARY)}"'
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert int(r.headers["Content-Length"]) == len(BINARY)
        assert await r.read() == b""
    async with raw.head("/db/doc/absent.bin") as r:
        assert r.status == 404


async def test_put_attachment_without_content_type_is_octet_stream(
    db: aiohttp.ClientSession, server: Server
) -> None:
    reader, writer = await _raw_connection(server)
    request = (
        b"PUT /db/doc/untyped HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: {server.auth_headers['Authorization']}\r\n".encode()
        + b"Content-Length: 3\r\n\r\nabc"
    )
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert b" 201 " in status_line
    doc = await get_doc(db, "/db/doc")
    assert doc["_attachments"]["untyped"]["content_type"] == "application/octet-stream"


async def _raw_connection(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def test_second_attachment_needs_the_current_rev(db: aiohttp.ClientSession) -> None:
    rev1 = await put_att(db, "/db/doc/a.bin", b"a")
    async with db.put("/db/doc/b.bin", data=b"b") as r:
        assert r.status == 409
        assert await json_of(r) == {"error": "conflict", "reason": "Document update conflict."}
    rev2 = await put_att(db, "/db/doc/b.bin", b"b", rev=rev1)
    assert rev2.startswith("2-")
    doc = await get_doc(db, "/db/doc")
    assert sorted(doc["_attachments"]) == ["a.bin", "b.bin"]
    assert doc["_attachments"]["a.bin"]["revpos"] == 1
    assert doc["_attachments"]["b.bin"]["revpos"] == 2


async def test_attachment_rev_may_come_from_if_match(db: aiohttp.ClientSession) -> None:
    rev1 = await put_att(db, "/db/doc/a.bin", b"a")
    headers = {"If-Match": f'"{rev1}"', "Content-Type": "text/plain"}
    async with db.put("/db/doc/b.txt", data=b"b", headers=headers) as r:
        assert r.status == 201


async def test_attachment_put_replaces_same_name(db: aiohttp.ClientSession) -> None:
    rev1 = await put_att(db, "/db/doc/a.bin", b"first")
    await put_att(db, "/db/doc/a.bin", b"second", rev=rev1)
    async with db.get("/db/doc/a.bin") as r:
        assert await r.read() == b"second"


async def test_attachment_on_existing_document_keeps_its_body(db: aiohttp.ClientSession) -> None:
    async with db.put("/db/doc", json={"title": "kept"}) as r:
        rev1 = (await json_of(r))["rev"]
    await put_att(db, "/db/doc/a.bin", b"x", rev=rev1)
    assert (await get_doc(db, "/db/doc"))["title"] == "kept"


async def test_delete_attachment_removes_only_that_attachment(db: aiohttp.ClientSession) -> None:
    rev1 = await put_att(db, "/db/doc/a.bin", b"a")
    rev2 = await put_att(db, "/db/doc/b.bin", b"b", rev=rev1)
    async with db.delete("/db/doc/a.bin", params={"rev": rev2}) as r:
        assert r.status == 200
        body = await json_of(r)
        assert body["ok"] is True and body["rev"].startswith("3-")
    async with db.get("/db/doc/a.bin") as r:
        assert r.status == 404
    async with db.get("/db/doc/b.bin") as r:
        assert await r.read() == b"b"
    async with db.get("/db/doc/a.bin", params={"rev": rev2}) as r:
        assert r.status == 200
        assert await r.read() == b"a"


async def test_delete_attachment_without_rev_is_409(db: aiohttp.ClientSession) -> None:
    await put_att(db, "/db/doc/a.bin", b"a")
    async with db.delete("/db/doc/a.bin") as r:
        assert r.status == 409
    async with db.get("/db/doc/a.bin") as r:
        assert r.status == 200


async def test_delete_attachment_of_missing_document_is_404(db: aiohttp.ClientSession) -> None:
    # db_attachment_req(DELETE) without a rev opens the document first: missing -> 404.
    async with db.delete("/db/nope/a.bin") as r:
        assert r.status == 404
        assert (await json_of(r))["error"] == "not_found"


async def test_delete_missing_attachment_is_404(db: aiohttp.ClientSession) -> None:
    rev = await put_att(db, "/db/doc/a.bin", b"a")
    async with db.delete("/db/doc/other.bin", params={"rev": rev}) as r:
        assert r.status == 404
        assert (await json_of(r))["error"] == "not_found"


async def test_get_missing_attachment_is_404(db: aiohttp.ClientSession) -> None:
    await put_att(db, "/db/doc/a.bin", b"a")
    async with db.get("/db/doc/other.bin") as r:
        assert r.status == 404
        assert (await json_of(r))["error"] == "not_found"
    async with db.get("/db/nodoc/a.bin") as r:
        assert r.status == 404
        assert (await json_of(r))["error"] == "not_found"


async def test_attachment_of_an_older_revision_is_readable_by_rev(
    db: aiohttp.ClientSession,
) -> None:
    rev1 = await put_att(db, "/db/doc/a.bin", b"v1")
    await put_att(db, "/db/doc/a.bin", b"v2", rev=rev1)
    async with db.get("/db/doc/a.bin", params={"rev": rev1}) as r:
        assert await r.read() == b"v1"
    async with db.get("/db/doc/a.bin") as r:
        assert await r.read() == b"v2"


@pytest.mark.parametrize(
    ("put_path", "get_path", "doc_path", "name"),
    [
        ("/db/doc/dir/sub/file.txt", "/db/doc/dir/sub/file.txt", "/db/doc", "dir/sub/file.txt"),
        ("/db/doc/dir%2Ffile.txt", "/db/doc/dir/file.txt", "/db/doc", "dir/file.txt"),
        ("/db/doc/dir/file.txt", "/db/doc/dir%2Ffile.txt", "/db/doc", "dir/file.txt"),
        ("/db/doc/with%20space.txt", "/db/doc/with%20space.txt", "/db/doc", "with space.txt"),
        (
            "/db/_design/app/static/app.js",
            "/db/_design%2Fapp/static/app.js",
            "/db/_design/app",
            "static/app.js",
        ),
    ],
)
async def test_attachment_names_may_contain_slashes(
    db: aiohttp.ClientSession, put_path: str, get_path: str, doc_path: str, name: str
) -> None:
    await put_att(db, put_path, b"payload", "text/plain")
    async with db.get(get_path) as r:
        assert r.status == 200
        assert await r.read() == b"payload"
    doc = await get_doc(db, doc_path)
    assert list(doc["_attachments"]) == [name]


async def test_attachment_name_starting_with_underscore_is_400(db: aiohttp.ClientSession) -> None:
    # chttpd_db:validate_attachment_name: "Attachment name '_x' starts with prohibited
    # character '_'"
    async with db.put("/db/doc/_hidden", data=b"x") as r:
        assert r.status == 400
        assert (await json_of(r))["error"] == "bad_request"


async def test_put_attachment_into_missing_database_is_404(client: aiohttp.ClientSession) -> None:
    async with client.put("/nope/doc/a.bin", data=b"x") as r:
        assert r.status == 404
        assert (await json_of(r))["reason"] == "Database does not exist."


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("br", b"whatever"),
        ("deflate", zlib.compress(b"whatever")),
        ("deflate", b"not deflate at all"),
        ("compress", b"whatever"),
        ("x-unknown", b"whatever"),
    ],
)
async def test_put_attachment_with_unsupported_content_encoding_is_415(
    db: aiohttp.ClientSession, encoding: str, data: bytes
) -> None:
    # db_attachment_req: only gzip and identity are accepted, else {bad_ctype, ...} -> 415.
    headers = {"Content-Encoding": encoding, "Content-Type": "text/plain"}
    async with db.put("/db/doc/a.txt", data=data, headers=headers) as r:
        assert r.status == 415
        assert (await json_of(r))["error"] == "bad_content_type"
    async with db.get("/db/doc") as r:
        assert r.status == 404


async def test_put_attachment_with_corrupt_gzip_body_is_a_client_error(
    db: aiohttp.ClientSession,
) -> None:
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    async with db.put("/db/doc/a.txt", data=b"\x1f\x8bnot really gzip", headers=headers) as r:
        assert 400 <= r.status < 500


async def test_put_attachment_sent_gzip_encoded_is_stored_decoded(
    raw: aiohttp.ClientSession,
) -> None:
    headers = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    async with raw.put("/db/doc/a.txt", data=gzip.compress(TEXT), headers=headers) as r:
        assert r.status == 201
    headers = {"Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.txt", headers=headers) as r:
        assert r.headers.get("Content-Encoding", "identity") == "identity"
        assert await r.read() == TEXT


# --- conditional and ranged reads ------------------------------------------------------------


async def test_if_none_match_with_attachment_etag_is_304(raw: aiohttp.ClientSession) -> None:
    await put_att(raw, "/db/doc/a.bin", BINARY)
    tag = f'"{md5_b64(BINARY)}"'
    async with raw.get("/db/doc/a.bin", headers={"If-None-Match": tag}) as r:
        assert r.status == 304
        assert await r.read() == b""
    async with raw.get("/db/doc/a.bin", headers={"If-None-Match": '"other"'}) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1020-5000", 1020, 1023),
        ("bytes=0-0", 0, 0),
    ],
)
async def test_range_request_is_206_with_content_range(
    raw: aiohttp.ClientSession, header: str, start: int, end: int
) -> None:
    await put_att(raw, "/db/doc/a.bin", BINARY)
    headers = {"Range": header, "Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.bin", headers=headers) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(BINARY)}"
        assert await r.read() == BINARY[start : end + 1]


async def test_attachment_advertises_byte_ranges(raw: aiohttp.ClientSession) -> None:
    await put_att(raw, "/db/doc/a.bin", BINARY)
    async with raw.get("/db/doc/a.bin", headers={"Accept-Encoding": "identity"}) as r:
        assert r.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=2000-3000", "bytes=1024-", "bytes=9-3"])
async def test_unsatisfiable_range_is_416(raw: aiohttp.ClientSession, header: str) -> None:
    await put_att(raw, "/db/doc/a.bin", BINARY)
    headers = {"Range": header, "Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.bin", headers=headers) as r:
        assert r.status == 416


async def test_unsatisfiable_range_answers_the_couchdb_error_body(
    raw: aiohttp.ClientSession,
) -> None:
    # chttpd:error_info(requested_range_not_satisfiable)
    await put_att(raw, "/db/doc/a.bin", BINARY)
    headers = {"Range": "bytes=9-3", "Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.bin", headers=headers) as r:
        assert r.status == 416
        assert await json_of(r) == {
            "error": "requested_range_not_satisfiable",
            "reason": "Requested range not satisfiable",
        }


async def test_several_ranges_answer_206_multipart_byteranges(
    raw: aiohttp.ClientSession,
) -> None:
    # chttpd_db:send_ranges_multipart, for up to 10 ranges of an identity-encoded attachment.
    await put_att(raw, "/db/doc/a.bin", BINARY)
    headers = {"Range": "bytes=0-3,10-13", "Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.bin", headers=headers) as r:
        assert r.status == 206
        assert r.content_type == "multipart/byteranges"
        reader = aiohttp.MultipartReader(r.headers, r.content)
        chunks = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            chunks.append((part.headers["Content-Range"], await part.read(decode=False)))
    assert chunks == [
        ("bytes 0-3/1024", BINARY[0:4]),
        ("bytes 10-13/1024", BINARY[10:14]),
    ]


@pytest.mark.parametrize("header", ["bytes=abc", "items=0-5", "bytes=a-b"])
async def test_unparseable_range_is_ignored_with_the_whole_attachment(
    raw: aiohttp.ClientSession, header: str
) -> None:
    await put_att(raw, "/db/doc/a.bin", BINARY)
    headers = {"Range": header, "Accept-Encoding": "identity"}
    async with raw.get("/db/doc/a.bin", headers=headers) as r:
        assert r.status == 200
        assert await r.read() == BINARY


# --- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "text/html"])
async def test_compressible_attachment_is_gzipped_for_clients_that_accept_gzip(
    raw: aiohttp.ClientSession, content_type: str
) -> None:
    await put_att(raw, "/db/doc/a", TEXT, content_type)
    async with raw.get("/db/doc/a", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.status == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"].startswith(content_type)
        body = await r.read()
    assert len(body) < len(TEXT)
    assert gzip.decompress(body) == TEXT


async def test_compressible_attachment_is_plain_for_clients_that_do_not_accept_gzip(
    raw: aiohttp.ClientSession,
) -> None:
    await put_att(raw, "/db/doc/a.txt", TEXT, "text/plain")
    async with raw.get("/db/doc/a.txt", headers={"Accept-Encoding": "identity"}) as r:
        assert r.status == 200
        assert "Content-Encoding" not in r.headers
        assert await r.read() == TEXT


async def test_incompressible_type_is_never_gzipped(raw: aiohttp.ClientSession) -> None:
    await put_att(raw, "/db/doc/a.bin", TEXT, "application/octet-stream")
    async with raw.get("/db/doc/a.bin", headers={"Accept-Encoding": "gzip"}) as r:
        assert "Content-Encoding" not in r.headers
        assert await r.read() == TEXT


async def test_inline_attachment_data_is_the_identity_bytes(db: aiohttp.ClientSession) -> None:
    await put_att(db, "/db/doc/a.txt", TEXT, "text/plain")
    doc = await get_doc(db, "/db/doc", attachments="true")
    assert base64.b64decode(doc["_attachments"]["a.txt"]["data"]) == TEXT


# --- multipart/related uploads ---------------------------------------------------------------


async def test_multipart_related_upload_stores_following_attachments(
    db: aiohttp.ClientSession,
) -> None:
    doc = {
        "title": "with files",
        "_attachments": {
            "a.bin": {"follows": True, "content_type": "application/octet-stream", "length": 1024},
            "b.txt": {"follows": True, "content_type": "text/plain", "length": len(TEXT)},
        },
    }
    body, ctype = related_body(
        doc,
        [("a.bin", "application/octet-stream", BINARY, None), ("b.txt", "text/plain", TEXT, None)],
    )
    async with db.put("/db/doc", data=body, headers={"Content-Type": ctype}) as r:
        assert r.status == 201, await r.text()
        rev = (await json_of(r))["rev"]
    stored = await get_doc(db, "/db/doc")
    assert stored["_rev"] == rev and stored["title"] == "with files"
    assert stored["_attachments"]["a.bin"]["length"] == len(BINARY)
    assert stored["_attachments"]["b.txt"]["content_type"] == "text/plain"
    async with db.get("/db/doc/a.bin") as r:
        assert await r.read() == BINARY
    async with db.get("/db/doc/b.txt") as r:
        assert await r.read() == TEXT


async def test_multipart_related_replicator_push_with_new_edits_false(
    db: aiohttp.ClientSession,
) -> None:
    # What couch_replicator_api_wrap:update_doc sends: ?new_edits=false, the revision history,
    # and attachments with revpos/digest/length and "follows": true.
    doc = {
        "_id": "doc",
        "_rev": "2-bbbb",
        "_revisions": {"start": 2, "ids": ["bbbb", "aaaa"]},
        "v": 2,
        "_attachments": {
            "a.bin": {
                "content_type": "application/octet-stream",
                "revpos": 1,
                "digest": "md5-" + md5_b64(BINARY),
                "length": len(BINARY),
                "follows": True,
            }
        },
    }
    body, ctype = related_body(doc, [("a.bin", "application/octet-stream", BINARY, None)])
    params = {"new_edits": "false"}
    async with db.put("/db/doc", data=body, params=params, headers={"Content-Type": ctype}) as r:
        assert r.status == 201, await r.text()
    stored = await get_doc(db, "/db/doc", revs="true")
    assert stored["_rev"] == "2-bbbb"
    assert stored["_revisions"] == {"start": 2, "ids": ["bbbb", "aaaa"]}
    assert stored["_attachments"]["a.bin"]["digest"] == "md5-" + md5_b64(BINARY)
    async with db.get("/db/doc/a.bin") as r:
        assert await r.read() == BINARY


async def test_multipart_related_gzip_encoded_part_is_stored_as_its_identity_bytes(
    raw: aiohttp.ClientSession,
) -> None:
    # A CouchDB source stores text attachments gzip-compressed and its replicator sends them as
    # is: the JSON says "encoding": "gzip" and the part has Content-Encoding: gzip.
    packed = gzip.compress(TEXT)
    doc = {
        "_id": "doc",
        "_rev": "1-aaaa",
        "_revisions": {"start": 1, "ids": ["aaaa"]},
        "_attachments": {
            "a.txt": {
                "content_type": "text/plain",
                "revpos": 1,
                "digest": "md5-" + md5_b64(packed),
                "length": len(TEXT),
                "encoding": "gzip",
                "encoded_length": len(packed),
                "follows": True,
            }
        },
    }
    body, ctype = related_body(doc, [("a.txt", "text/plain", packed, "gzip")])
    params = {"new_edits": "false"}
    async with raw.put("/db/doc", data=body, params=params, headers={"Content-Type": ctype}) as r:
        assert r.status == 201, await r.text()
    async with raw.get("/db/doc/a.txt", headers={"Accept-Encoding": "identity"}) as r:
        assert r.status == 200
        assert "Content-Encoding" not in r.headers
        assert await r.read() == TEXT
    async with raw.get("/db/doc/a.txt", headers={"Accept-Encoding": "gzip"}) as r:
        data = await r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        assert data == TEXT


async def test_multipart_related_with_missing_part_is_400_and_writes_nothing(
    db: aiohttp.ClientSession,
) -> None:
    doc = {"_attachments": {"a.bin": {"follows": True, "content_type": "x/y", "length": 3}}}
    body, ctype = related_body(doc, [])
    async with db.put("/db/doc", data=body, headers={"Content-Type": ctype}) as r:
        assert 400 <= r.status < 500
    async with db.get("/db/doc") as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/related", b"--b\r\n\r\n{}\r\n--b--"),
        ('multipart/related; boundary="b"', b""),
        ('multipart/related; boundary="b"', b"no boundary anywhere"),
        ('multipart/related; boundary="b"', b"--b\r\nContent-Type: application/json\r\n\r\n{bad"),
        ('multipart/related; boundary="b"', b"--b--"),
    ],
)
async def test_malformed_multipart_related_upload_is_a_client_error(
    db: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    async with db.put("/db/doc", data=body, headers={"Content-Type": content_type}) as r:
        assert 400 <= r.status < 500, await r.text()
        assert isinstance((await json_of(r))["error"], str)
    async with db.get("/db/doc") as r:
        assert r.status == 404


# --- size limits -----------------------------------------------------------------------------


async def test_standalone_attachment_over_max_attachment_size_is_413(
    small_server: Server,
) -> None:
    async with aiohttp.ClientSession(small_server.url, headers=small_server.auth_headers) as s:
        async with s.put("/db") as r:
            assert r.status == 201
        big = b"x" * (SMALL_ATT_LIMIT * 2)
        async with s.put("/db/doc/big.bin", data=big) as r:
            assert r.status == 413
            assert await json_of(r) == {"error": "attachment_too_large", "reason": "big.bin"}
        async with s.get("/db/doc") as r:
            assert r.status == 404
        async with s.put("/db/doc/ok.bin", data=b"x" * SMALL_ATT_LIMIT) as r:
            assert r.status == 201


async def test_chunked_attachment_over_max_attachment_size_is_413(small_server: Server) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    async with aiohttp.ClientSession(small_server.url, headers=small_server.auth_headers) as s:
        async with s.put("/db") as r:
            assert r.status == 201
        async with s.put("/db/doc/big.bin", data=chunks()) as r:
            assert r.status == 413
            assert (await json_of(r))["error"] in {"attachment_too_large", "too_large"}
        async with s.get("/db/doc") as r:
            assert r.status == 404


async def test_inline_attachment_over_max_attachment_size_is_413(small_server: Server) -> None:
    async with aiohttp.ClientSession(small_server.url, headers=small_server.auth_headers) as s:
        async with s.put("/db") as r:
            assert r.status == 201
        data = base64.b64encode(b"z" * (SMALL_ATT_LIMIT * 2)).decode()
        doc = {"_attachments": {"big.bin": {"content_type": "x/y", "data": data}}}
        async with s.put("/db/doc", json=doc) as r:
            assert r.status == 413
            assert await json_of(r) == {"error": "attachment_too_large", "reason": "big.bin"}


async def test_multipart_attachment_over_max_attachment_size_is_413(small_server: Server) -> None:
    big = b"w" * (SMALL_ATT_LIMIT * 2)
    doc = {
        "_attachments": {"big.bin": {"follows": True, "content_type": "x/y", "length": len(big)}}
    }
    body, ctype = related_body(doc, [("big.bin", "x/y", big, None)])
    async with aiohttp.ClientSession(small_server.url, headers=small_server.auth_headers) as s:
        async with s.put("/db") as r:
            assert r.status == 201
        async with s.put("/db/doc", data=body, headers={"Content-Type": ctype}) as r:
            assert r.status == 413
            assert (await json_of(r))["error"] == "attachment_too_large"
        async with s.get("/db/doc") as r:
            assert r.status == 404


async def test_location_of_a_new_attachment_is_percent_encoded(
    raw: aiohttp.ClientSession,
) -> None:
    # A raw control character in the header dropped the connection (found by the fuzz test).
    async with raw.put(
        "/db/new%20doc/a%1Fb", data=b"x", headers={"Content-Type": "application/octet-stream"}
    ) as r:
        assert r.status == 201
        assert r.headers["Location"] == "/db/new%20doc/a%1Fb"
