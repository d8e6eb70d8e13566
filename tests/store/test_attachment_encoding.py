"""Contract: attachments are kept as they arrive, with CouchDB's encodings and digests.

- A compressible type written in clear is stored gzipped (``[attachments]`` defaults: level 8),
  its digest the MD5 of the gzip bytes, ``length`` the clear size; ``att_encoding_info`` adds
  ``encoding``/``encoded_length`` (``couch_att``).
- ``ReadOptions(follows=True)`` reads each attachment's stored bytes (``data`` as ``bytes``);
  a document read so and written with ``new_edits=False`` to another store keeps every digest.
- Raw gzip bytes written with ``encoding: gzip`` are kept as they are with their digest (a
  level-1 gzip keeps its level-1 digest); a digest that is not the bytes' is refused
  (``content_md5_mismatch``), and so are bytes that are not gzip.

pouchdb-server stores attachments in clear with the MD5 of the clear bytes (PouchDB's own
rule): the tests of CouchDB's encoding say so and skip there.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from conftest import StoreFactory

from brainlink_docs import errors
from brainlink_docs.store.api import DocumentStore, ReadOptions

from .helpers import BIN, COUCHDB, backend, gzip_at, inline, md5_digest, replicated, rev

TEXT = b"one line of a chat message, compressible. " * 60
BINARY = bytes(range(256)) * 3
FOLLOWS = ReadOptions(attachments=True, follows=True, revs=True)
ENCODING_INFO = ReadOptions(att_encoding_info=True)


@pytest.fixture
def pouchdb(request: pytest.FixtureRequest) -> bool:
    return "pouchdb" in backend(request)


@pytest.fixture
def on_couchdb(request: pytest.FixtureRequest) -> bool:
    return backend(request) == COUCHDB


def couchdb_encoding_only(pouchdb: bool) -> None:
    if pouchdb:
        pytest.skip("pouchdb-server stores attachments in clear, digest of the clear bytes")


async def put_both(store: DocumentStore, doc_id: str = "d") -> str:
    result = await store.put(
        {
            "_id": doc_id,
            "_attachments": {"t.txt": inline(TEXT, "text/plain"), "b.bin": inline(BINARY, BIN)},
        }
    )
    assert result.rev is not None
    return result.rev


async def test_compressible_types_are_stored_gzipped_with_couchdbs_digest(
    store: DocumentStore, pouchdb: bool
) -> None:
    couchdb_encoding_only(pouchdb)
    await put_both(store)
    atts = (await store.get("d", options=ENCODING_INFO))["_attachments"]
    assert atts["t.txt"] == {
        "content_type": "text/plain",
        "revpos": 1,
        "digest": md5_digest(gzip_at(TEXT, 8)),
        "length": len(TEXT),
        "stub": True,
        "encoding": "gzip",
        "encoded_length": len(gzip_at(TEXT, 8)),
    }
    assert atts["b.bin"]["digest"] == md5_digest(BINARY)
    assert "encoding" not in atts["b.bin"]
    plain = (await store.get("d"))["_attachments"]["t.txt"]
    assert "encoding" not in plain
    assert (await store.get_attachment("d", "t.txt")).data == TEXT


async def test_follows_reads_the_stored_bytes(store: DocumentStore, pouchdb: bool) -> None:
    await put_both(store)
    atts = (await store.get("d", options=FOLLOWS))["_attachments"]
    for spec in atts.values():
        assert spec["follows"] is True
        assert isinstance(spec["data"], bytes)
    text = atts["t.txt"]
    clear = text["data"] if pouchdb else zlib.decompress(text["data"], 16 + zlib.MAX_WBITS)
    assert clear == TEXT
    assert atts["b.bin"]["data"] == BINARY
    if not pouchdb:
        assert text["encoding"] == "gzip"
        assert text["encoded_length"] == len(text["data"])


async def test_follows_reads_respect_atts_since(store: DocumentStore, pouchdb: bool) -> None:
    if pouchdb:
        pytest.skip("pouchdb-server inlines every attachment whatever atts_since says")
    first = await put_both(store)
    doc = await store.get("d")
    doc["_attachments"]["new.bin"] = inline(b"added later", BIN)
    await store.put(doc)
    options = ReadOptions(attachments=True, follows=True, atts_since=(first,))
    atts = (await store.get("d", options=options))["_attachments"]
    assert atts["t.txt"]["stub"] is True
    assert "data" not in atts["t.txt"]
    assert atts["new.bin"]["data"] == b"added later"


async def test_documents_read_with_follows_replicate_with_every_digest(
    store_factory: StoreFactory, pouchdb: bool
) -> None:
    if pouchdb:
        pytest.skip(
            "pouchdb-server gives attachments written with new_edits=false the revision's "
            "generation as revpos, whatever revpos they carry"
        )
    source = await store_factory("source")
    target = await store_factory("target")
    await put_both(source)
    doc = await source.get("d")
    doc["note"] = "edited"
    await source.put(doc)
    answers = await source.open_revs("d", None, FOLLOWS)
    results = await target.bulk_docs([a["ok"] for a in answers], new_edits=False)
    assert all(r.ok for r in results), results
    assert await target.get("d", options=ENCODING_INFO) == await source.get(
        "d", options=ENCODING_INFO
    )
    for name, data in (("t.txt", TEXT), ("b.bin", BINARY)):
        assert (await target.get_attachment("d", name)).data == data


@pytest.mark.parametrize("level", [1, 9])
async def test_gzip_bytes_from_a_peer_keep_their_digest(
    store: DocumentStore, pouchdb: bool, level: int
) -> None:
    couchdb_encoding_only(pouchdb)
    gz = gzip_at(TEXT, level)
    spec: dict[str, Any] = {
        "content_type": "text/plain",
        "revpos": 1,
        "digest": md5_digest(gz),
        "length": len(TEXT),
        "encoding": "gzip",
        "data": gz,
    }
    doc = replicated("p", [rev(1, "a")], _attachments={"t.txt": spec})
    (result,) = await store.bulk_docs([doc], new_edits=False)
    assert result.ok, result
    stub = (await store.get("p", options=ENCODING_INFO))["_attachments"]["t.txt"]
    assert stub["digest"] == md5_digest(gz)
    assert stub["encoded_length"] == len(gz)
    assert stub["length"] == len(TEXT)
    att = await store.get_attachment("p", "t.txt")
    assert att.data == TEXT
    assert att.digest == md5_digest(gz)


async def test_raw_bytes_with_a_digest_not_theirs_fail_the_batch(
    store: DocumentStore, pouchdb: bool, on_couchdb: bool
) -> None:
    """``couch_util:check_md5`` refuses the write (only conflicts are rows): nothing of the batch
    is written."""
    couchdb_encoding_only(pouchdb)
    for encoding, data in (("gzip", gzip_at(TEXT, 8)), (None, BINARY)):
        spec: dict[str, Any] = {
            "content_type": "text/plain" if encoding else BIN,
            "revpos": 1,
            "digest": md5_digest(b"other bytes"),
            "data": data,
        }
        if encoding:
            spec["encoding"] = encoding
        fine = replicated("fine", [rev(1, "f")])
        doc = replicated("m", [rev(1, "a")], _attachments={"a": spec})
        if on_couchdb and encoding:
            # Departure: CouchDB 3.5 crashes on it (500 function_clause); we answer its own 400.
            with pytest.raises(errors.Unavailable, match="function_clause"):
                await store.bulk_docs([fine, doc], new_edits=False)
            continue
        with pytest.raises(errors.BadRequest) as refused:
            await store.bulk_docs([fine, doc], new_edits=False)
        assert (refused.value.error, refused.value.reason) == (
            "content_md5_mismatch",
            "Possible message corruption.",
        )
    assert (await store.all_docs()).rows == []


async def test_bytes_said_to_be_gzip_that_are_not_fail_the_batch(
    store: DocumentStore, pouchdb: bool, on_couchdb: bool
) -> None:
    couchdb_encoding_only(pouchdb)
    spec = {"content_type": "text/plain", "revpos": 1, "encoding": "gzip", "data": b"plain"}
    doc = replicated("z", [rev(1, "a")], _attachments={"t.txt": spec})
    if on_couchdb:
        # Departure: CouchDB 3.5 stores such bytes unchecked, and then cannot serve them in
        # clear; we refuse them on write.
        (result,) = await store.bulk_docs([doc], new_edits=False)
        assert result.ok
        return
    with pytest.raises(errors.BadRequest):
        await store.bulk_docs([doc], new_edits=False)
    assert (await store.all_docs()).rows == []


async def test_a_grafted_attachment_with_revpos_0_is_sent_unless_atts_since_covers_it(
    store: DocumentStore, pouchdb: bool
) -> None:
    """A replicator may graft an attachment with revpos 0 (``couch_att`` gives inline data
    without revpos that); reads with attachments must still send it (CouchDB's replicator
    died with ``missing_stub`` when we sent a stub), and ``atts_since`` stubs it as CouchDB
    does (revpos 0 is never newer than an ancestor)."""
    if pouchdb:
        pytest.skip("pouchdb-server gives such an attachment the revision's generation")
    doc = replicated("g", [rev(1, "a"), rev(2, "b")], _attachments={"g.bin": inline(BINARY, BIN)})
    (result,) = await store.bulk_docs([doc], new_edits=False)
    assert result.ok, result
    stub = (await store.get("g"))["_attachments"]["g.bin"]
    assert stub["revpos"] == 0
    for options in (ReadOptions(attachments=True), FOLLOWS):
        sent = (await store.get("g", options=options))["_attachments"]["g.bin"]
        assert "stub" not in sent
    covered = ReadOptions(attachments=True, atts_since=(rev(1, "a"),))
    assert (await store.get("g", options=covered))["_attachments"]["g.bin"]["stub"] is True
