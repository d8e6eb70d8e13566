"""Attachments kept as they arrive: the same requests to the real CouchDB and to our server.

CouchDB stores compressible types (``[attachments] compressible_types``) gzipped at
``compression_level`` and makes the digest the MD5 of the gzip bytes; it reports ``encoding`` and
``encoded_length`` on ``att_encoding_info=true``; it sends gzip bytes to clients that accept them
(and in multipart answers, ``Content-Encoding: gzip`` parts) and clear bytes to the others; it
serves no ranges of a gzipped attachment; and a replicated gzip attachment keeps the bytes and
digest it came with. Every test runs one script against both servers and compares what they
answer, revision ids aside (ours are deterministic hashes of our own, CouchDB's are its own).
"""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from couch import CouchServer
from store.helpers import gzip_at, md5_digest

from brainlink_docs.multipart import boundary_of, split_parts

from .conftest import serving
from .test_attachments import related_body

TEXT = b"The quick brown fox jumps over the lazy dog. " * 40
JSON_BODY = orjson.dumps({"items": list(range(200))})
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
# name -> (content type, bytes): compressible and not, tiny, empty, parameters and odd case.
ATTACHMENTS = {
    "note.txt": ("text/plain", TEXT),
    "tiny.txt": ("text/plain", b"hi"),
    "empty.txt": ("text/plain", b""),
    "data.json": ("application/json; charset=utf-8", JSON_BODY),
    "page.html": ("TEXT/HTML", b"<p>" + TEXT + b"</p>"),
    "app.js": ("application/javascript", b"console.log(1);\n" * 30),
    "pic.png": ("image/png", PNG),
    "blob": ("application/octet-stream", bytes(range(256)) * 2),
}


@dataclass
class Peer:
    """One server under test, reached with admin credentials, raw bytes (no auto-gunzip)."""

    name: str
    http: aiohttp.ClientSession
    db: str

    def url(self, path: str) -> str:
        return f"/{self.db}/{path}" if path else f"/{self.db}"


Script = Callable[[Peer], Awaitable[Any]]


@pytest.fixture
async def peers(couchdb: CouchServer, tmp_path: Path) -> AsyncIterator[list[Peer]]:
    async with serving(tmp_path / "ours") as ours:
        found = []
        async with RawSessions(
            [(couchdb.bare_url, couchdb.auth), (ours.url, (ours.admin, ours.password))]
        ) as sessions:
            for name, http in zip(("couchdb", "ours"), sessions, strict=True):
                db = f"att-enc-{uuid.uuid4().hex[:12]}"
                async with http.put(f"/{db}") as r:
                    assert r.status == 201, await r.text()
                found.append(Peer(name, http, db))
            try:
                yield found
            finally:
                for peer in found:
                    async with peer.http.delete(f"/{peer.db}"):
                        pass


class RawSessions:
    """Several raw aiohttp sessions (basic auth, no auto decompression) opened and closed
    together."""

    def __init__(self, targets: list[tuple[str, tuple[str, str]]]) -> None:
        self._targets = targets
        self._sessions: list[aiohttp.ClientSession] = []

    async def __aenter__(self) -> list[aiohttp.ClientSession]:
        for url, (user, password) in self._targets:
            self._sessions.append(
                aiohttp.ClientSession(
                    url,
                    auth=None,
                    headers={"Authorization": aiohttp.encode_basic_auth(user, password)},
                    auto_decompress=False,
                    skip_auto_headers=("Accept-Encoding",),
                )
            )
        return self._sessions

    async def __aexit__(self, *exc: object) -> None:
        for session in self._sessions:
            await session.close()


async def both(peers: list[Peer], script: Script) -> Any:
    """Run ``script`` on each peer; assert the answers are equal; return ours."""
    answers = {peer.name: await script(peer) for peer in peers}
    assert answers["ours"] == answers["couchdb"]
    return answers["ours"]


async def put_json(peer: Peer, path: str, body: Any, *, expect: int = 201) -> Any:
    async with peer.http.put(peer.url(path), data=orjson.dumps(body), headers=_JSON) as r:
        answer = await r.json(content_type=None)
        assert r.status == expect, answer
        return answer


_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


