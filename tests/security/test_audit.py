"""The audit log's pure parts: which writes are watched, what entry a committed row makes, and
ids that sort as times do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import Forbidden
from brainlink_docs.models.audit import AuditLogEntry
from brainlink_docs.security.audit import AppendOnlyView, Audited, Writer, audit_entry, timestamp
from brainlink_docs.security.audited import ABSENT, Prior, classify, replicated_rev, watches
from brainlink_docs.store.api import BulkResult
from brainlink_docs.store.sqlite import SqliteStore

TYPES = frozenset({"integration", "apiKey", "permission", "user"})
OK = BulkResult("d", "2-b")


@pytest.mark.parametrize(
    ("doc", "new_edits", "watched"),
    [
        ({"_id": "d", "type": "apiKey"}, True, True),
        ({"type": "apiKey"}, True, True),  # POST: the id comes from the store
        ({"_id": "d", "type": "note"}, True, False),  # a new ordinary document: no read
        ({"_id": "d", "_rev": "1-a", "type": "note"}, True, True),  # may replace a sensitive one
        ({"_id": "d", "_rev": "1-a", "_deleted": True}, True, True),
        ({"_id": "_local/d", "_rev": "0-1", "type": "apiKey"}, True, False),
        ({"_id": "d", "_rev": "1-a", "type": "note"}, False, False),
        ({"_id": "d", "_rev": "2-a", "_deleted": True}, False, True),  # a replicated tombstone
        ({"_id": "d", "_rev": "1-a", "type": "user"}, False, True),
        ("not a document", True, False),
    ],
)
def test_watches_what_may_be_a_sensitive_write(doc: object, new_edits: bool, watched: bool) -> None:
    assert watches(doc, new_edits, TYPES) is watched


NEW = {"_id": "d"}
EDIT = {"_id": "d", "_rev": "1-a"}
GONE = {"_id": "d", "_rev": "1-a", "_deleted": True}
LIVE_KEY, LIVE_NOTE = Prior(True, "apiKey"), Prior(True, "note")


@pytest.mark.parametrize(
    ("doc", "prior", "new_edits", "expected"),
    [
        ({**NEW, "type": "apiKey"}, None, True, ("create", "apiKey")),
        ({**EDIT, "type": "apiKey"}, LIVE_KEY, True, ("update", "apiKey")),
        ({**EDIT, "type": "apiKey"}, ABSENT, True, ("create", "apiKey")),  # on a tombstone
        (GONE, LIVE_KEY, True, ("delete", "apiKey")),
        ({**EDIT, "type": "note"}, LIVE_KEY, True, ("update", "apiKey")),  # type changed away
        ({**EDIT, "type": "note"}, LIVE_NOTE, True, None),
        (GONE, ABSENT, True, None),
        ({**EDIT, "type": "user"}, None, False, ("replicate", "user")),
        ({**GONE, "_rev": "2-b"}, LIVE_KEY, False, ("replicate", "apiKey")),
        ({**GONE, "_rev": "2-b"}, LIVE_NOTE, False, None),
    ],
)
def test_classify_names_the_action_and_the_sensitive_type(
    doc: dict[str, object],
    prior: Prior | None,
    new_edits: bool,
    expected: tuple[str, str] | None,
) -> None:
    written = classify(doc, OK, prior, new_edits, TYPES)
    if expected is None:
        assert written is None
    else:
        assert written == Audited(*expected, "d", "2-b")


def test_a_failed_row_is_never_an_entry() -> None:
    failed = BulkResult("d", error="conflict", reason="Document update conflict.")
    assert classify({"_id": "d", "type": "apiKey"}, failed, None, True, TYPES) is None


def test_replicated_rev_reads_rev_or_revisions() -> None:
    assert replicated_rev({"_rev": "3-c"}) == "3-c"
    assert replicated_rev({"_revisions": {"start": 4, "ids": ["d", "c"]}}) == "4-d"
    assert replicated_rev({}) is None


def test_entry_has_the_shape_of_entities_md() -> None:
    writer = Writer("ana", "10.0.0.1", "app/1")
    when = "2026-12-04T15:41:58.123Z"
    entry = audit_entry(
        writer, Audited("update", "apiKey", "u/ana/apiKey/1", "2-b"), "db", when, "00ff"
    )
    assert entry == {
        "_id": f"{when}-00ff",
        "type": "auditLogEntry",
        "schemaVersion": 1,
        "id": "00ff",
        "createdAt": when,
        "userId": "ana",
        "action": "update",
        "resourceType": "apiKey",
        "resourceId": "u/ana/apiKey/1",
        "database": "db",
        "rev": "2-b",
        "timestamp": when,
        "ipAddress": "10.0.0.1",
        "userAgent": "app/1",
    }
    model = AuditLogEntry.from_body(entry)
    assert model.doc_id() == entry["_id"]
    assert model.to_doc() == entry  # nothing the model does not know, nothing it lacks


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
moments = st.integers(min_value=0, max_value=10**15).map(
    lambda us: EPOCH + timedelta(microseconds=us)
)


@given(moments, moments)
def test_timestamps_sort_as_the_times_do(a: datetime, b: datetime) -> None:
    if a <= b:
        assert timestamp(a) <= timestamp(b)
    if b - a >= timedelta(milliseconds=1):
        assert timestamp(a) < timestamp(b)
    assert len(timestamp(a)) == len(timestamp(b))


async def test_the_append_only_view_refuses_every_write(tmp_path: Path) -> None:
    """Behind the routes' own refusal: a route added later still cannot write ``_audit``."""
    store = await SqliteStore.open(tmp_path / "_audit.sqlite")
    try:
        await store.put({"_id": "e", "type": "auditLogEntry"})
        view = AppendOnlyView(store)
        writes = [
            view.put({"_id": "x"}),
            view.delete("e", "1-a"),
            view.bulk_docs([{"_id": "x"}]),
            view.bulk_docs([{"_id": "x", "_rev": "1-a"}], new_edits=False),
            view.put_attachment("e", "a", b"x", "text/plain", None),
            view.delete_attachment("e", "a", "1-a"),
            view.purge({"e": ["1-a"]}),
            view.set_security({}),
            view.set_revs_limit(5),
        ]
        for write in writes:
            with pytest.raises(Forbidden, match="append-only"):
                await write
        assert (await view.get("e"))["type"] == "auditLogEntry"
        assert (await view.info()).doc_count == 1
    finally:
        await store.close()
