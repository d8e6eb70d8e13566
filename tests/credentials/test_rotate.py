"""Key rotation on every backend: every sealed value ends under the new key, nothing else moves,
and a stopped rotation finishes by running again."""

from __future__ import annotations

from typing import Any

import pytest

from brainlink_docs.credentials import (
    Key,
    KeyNotLoaded,
    Keyring,
    RotationReport,
    is_sealed,
    open_sealed,
    rotate_key,
    seal,
)
from brainlink_docs.store.api import AllDocsQuery, DocumentStore, ReadOptions

OLD = Key(bytes(range(32)))
NEW = Key(bytes(range(32, 64)))
USER = "0b7e2d4c-0000-4000-8000-000000000001"


def integration(n: int, key: Key = OLD) -> dict[str, Any]:
    doc_id = f"u/{USER}/integration/{n:04d}"
    return {
        "_id": doc_id,
        "type": "integration",
        "schemaVersion": 1,
        "provider": "github",
        "kind": "oauth",
        "credentials": seal(key, doc_id, f"gho_token-{n}"),
        "metadata": {
            "scopes": ["repo"],
            # sealed values at depth, in objects and lists
            "refresh": [{"token": seal(key, doc_id, f"refresh-{n}")}, "not secret"],
        },
    }


def plain(n: int) -> dict[str, Any]:
    return {"_id": f"u/{USER}/panel/{n:04d}", "type": "panel", "title": f"panel {n}"}


def sealed_values(value: Any) -> list[dict[str, str]]:
    if is_sealed(value):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if not k.startswith("_") for s in sealed_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in sealed_values(v)]
    return []


async def everything(store: DocumentStore) -> dict[str, dict[str, Any]]:
    page = await store.all_docs(AllDocsQuery(include_docs=True))
    return {row["id"]: row["doc"] for row in page.rows}


async def assert_all_under_new_key(store: DocumentStore, expected_plaintexts: set[str]) -> None:
    only_new = Keyring([NEW])
    found = set()
    for doc_id, doc in (await everything(store)).items():
        for value in sealed_values(doc):
            assert value["kid"] == NEW.kid
            found.add(open_sealed(only_new, doc_id, value).reveal())
    assert found == expected_plaintexts


def plaintexts(ns: range) -> set[str]:
    return {f"gho_token-{n}" for n in ns} | {f"refresh-{n}" for n in ns}


async def test_every_sealed_value_is_resealed_and_nothing_else_moves(
    store: DocumentStore,
) -> None:
    await store.bulk_docs([integration(n) for n in range(7)] + [plain(n) for n in range(4)])
    before = await everything(store)
    report = await rotate_key(store, Keyring([OLD]), NEW, batch=3)
    assert report.to_json() == {
        "ok": True,
        "kid": NEW.kid,
        "docs_scanned": 11,
        "docs_written": 7,
        "values_resealed": 14,
        "values_current": 0,
        "conflicts": [],
        "failures": [],
    }
    after = await everything(store)
    for n in range(4):  # documents without secrets are not written
        assert after[plain(n)["_id"]] == before[plain(n)["_id"]]
    for n in range(7):
        doc_id = integration(n)["_id"]
        assert after[doc_id]["_rev"].startswith("2-")
        # the rest of the document is as it was
        assert after[doc_id]["metadata"]["refresh"][1] == "not secret"
        assert after[doc_id]["provider"] == "github"
        # a fresh nonce, not the old one
        assert after[doc_id]["credentials"]["iv"] != before[doc_id]["credentials"]["iv"]
    await assert_all_under_new_key(store, plaintexts(range(7)))


async def test_a_document_s_attachments_survive_its_rotation(store: DocumentStore) -> None:
    doc = integration(0)
    result = await store.put(doc)
    await store.put_attachment(doc["_id"], "avatar.png", b"\x89PNG...", "image/png", result.rev)
    report = await rotate_key(store, Keyring([OLD]), NEW)
    assert report.ok and report.docs_written == 1
    after = await store.get(doc["_id"])
    assert after["_rev"].startswith("3-")
    assert after["credentials"]["kid"] == NEW.kid
    attachment = await store.get_attachment(doc["_id"], "avatar.png")
    assert attachment.data == b"\x89PNG..."


async def test_a_finished_rotation_run_again_writes_nothing(store: DocumentStore) -> None:
    await store.bulk_docs([integration(n) for n in range(3)])
    await rotate_key(store, Keyring([OLD]), NEW)
    again = await rotate_key(store, Keyring([OLD]), NEW)
    assert (again.docs_written, again.values_resealed, again.values_current) == (0, 0, 6)
    assert again.ok


class Stopped(Exception):
    """What a crash after the first page looks like to the rotation."""


async def test_a_stopped_rotation_finishes_when_run_again(store: DocumentStore) -> None:
    await store.bulk_docs([integration(n) for n in range(10)] + [plain(n) for n in range(2)])
    seen: list[RotationReport] = []

    def crash_after_first_page(report: RotationReport) -> None:
        seen.append(report)
        raise Stopped

    with pytest.raises(Stopped):
        await rotate_key(store, Keyring([OLD]), NEW, batch=4, progress=crash_after_first_page)
    first = seen[0]
    assert first.docs_written == 4 and first.values_resealed == 8
    # half-rotated: the new key's values and the old key's side by side
    kids = {v["kid"] for doc in (await everything(store)).values() for v in sealed_values(doc)}
    assert kids == {OLD.kid, NEW.kid}

    resumed = await rotate_key(store, Keyring([OLD, NEW]), NEW, batch=4)
    assert resumed.ok
    assert resumed.values_current == 8  # the first run's, left alone
    assert resumed.values_resealed == 12
    assert resumed.docs_written == 6
    await assert_all_under_new_key(store, plaintexts(range(10)))


async def test_a_value_whose_key_is_not_loaded_is_reported_and_left_alone(
    store: DocumentStore,
) -> None:
    stranger = Key(bytes(32))
    await store.bulk_docs([integration(0), integration(1, key=stranger), integration(2)])
    report = await rotate_key(store, Keyring([OLD]), NEW)
    assert not report.ok
    assert report.docs_written == 2
    [failure] = report.failures
    assert failure.id == integration(1)["_id"]
    assert failure.reason == f"sealed with key {stranger.kid}, which is not loaded"
    left = await store.get(failure.id)
    assert left["_rev"].startswith("1-")
    assert left["credentials"]["kid"] == stranger.kid
    with pytest.raises(KeyNotLoaded):
        open_sealed(Keyring([NEW]), failure.id, left["credentials"])


async def test_the_losing_leaves_of_a_conflict_are_resealed_too(store: DocumentStore) -> None:
    """A conflict resolved after the rotation must not bring back a value only the old key
    opens."""
    doc = integration(0)
    leaves = [
        {**doc, "_rev": "1-" + "a" * 32, "credentials": seal(OLD, doc["_id"], "leaf-a")},
        {**doc, "_rev": "1-" + "b" * 32, "credentials": seal(OLD, doc["_id"], "leaf-b")},
    ]
    await store.bulk_docs(leaves, new_edits=False)
    report = await rotate_key(store, Keyring([OLD]), NEW)
    assert report.ok, report.to_json()
    assert report.docs_written == 2
    assert report.values_resealed == 4
    opened = set()
    for leaf in await store.open_revs(doc["_id"], None, ReadOptions()):
        body = leaf["ok"]
        assert body["_rev"].startswith("2-")
        for value in sealed_values(body):
            opened.add(open_sealed(Keyring([NEW]), doc["_id"], value).reveal())
    assert opened == {"leaf-a", "leaf-b", "refresh-0"}