async def build_doc(peer: Peer, doc_id: str = "d") -> list[str]:
    """A document whose attachments arrive one revision at a time by standalone PUTs (so
    revpos grows); answers its revisions, oldest first."""
    revs = [(await put_json(peer, doc_id, {"kind": "note"}))["rev"]]
    for name, (content_type, data) in ATTACHMENTS.items():
        async with peer.http.put(
            peer.url(f"{doc_id}/{name}"),
            params={"rev": revs[-1]},
            data=data,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        ) as r:
            assert r.status == 201, await r.text()
            revs.append((await r.json())["rev"])
    return revs


async def get_json(peer: Peer, path: str, **params: str) -> Any:
    async with peer.http.get(peer.url(path), params=params, headers=_JSON) as r:
        assert r.status == 200, await r.text()
        return await r.json(content_type=None)


def attachments_of(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["_attachments"])


# --- what is stored ----------------------------------------------------------------------------


async def test_stubs_report_couchdbs_digests_lengths_and_encodings(peers: list[Peer]) -> None:
    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        plain = attachments_of(await get_json(peer, "d"))
        encoded = attachments_of(await get_json(peer, "d", att_encoding_info="true"))
        return plain, encoded

    plain, encoded = await both(peers, script)
    assert encoded["note.txt"]["encoding"] == "gzip"
    assert encoded["note.txt"]["digest"] == md5_digest(gzip_at(TEXT, 8))
    assert "encoding" not in encoded["pic.png"]
    assert "encoding" not in plain["note.txt"]


async def test_inline_base64_writes_are_stored_as_couchdb_stores_them(peers: list[Peer]) -> None:
    def spec(content_type: str, data: bytes) -> dict[str, Any]:
        return {"content_type": content_type, "data": base64.b64encode(data).decode()}

    async def script(peer: Peer) -> Any:
        atts = {name: spec(*value) for name, value in ATTACHMENTS.items()}
        await put_json(peer, "inline", {"_attachments": atts})
        return attachments_of(await get_json(peer, "inline", att_encoding_info="true"))

    await both(peers, script)


async def test_json_reads_inline_clear_bytes_with_encoding_info(peers: list[Peer]) -> None:
    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        with_info = await get_json(peer, "d", attachments="true", att_encoding_info="true")
        without = await get_json(peer, "d", attachments="true")
        return attachments_of(with_info), attachments_of(without)

    with_info, without = await both(peers, script)
    assert base64.b64decode(with_info["note.txt"]["data"]) == TEXT
    assert "encoding" not in without["note.txt"]


# --- attachment reads --------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "gzip", "identity", "gzip;q=0", "*", "deflate, gzip"])
@pytest.mark.parametrize("range_", [None, "bytes=0-9", "bytes=-5", "bytes=2000-3000", "bytes=9-3"])
async def test_attachment_get_answers_as_couchdb(
    peers: list[Peer], accept: str | None, range_: str | None
) -> None:
    headers = {} if accept is None else {"Accept-Encoding": accept}
    if range_ is not None:
        headers["Range"] = range_

    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        seen = {}
        for name in ATTACHMENTS:
            async with peer.http.get(peer.url(f"d/{name}"), headers=headers) as r:
                seen[name] = (
                    r.status,
                    r.headers.get("Content-Type"),
                    r.headers.get("Content-Encoding"),
                    r.headers.get("Accept-Ranges"),
                    r.headers.get("Content-Range"),
                    r.headers.get("ETag"),
                    await r.read(),
                )
        return seen

    await both(peers, script)


async def test_if_none_match_on_a_gzipped_attachment_is_304(peers: list[Peer]) -> None:
    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        async with peer.http.get(peer.url("d/note.txt")) as r:
            tag = r.headers["ETag"]
        async with peer.http.get(peer.url("d/note.txt"), headers={"If-None-Match": tag}) as r:
            return r.status, await r.read()

    assert await both(peers, script) == (304, b"")


# --- multipart answers (what CouchDB's replicator reads) ---------------------------------------


def _parts(content_type: str, body: bytes) -> list[Any]:
    """A multipart body as comparable data: headers that matter, JSON without revision ids,
    attachment bytes; nested parts recursively."""
    boundary = boundary_of(content_type)
    assert boundary is not None, content_type
    out: list[Any] = []
    for headers, payload in split_parts(body, boundary):
        kind = headers.get("content-type", "")
        if "content-disposition" in headers:
            kept = {k: v for k, v in headers.items() if k != "content-disposition"}
            out.append(("attachment", kept, headers["content-disposition"], payload))
        elif kind.startswith("multipart/"):
            out.append(("multipart", kind.split(";")[0], _parts(kind, payload)))
        else:
            out.append(("json", kind.replace(" ", ""), _without_revs(orjson.loads(payload))))
    return out


