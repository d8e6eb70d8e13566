"""Contract: attachments (inline ``_attachments``, stubs, and the attachment calls).

CouchDB (``couch_att``): inline ``data`` is base64; reads return stubs
``{content_type, digest: "md5-<base64>", length, revpos, stub: true}`` unless ``attachments``
asks for data; ``atts_since`` inlines only attachments newer than the newest listed ancestor
(``couch_db:apply_open_options``). Sending a stub back keeps the attachment as it was
(``couch_doc:merge_stubs``); a stub naming an attachment that does not exist is 412
``missing_stub``. Leaving ``_attachments`` out of an update removes them.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from brainlink_docs import errors
from brainlink_docs.store.api import (
    AllDocsQuery,
    ChangesQuery,
    DocumentStore,
    ReadOptions,
)

from .helpers import BIN, gen, inline

# Binary like ``BIN``: CouchDB may gzip text/* types on disk; these it stores as sent.
PNG = "image/png"
DATA = bytes(range(256)) * 4
OTHER = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 100


def digest(data: bytes) -> str:
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def stub(data: bytes, revpos: int, content_type: str = BIN) -> dict[str, Any]:
    return {
        "content_type": content_type,
        "digest": digest(data),
        "length": len(data),
        "revpos": revpos,
        "stub": True,
    }


async def put_with(store: DocumentStore, doc_id: str = "d", **atts: bytes) -> str:
    result = await store.put(
        {"_id": doc_id, "v": 1, "_attachments": {name: inline(data) for name, data in atts.items()}}
    )
    assert result.rev is not None
    return result.rev


# --- inline writes and stub reads ---------------------------------------------------------------


async def test_reads_return_stubs(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    doc = await store.get("d")
    assert doc["_attachments"] == {"a.bin": stub(DATA, 1)}
    assert doc["v"] == 1


async def test_attachments_option_inlines_data(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    doc = await store.get("d", options=ReadOptions(attachments=True))
    att = doc["_attachments"]["a.bin"]
    assert base64.b64decode(att["data"]) == DATA
    assert att["content_type"] == BIN
    assert att["digest"] == digest(DATA)
    assert att["revpos"] == 1
    assert "stub" not in att


async def test_get_attachment_returns_bytes_and_metadata(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    att = await store.get_attachment("d", "a.bin")
    assert att.name == "a.bin"
    assert att.data == DATA
    assert att.content_type == BIN
    assert att.digest == digest(DATA)
    assert att.revpos == 1


async def test_text_attachments_round_trip(store: DocumentStore) -> None:
    text = ("hello attachment \u00e9\n" * 200).encode()
    await store.put({"_id": "t", "_attachments": {"t.txt": inline(text, "text/plain")}})
    att = await store.get_attachment("t", "t.txt")
    assert att.data == text
    assert att.content_type == "text/plain"
    doc = await store.get("t", options=ReadOptions(attachments=True))
    assert base64.b64decode(doc["_attachments"]["t.txt"]["data"]) == text
    assert (await store.get("t"))["_attachments"]["t.txt"]["length"] == len(text)


async def test_empty_attachment_round_trips(store: DocumentStore) -> None:
    await put_with(store, **{"empty": b""})
    assert (await store.get_attachment("d", "empty")).data == b""
    assert (await store.get("d"))["_attachments"]["empty"]["length"] == 0


async def test_several_attachments_on_one_doc(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA, "b.png": OTHER})
    doc = await store.get("d")
    assert set(doc["_attachments"]) == {"a.bin", "b.png"}
    assert (await store.get_attachment("d", "b.png")).data == OTHER


async def test_docs_without_attachments_have_no_attachments_member(store: DocumentStore) -> None:
    await store.put({"_id": "plain"})
    assert "_attachments" not in await store.get("plain")
    assert "_attachments" not in await store.get("plain", options=ReadOptions(attachments=True))


# --- updates ------------------------------------------------------------------------------------


async def test_sending_stubs_back_keeps_the_attachment(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    doc = await store.get("d")
    doc["v"] = 2
    result = await store.put(doc)
    assert result.rev is not None
    again = await store.get("d")
    assert again["v"] == 2
    assert again["_attachments"] == {"a.bin": stub(DATA, 1)}
    assert (await store.get_attachment("d", "a.bin")).data == DATA


async def test_minimal_stub_keeps_the_attachment(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    await store.put({"_id": "d", "_rev": rev, "_attachments": {"a.bin": {"stub": True}}})
    assert (await store.get("d"))["_attachments"] == {"a.bin": stub(DATA, 1)}


async def test_leaving_attachments_out_removes_them(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    new = await store.put({"_id": "d", "_rev": rev, "v": 2})
    assert "_attachments" not in await store.get("d")
    with pytest.raises(errors.NotFound):
        await store.get_attachment("d", "a.bin")
    # The old revision still has it until compaction.
    assert (await store.get_attachment("d", "a.bin", rev=rev)).data == DATA
    assert new.rev != rev


async def test_replacing_inline_data_bumps_revpos(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA, "keep.png": OTHER})
    doc = await store.get("d")
    doc["_attachments"]["a.bin"] = inline(OTHER, PNG)
    result = await store.put({**doc, "_rev": rev})
    assert result.rev is not None
    atts = (await store.get("d"))["_attachments"]
    assert atts["a.bin"] == stub(OTHER, 2, PNG)
    assert atts["keep.png"] == stub(OTHER, 1)


async def test_a_stub_for_a_missing_attachment_is_rejected(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    with pytest.raises((errors.PreconditionFailed, errors.BadRequest)):
        await store.put(
            {"_id": "d", "_rev": rev, "_attachments": {"nope": stub(DATA, 1)}, "v": "x"}
        )
    doc = await store.get("d")
    assert doc["_rev"] == rev
    assert doc["v"] == 1


async def test_a_stub_on_a_new_doc_is_rejected(store: DocumentStore) -> None:
    with pytest.raises((errors.PreconditionFailed, errors.BadRequest)):
        await store.put({"_id": "new", "_attachments": {"a.bin": stub(DATA, 1)}})
    with pytest.raises(errors.NotFound):
        await store.get("new")


@pytest.mark.parametrize("new_edits", [True, False])
async def test_missing_stub_in_bulk_docs_fails_the_batch(
    store: DocumentStore, new_edits: bool
) -> None:
    # fabric_doc_update throws on {missing_stub, _}: 412 for the whole request, nothing written.
    fine: dict[str, Any] = {"_id": "fine"}
    doc: dict[str, Any] = {"_id": "new", "_attachments": {"a.bin": stub(DATA, 1)}}
    if not new_edits:
        fine["_rev"], doc["_rev"] = "1-" + "f" * 32, "2-" + "a" * 32
    with pytest.raises(errors.PreconditionFailed) as info:
        await store.bulk_docs([fine, doc], new_edits=new_edits)
    assert info.value.error == "missing_stub"
    assert (await store.all_docs()).rows == []


async def test_invalid_base64_is_a_bad_request(store: DocumentStore) -> None:
    with pytest.raises(errors.BadRequest):
        await store.put(
            {"_id": "d", "_attachments": {"a": {"content_type": BIN, "data": "!!not base64!!"}}}
        )


async def test_attachment_names_may_not_start_with_underscore(store: DocumentStore) -> None:
    with pytest.raises(errors.BadRequest):
        await store.put({"_id": "d", "_attachments": {"_bad": inline(DATA)}})


# --- put_attachment / delete_attachment ---------------------------------------------------------


async def test_put_attachment_adds_a_revision(store: DocumentStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    assert first.rev is not None
    result = await store.put_attachment("d", "a.bin", DATA, BIN, first.rev)
    assert result.ok
    assert result.rev is not None
    assert gen(result.rev) == 2
    doc = await store.get("d")
    assert doc["_rev"] == result.rev
    assert doc["v"] == 1
    assert doc["_attachments"] == {"a.bin": stub(DATA, 2)}


async def test_put_attachment_without_rev_creates_the_doc(store: DocumentStore) -> None:
    result = await store.put_attachment("new", "a.bin", DATA, BIN, None)
    assert result.rev is not None
    assert gen(result.rev) == 1
    doc = await store.get("new")
    assert doc == {"_id": "new", "_rev": result.rev, "_attachments": {"a.bin": stub(DATA, 1)}}


async def test_put_attachment_without_rev_on_an_existing_doc_is_a_conflict(
    store: DocumentStore,
) -> None:
    await store.put({"_id": "d"})
    with pytest.raises(errors.Conflict):
        await store.put_attachment("d", "a.bin", DATA, BIN, None)


async def test_put_attachment_with_a_stale_rev_is_a_conflict(store: DocumentStore) -> None:
    first = await store.put({"_id": "d"})
    assert first.rev is not None
    await store.put({"_id": "d", "_rev": first.rev})
    with pytest.raises(errors.Conflict):
        await store.put_attachment("d", "a.bin", DATA, BIN, first.rev)
    assert "_attachments" not in await store.get("d")


async def test_put_attachment_replaces_one_and_keeps_the_others(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA, "b.png": OTHER})
    result = await store.put_attachment("d", "a.bin", OTHER, PNG, rev)
    assert result.rev is not None
    atts = (await store.get("d"))["_attachments"]
    assert atts == {"a.bin": stub(OTHER, 2, PNG), "b.png": stub(OTHER, 1)}
    assert (await store.get_attachment("d", "a.bin")).data == OTHER
    assert (await store.get_attachment("d", "a.bin", rev=rev)).data == DATA


async def test_delete_attachment_adds_a_revision_without_it(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA, "b.png": OTHER})
    result = await store.delete_attachment("d", "a.bin", rev)
    assert result.rev is not None
    assert gen(result.rev) == 2
    doc = await store.get("d")
    assert doc["_attachments"] == {"b.png": stub(OTHER, 1)}
    assert doc["v"] == 1
    with pytest.raises(errors.NotFound):
        await store.get_attachment("d", "a.bin")


async def test_delete_attachment_with_a_stale_rev_is_a_conflict(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    await store.put_attachment("d", "b.bin", OTHER, BIN, rev)
    with pytest.raises(errors.Conflict):
        await store.delete_attachment("d", "a.bin", rev)
    assert (await store.get_attachment("d", "a.bin")).data == DATA


async def test_get_attachment_of_a_missing_name_or_doc_is_not_found(
    store: DocumentStore,
) -> None:
    await put_with(store, **{"a.bin": DATA})
    with pytest.raises(errors.NotFound):
        await store.get_attachment("d", "nope")
    with pytest.raises(errors.NotFound):
        await store.get_attachment("nope", "a.bin")


async def test_get_attachment_of_a_deleted_doc_is_not_found(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    await store.delete("d", rev)
    with pytest.raises(errors.NotFound):
        await store.get_attachment("d", "a.bin")


# --- atts_since ---------------------------------------------------------------------------------


async def test_atts_since_inlines_only_newer_attachments(store: DocumentStore) -> None:
    rev1 = await put_with(store, **{"old.bin": DATA})
    rev2 = (await store.put_attachment("d", "new.png", OTHER, PNG, rev1)).rev
    assert rev2 is not None
    doc = await store.get("d", options=ReadOptions(attachments=True, atts_since=(rev1,)))
    atts = doc["_attachments"]
    assert atts["old.bin"] == stub(DATA, 1)
    assert base64.b64decode(atts["new.png"]["data"]) == OTHER
    assert "stub" not in atts["new.png"]


async def test_atts_since_the_current_rev_inlines_nothing(store: DocumentStore) -> None:
    rev1 = await put_with(store, **{"old.bin": DATA})
    rev2 = (await store.put_attachment("d", "new.png", OTHER, PNG, rev1)).rev
    assert rev2 is not None
    doc = await store.get("d", options=ReadOptions(attachments=True, atts_since=(rev2,)))
    assert all(att.get("stub") is True for att in doc["_attachments"].values())


async def test_atts_since_unknown_revs_inlines_everything(store: DocumentStore) -> None:
    await put_with(store, **{"old.bin": DATA})
    doc = await store.get("d", options=ReadOptions(attachments=True, atts_since=("1-" + "f" * 32,)))
    assert base64.b64decode(doc["_attachments"]["old.bin"]["data"]) == DATA


# --- attachments elsewhere ----------------------------------------------------------------------


async def test_all_docs_and_changes_include_stubs(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    page = await store.all_docs(AllDocsQuery(include_docs=True))
    assert page.rows[0]["doc"]["_attachments"] == {"a.bin": stub(DATA, 1)}
    (change,) = (await store.changes(ChangesQuery(include_docs=True))).results
    assert change.doc is not None
    assert change.doc["_attachments"] == {"a.bin": stub(DATA, 1)}


async def test_all_docs_and_changes_inline_when_asked(store: DocumentStore) -> None:
    await put_with(store, **{"a.bin": DATA})
    page = await store.all_docs(AllDocsQuery(include_docs=True, attachments=True))
    assert base64.b64decode(page.rows[0]["doc"]["_attachments"]["a.bin"]["data"]) == DATA
    query = ChangesQuery(include_docs=True, attachments=True)
    (change,) = (await store.changes(query)).results
    assert change.doc is not None
    assert base64.b64decode(change.doc["_attachments"]["a.bin"]["data"]) == DATA


async def test_bulk_get_inlines_attachments_when_asked(store: DocumentStore) -> None:
    rev = await put_with(store, **{"a.bin": DATA})
    (entry,) = await store.bulk_get([{"id": "d", "rev": rev}], ReadOptions(attachments=True))
    att = entry["docs"][0]["ok"]["_attachments"]["a.bin"]
    assert base64.b64decode(att["data"]) == DATA


async def test_same_bytes_have_the_same_digest_everywhere(store: DocumentStore) -> None:
    await put_with(store, "x", **{"one": DATA})
    await store.put_attachment("y", "two", DATA, BIN, None)
    x = await store.get_attachment("x", "one")
    y = await store.get_attachment("y", "two")
    assert x.digest == y.digest == digest(DATA)


# --- the replication write path -----------------------------------------------------------------


async def test_replicated_revision_with_inline_attachment(store: DocumentStore) -> None:
    doc = {
        "_id": "r",
        "_rev": "2-" + "b" * 32,
        "_revisions": {"start": 2, "ids": ["b" * 32, "a" * 32]},
        "_attachments": {"a.bin": {**inline(DATA), "revpos": 1}},
    }
    results = await store.bulk_docs([doc], new_edits=False)
    assert all(r.ok for r in results)
    att = await store.get_attachment("r", "a.bin")
    assert att.data == DATA
    assert att.revpos == 1
    assert (await store.get("r"))["_attachments"] == {"a.bin": stub(DATA, 1)}


async def test_replicated_revision_may_stub_an_attachment_the_target_has(
    store: DocumentStore,
) -> None:
    # The replicator sends only attachments newer than the target's revs (atts_since) and
    # stubs for the rest; the stubs resolve against the parent revision.
    rev1 = await put_with(store, **{"a.bin": DATA})
    child = "2-" + "c" * 32
    doc = {
        "_id": "d",
        "_rev": child,
        "_revisions": {"start": 2, "ids": ["c" * 32, rev1.split("-", 1)[1]]},
        "v": 2,
        "_attachments": {"a.bin": stub(DATA, 1), "b.png": {**inline(OTHER, PNG), "revpos": 2}},
    }
    results = await store.bulk_docs([doc], new_edits=False)
    assert all(r.ok for r in results)
    read = await store.get("d")
    assert read["_rev"] == child
    assert read["_attachments"] == {"a.bin": stub(DATA, 1), "b.png": stub(OTHER, 2, PNG)}
    assert (await store.get_attachment("d", "a.bin")).data == DATA
