"""``migrate_store``: every document of a store brought to the current schema, in batches.

Reads ``_all_docs`` page by page (``store.api.all_docs_pages``), writes the documents
``Migrations.upgrade`` changes with one ``bulk_docs`` per page, to the store as given — not
through the merger's ``StampingStore``: a migrated body must be the same on every device (no
clock of this device in it), so two devices migrating the same revision write the same revision
id and replicating both adds nothing. A document someone edited meanwhile is a conflict row,
counted and left for the next run (it is migrated on read anyway). Running again after an
interruption finishes the job: what is migrated is skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from brainlink_docs.models.migrations import MIGRATIONS, Migrations
from brainlink_docs.store.api import AllDocsQuery, DocumentStore, all_docs_pages

BATCH = 500


@dataclass(slots=True)
class MigrationReport:
    scanned: int = 0
    migrated: int = 0
    conflicts: int = 0

    def to_json(self) -> dict[str, int]:
        return {"scanned": self.scanned, "migrated": self.migrated, "conflicts": self.conflicts}


async def migrate_store(
    store: DocumentStore,
    migrations: Migrations = MIGRATIONS,
    *,
    batch: int = BATCH,
    progress: Callable[[MigrationReport, int], None] | None = None,
) -> MigrationReport:
    """Migrate every document; ``progress(report, total)`` after each batch."""
    total = (await store.info()).doc_count
    report = MigrationReport()
    async for rows in all_docs_pages(store, AllDocsQuery(include_docs=True), batch):
        docs = [r["doc"] for r in rows if r.get("doc")]
        report.scanned += len(docs)
        upgraded = migrations.pending(docs)
        if upgraded:
            for result in await store.bulk_docs(upgraded):
                report.migrated += result.ok
                report.conflicts += result.error == "conflict"
        if progress is not None:
            progress(report, total)
    return report