def _without_revs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_revs(v)
            for k, v in value.items()
            if k not in ("_rev", "rev", "_revisions", "missing")
        }
    if isinstance(value, list):
        return [_without_revs(v) for v in value]
    return value


async def test_open_revs_multipart_sends_stored_bytes_as_couchdb(peers: list[Peer]) -> None:
    """``GET doc?open_revs=...`` as CouchDB's replicator sends it (``Accept: multipart/mixed``,
    no ``attachments=true``): every attachment follows, gzip ones as gzip parts. This is the
    request whose stubs made CouchDB's replicator die with ``missing_stub``."""

    async def script(peer: Peer) -> Any:
        revs = await build_doc(peer)
        answers = []
        for params in (
            {"open_revs": orjson.dumps([revs[-1]]).decode(), "revs": "true", "latest": "true"},
            {"open_revs": "all"},
            {
                "open_revs": orjson.dumps([revs[-1]]).decode(),
                "atts_since": orjson.dumps([revs[3]]).decode(),
            },
        ):
            async with peer.http.get(
                peer.url("d"), params=params, headers={"Accept": "multipart/mixed"}
            ) as r:
                assert r.status == 200, await r.text()
                answers.append(_parts(r.headers["Content-Type"], await r.read()))
        return answers

    answers = await both(peers, script)
    ((_, _, nested),) = answers[0]
    json_part = nested[0][2]
    assert json_part["_attachments"]["note.txt"]["follows"] is True
    gz = next(p for p in nested[1:] if p[2] == 'attachment; filename="note.txt"')
    assert gz[1]["content-encoding"] == "gzip"
    assert zlib.decompress(gz[3], 16 + zlib.MAX_WBITS) == TEXT


async def test_doc_with_attachments_as_multipart_related(peers: list[Peer]) -> None:
    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        async with peer.http.get(
            peer.url("d"), params={"attachments": "true"}, headers={"Accept": "multipart/related"}
        ) as r:
            assert r.status == 200, await r.text()
            return _parts(r.headers["Content-Type"], await r.read())

    await both(peers, script)


async def test_bulk_get_multipart_matches_couchdb(peers: list[Peer]) -> None:
    async def script(peer: Peer) -> Any:
        await build_doc(peer)
        await put_json(peer, "plain", {"x": 1})
        body = {"docs": [{"id": "d"}, {"id": "plain"}, {"id": "nope"}]}
        async with peer.http.post(
            peer.url("_bulk_get"),
            params={"attachments": "true", "revs": "true"},
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json", "Accept": "multipart/mixed"},
        ) as r:
            assert r.status == 200, await r.text()
            return _parts(r.headers["Content-Type"], await r.read())

    await both(peers, script)


# --- replicated writes -------------------------------------------------------------------------


def gzip_text_upload(doc: dict[str, Any], gz: bytes, digest: str, *, revpos: int) -> Any:
    """``doc`` with ``TEXT`` as the gzip attachment ``t.txt``, as CouchDB's replicator PUTs it."""
    spec = {
        "content_type": "text/plain",
        "revpos": revpos,
        "digest": digest,
        "length": len(TEXT),
        "follows": True,
        "encoding": "gzip",
        "encoded_length": len(gz),
    }
    part = ("t.txt", "text/plain", gz, "gzip")
    return related_body({**doc, "_attachments": {"t.txt": spec}}, [part])


async def put_replicated(peer: Peer, doc_id: str, upload: tuple[bytes, str]) -> Any:
    """PUT a ``multipart/related`` upload with ``new_edits=false``: (status, JSON answer)."""
    body, content_type = upload
    async with peer.http.put(
        peer.url(doc_id),
        params={"new_edits": "false"},
        data=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
    ) as r:
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize("level", [1, 8, 9])
async def test_a_replicated_gzip_attachment_keeps_its_bytes_and_digest(
    peers: list[Peer], level: int
) -> None:
    """What CouchDB's replicator PUTs: gzip bytes compressed elsewhere (any level), with their
    digest. Both servers keep them; a level-1 gzip keeps its own digest, not a level-8 one."""
    gz = gzip_at(TEXT, level)
    doc = {
        "_id": "r",
        "_rev": "2-" + "b" * 32,
        "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
    }
    upload = gzip_text_upload(doc, gz, md5_digest(gz), revpos=2)

    async def script(peer: Peer) -> Any:
        status, answer = await put_replicated(peer, "r", upload)
        assert status == 201, answer
        stub = attachments_of(await get_json(peer, "r", att_encoding_info="true"))
        async with peer.http.get(peer.url("r/t.txt"), headers={"Accept-Encoding": "gzip"}) as r:
            stored = await r.read()
        async with peer.http.get(peer.url("r/t.txt")) as r:
            clear = await r.read()
        return stub, stored, clear

    stub, stored, clear = await both(peers, script)
    assert stub["t.txt"]["digest"] == md5_digest(gz)
    assert stored == gz
    assert clear == TEXT


