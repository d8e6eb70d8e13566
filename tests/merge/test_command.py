"""``brainlink-docs resolve`` and ``sync --resolve``, as a user runs them, against a file and
our server: afterwards no conflict is left on either side and another sync moves nothing."""

from __future__ import annotations

import json
from pathlib import Path

from http_api.conftest import serving
from replication.test_command import run_command, serving_db

from brainlink_docs.merge.clock import Hlc
from brainlink_docs.merge.fields import stamp, state_of, user_fields
from brainlink_docs.store.api import ReadOptions
from brainlink_docs.store.http import HttpStore
from brainlink_docs.store.sqlite import SqliteStore

CONFLICTS = ReadOptions(conflicts=True)


async def make_conflict(store: SqliteStore | HttpStore, doc_id: str) -> None:
    """Two offline edits of one document, grafted as CouchDB's replication would."""
    base = stamp(None, {"a": 1, "b": 1}, Hlc(10, 0, "origin"))
    left = stamp(base, {"a": 2, "b": 1}, Hlc(20, 0, "laptop"))
    right = stamp(base, {"a": 1, "b": 3}, Hlc(15, 0, "desktop"))
    ids = {"base": "a" * 32, "left": "b" * 32, "right": "c" * 32}
    await store.bulk_docs(
        [
            {
                **left,
                "_id": doc_id,
                "_rev": f"2-{ids['left']}",
                "_revisions": {"start": 2, "ids": [ids["left"], ids["base"]]},
            },
            {
                **right,
                "_id": doc_id,
                "_rev": f"2-{ids['right']}",
                "_revisions": {"start": 2, "ids": [ids["right"], ids["base"]]},
            },
        ],
        new_edits=False,
    )


async def device_with_conflict(path: Path, doc_id: str) -> Path:
    """A database file holding one conflicted document (closed again: the command opens it)."""
    store = await SqliteStore.open(path)
    try:
        await make_conflict(store, doc_id)
    finally:
        await store.close()
    return path


async def test_resolve_merges_a_files_conflicts(tmp_path: Path) -> None:
    path = await device_with_conflict(tmp_path / "device.sqlite", "settings")
    code, out, err = await run_command("resolve", str(path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["strategy"], r["ok"]) for r in rows] == [("settings", "fields", True)]
    store = await SqliteStore.open(path)
    try:
        doc = await store.get("settings", options=CONFLICTS)
        assert "_conflicts" not in doc and user_fields(doc) == {"a": 2, "b": 3}
    finally:
        await store.close()
    code, out, _ = await run_command("resolve", str(path))
    assert code == 0 and out == ""
    (tmp_path / "bad.json").write_text("{nope")
    code, out, err = await run_command(
        "resolve", str(path), "--policies", str(tmp_path / "bad.json")
    )
    assert code == 1 and len(err.strip().splitlines()) == 1 and "not valid JSON" in err


async def test_sync_with_resolve_leaves_no_conflict_on_either_side(tmp_path: Path) -> None:
    path = await device_with_conflict(tmp_path / "device.sqlite", "layout")
    async with serving(tmp_path / "server") as server:
        url = f"{server.authed_url}/notes"
        async with serving_db(server.authed_url, "notes"):
            code, out, err = await run_command("sync", str(path), url, "--resolve")
            assert code == 0, err
            answer = json.loads(out)
            revs = {row["rev"] for row in answer["resolved"]}
            assert len(answer["resolved"]) == 2 and len(revs) == 1  # both sides, one revision
            remote = await HttpStore.open(url)
            try:
                doc = await remote.get("layout", options=CONFLICTS)
                assert "_conflicts" not in doc and doc["_rev"] in revs
            finally:
                await remote.close()
            code, out, err = await run_command("sync", str(path), url)
            assert code == 0, err
            again = json.loads(out)
            assert again["push"]["history"][0]["missing_found"] == 0
            assert again["pull"]["history"][0]["missing_found"] == 0


async def test_undo_restores_a_replaced_revision_until_compaction(tmp_path: Path) -> None:
    path = await device_with_conflict(tmp_path / "device.sqlite", "settings")
    code, out, err = await run_command("resolve", str(path))
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    record = f"merge-resolution:settings:{row['rev']}"
    (loser,) = row["losing_revs"]
    store = await SqliteStore.open(path)
    try:
        lost = user_fields(await store.get("settings", loser))
    finally:
        await store.close()
    assert lost in ({"a": 2, "b": 1}, {"a": 1, "b": 3})
    code, out, err = await run_command("resolve", str(path), "--undo", record, "--keep", loser)
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    store = await SqliteStore.open(path)
    try:
        doc = await store.get("settings", options=CONFLICTS)
        assert user_fields(doc) == lost and "_conflicts" not in doc
        assert state_of(doc) is not None  # a stamped edit, like any made through the merger
        await store.compact()
    finally:
        await store.close()
    for undo, extra, expected in (
        (record, ["--keep", "9-" + "f" * 32], "is not a revision"),
        (record, ["--keep", loser], "compacted away"),
        (record, [], "go together"),
        ("merge-resolution:nope", ["--keep", loser], "no resolution record"),
        ("settings", ["--keep", loser], "is not a resolution record"),
    ):
        code, out, err = await run_command("resolve", str(path), "--undo", undo, *extra)
        assert code == 1 and len(err.strip().splitlines()) == 1 and expected in err, err
