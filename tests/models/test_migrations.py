"""Migration laws: every entity's code version is its migrations' last step; upgrading is
idempotent, composable and deterministic; and two devices migrating the same documents write
the same revisions, so syncing them adds no conflict."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.models import ENTITIES, MIGRATIONS, Migration, Migrations, load
from brainlink_docs.models.migrate import migrate_store
from brainlink_docs.replication.sync import sync
from brainlink_docs.store.api import AllDocsQuery, ChangesQuery
from brainlink_docs.store.sqlite import SqliteStore

from .strategies import entities, entity_bodies


def old_body(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as a version 1 client wrote it (what each migration's step undoes)."""
    body = {**orjson.loads(orjson.dumps(doc)), "schemaVersion": 1}
    if body["type"] == "userSettings" and body.get("theme") == "system":
        body["theme"] = "auto"
    tokens = (body.get("metadata") or {}).get("tokens")
    if body["type"] == "chatMessage" and isinstance(tokens, dict):
        tokens.pop("total", None)
    return body


old_docs = entities.map(lambda e: old_body(e.to_doc()))


def test_every_entity_is_written_at_its_last_migration() -> None:
    for name, cls in ENTITIES.items():
        assert MIGRATIONS.current(name) == cls.SCHEMA_VERSION, name


@given(old_docs)
def test_upgrading_is_idempotent_and_reads_as_the_model(doc: dict[str, Any]) -> None:
    once = MIGRATIONS.upgrade(doc)
    assert MIGRATIONS.upgrade(once) == once
    assert not MIGRATIONS.needs(once)
    assert once["schemaVersion"] == ENTITIES[doc["type"]].SCHEMA_VERSION
    assert load(once).to_doc() == {**once, **load(once).to_doc()}  # nothing the model drops


@given(old_docs)
def test_upgrading_leaves_the_original_alone(doc: dict[str, Any]) -> None:
    before = orjson.dumps(doc)
    MIGRATIONS.upgrade(doc)
    assert orjson.dumps(doc) == before


@given(old_docs)
def test_migrated_messages_count_their_tokens(doc: dict[str, Any]) -> None:
    tokens = (MIGRATIONS.upgrade(doc).get("metadata") or {}).get("tokens")
    if doc["type"] == "chatMessage" and isinstance(tokens, dict):
        parts = [tokens.get("prompt"), tokens.get("completion")]
        if any(p is not None for p in parts):
            assert tokens["total"] == sum(p or 0 for p in parts)


def chain(length: int) -> Migrations:
    """A registry of ``length`` steps for workspaces, each a function of what the last wrote."""
    registry = Migrations()
    for version in range(2, length + 2):
        registry.register(
            Migration(
                "workspace",
                version,
                lambda b, v=version: {**b, f"f{v}": b.get(f"f{v - 1}", 0) * 2 + v},
                f"step {version}",
            )
        )
    return registry


@given(entity_bodies("workspace"), st.integers(1, 6), st.data())
def test_migrations_compose(body: dict[str, Any], length: int, data: st.DataObject) -> None:
    registry = chain(length)
    doc = {**body, "schemaVersion": 1}
    middle = data.draw(st.integers(1, length + 1))
    assert registry.upgrade(registry.upgrade(doc, to=middle)) == registry.upgrade(doc)
    assert registry.upgrade(doc)["schemaVersion"] == length + 1


def test_a_document_newer_than_the_code_is_left_alone() -> None:
    doc = {"_id": "u/a/workspace/w", "type": "workspace", "schemaVersion": 99, "name": "x"}
    assert not MIGRATIONS.needs(doc)
    assert MIGRATIONS.upgrade(doc) == doc


@settings(max_examples=25)  # two stores and two syncs per example
@given(st.lists(old_docs, min_size=1, max_size=8, unique_by=lambda d: d["_id"]))
async def test_two_devices_migrating_alike_make_no_conflict(docs: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a = await SqliteStore.open(Path(tmp) / "a.sqlite")
        b = await SqliteStore.open(Path(tmp) / "b.sqlite")
        try:
            await a.bulk_docs(docs)
            await sync(a, b)
            first = await migrate_store(a)
            second = await migrate_store(b)
            assert first.migrated == second.migrated == sum(MIGRATIONS.needs(d) for d in docs)
            await sync(a, b)
            for store in (a, b):
                feed = await store.changes(ChangesQuery(style="all_docs"))
                assert all(len(c.changes) == 1 for c in feed.results)  # one leaf each
                again = await migrate_store(store)
                assert again.migrated == 0
            rows_a = (await a.all_docs(AllDocsQuery())).rows
            rows_b = (await b.all_docs(AllDocsQuery())).rows
            assert rows_a == rows_b
        finally:
            await a.close()
            await b.close()


def test_the_migrate_command(tmp_path: Path) -> None:
    async def seed() -> None:
        store = await SqliteStore.open(tmp_path / "db.sqlite")
        await store.bulk_docs(
            [
                {
                    "_id": "u/a/settings",
                    "type": "userSettings",
                    "id": "a",
                    "userId": "a",
                    "theme": "auto",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "updatedAt": "2026-01-01T00:00:00.000Z",
                },
                {"_id": "plain", "theme": "auto"},
            ]
        )
        await store.close()

    asyncio.run(seed())
    run = [sys.executable, "-m", "brainlink_docs.cli", "migrate", str(tmp_path / "db.sqlite")]
    out = subprocess.run(run, check=True, capture_output=True, text=True, timeout=60).stdout
    assert orjson.loads(out) == {"scanned": 2, "migrated": 1, "conflicts": 0}
    out = subprocess.run(run, check=True, capture_output=True, text=True, timeout=60).stdout
    assert orjson.loads(out)["migrated"] == 0