async def test_a_replicated_attachment_with_a_wrong_digest_is_refused(peers: list[Peer]) -> None:
    """CouchDB refuses it with a 500 (``function_clause``); ours with CouchDB's own
    ``content_md5_mismatch`` 400 (a documented departure: no 500 for a client's mistake).
    Either way nothing is stored."""
    gz = gzip_at(TEXT, 8)
    doc = {"_id": "bad", "_rev": "1-" + "c" * 32}
    upload = gzip_text_upload(doc, gz, md5_digest(b"something else"), revpos=1)
    statuses = {}
    for peer in peers:
        statuses[peer.name] = await put_replicated(peer, "bad", upload)
        async with peer.http.get(peer.url("bad"), headers=_JSON) as r:
            assert r.status == 404
    assert statuses["couchdb"][0] >= 400
    assert statuses["ours"] == (
        400,
        {"error": "content_md5_mismatch", "reason": "Possible message corruption."},
    )


async def test_replicated_inline_attachment_without_revpos_gets_revpos_0(
    peers: list[Peer],
) -> None:
    async def script(peer: Peer) -> Any:
        doc = {
            "_id": "i",
            "_rev": "3-" + "d" * 32,
            "_attachments": {
                "a.txt": {"content_type": "text/plain", "data": base64.b64encode(TEXT).decode()}
            },
        }
        async with peer.http.post(
            peer.url("_bulk_docs"),
            data=orjson.dumps({"docs": [doc], "new_edits": False}),
            headers=_JSON,
        ) as r:
            assert r.status == 201, await r.text()
        return attachments_of(await get_json(peer, "i", att_encoding_info="true"))

    await both(peers, script)


# --- configuration -----------------------------------------------------------------------------


async def _set_couch_config(couchdb: CouchServer, key: str, value: str | None) -> str | None:
    """Set (or delete, for None) ``[attachments] key`` on the real CouchDB; answers the old
    value."""
    user, password = couchdb.auth
    auth = {"Authorization": aiohttp.encode_basic_auth(user, password)}
    url = f"{couchdb.bare_url}/_node/_local/_config/attachments/{key}"
    async with aiohttp.ClientSession(headers=auth) as http:
        if value is None:
            async with http.delete(url) as r:
                return str(await r.json()) if r.status == 200 else None
        async with http.put(url, data=orjson.dumps(value)) as r:
            assert r.status == 200, await r.text()
            old = await r.json()
            return old if isinstance(old, str) and old else None


@pytest.mark.parametrize(
    ("key", "value", "setting"),
    [
        ("compression_level", "0", {"compression_level": 0}),
        ("compression_level", "1", {"compression_level": 1}),
        ("compressible_types", "image/*", {"compressible_types": "image/*"}),
    ],
)
async def test_attachments_settings_as_couchdb(
    couchdb: CouchServer, tmp_path: Path, key: str, value: str, setting: dict[str, Any]
) -> None:
    old = await _set_couch_config(couchdb, key, value)
    try:
        async with serving(tmp_path / "ours", **setting) as ours:
            targets = [(couchdb.bare_url, couchdb.auth), (ours.url, (ours.admin, ours.password))]
            async with RawSessions(targets) as sessions:
                peers = []
                for name, http in zip(("couchdb", "ours"), sessions, strict=True):
                    db = f"att-cfg-{uuid.uuid4().hex[:12]}"
                    async with http.put(f"/{db}") as r:
                        assert r.status == 201
                    peers.append(Peer(name, http, db))
                try:

                    async def script(peer: Peer) -> Any:
                        await build_doc(peer)
                        return attachments_of(await get_json(peer, "d", att_encoding_info="true"))

                    await both(peers, script)
                finally:
                    for peer in peers:
                        async with peer.http.delete(f"/{peer.db}"):
                            pass
    finally:
        await _set_couch_config(couchdb, key, old)
