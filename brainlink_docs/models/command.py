"""``brainlink-docs push-design DB`` and ``brainlink-docs migrate DB``: the entities' design
documents installed, and every document brought to the current schema (a progress bar on a
terminal, ``rich``'s, as the replicate command's; a JSON report on stdout)."""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from brainlink_docs.errors import CouchError
from brainlink_docs.models.design import push_design
from brainlink_docs.models.migrate import MigrationReport, migrate_store
from brainlink_docs.store.endpoints import open_endpoint


async def run_push_design(args: argparse.Namespace) -> int:
    try:
        store = await open_endpoint(args.db, create=args.create)
        try:
            written = await push_design(store)
        finally:
            await store.close()
    except CouchError as exc:
        sys.stderr.write(f"brainlink-docs push-design: {exc.reason} ({exc.status} {exc.error})\n")
        return 1
    sys.stdout.write(orjson.dumps({"ok": True, "written": written}).decode() + "\n")
    return 0


async def run_migrate(args: argparse.Namespace) -> int:
    bar = Progress(
        TextColumn("migrating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[migrated]} migrated"),
        disable=not sys.stderr.isatty(),
        transient=True,
    )
    task = bar.add_task("migrate", total=None, migrated=0)

    def progress(report: MigrationReport, total: int) -> None:
        bar.update(task, completed=report.scanned, total=total, migrated=report.migrated)

    try:
        store = await open_endpoint(args.db)
        try:
            with bar:
                report = await migrate_store(store, batch=args.batch_size, progress=progress)
        finally:
            await store.close()
    except CouchError as exc:
        sys.stderr.write(f"brainlink-docs migrate: {exc.reason} ({exc.status} {exc.error})\n")
        return 1
    sys.stdout.write(orjson.dumps(report.to_json()).decode() + "\n")
    return 0
