"""``brainlink-docs rotate-key`` and ``new-key``: key files in, a JSON report out.

``rotate-key DB --old-key-file F [--old-key-file F2] --new-key-file N`` opens DB as ``replicate``
opens its ends (an ``http(s)://`` URL or a database file that must exist), re-seals every sealed
value under the new key with a progress bar on a terminal (``rich``, on stderr, as replicate's),
and prints the ``RotationReport`` as JSON. Exit status 0 when every value is under the new key,
1 when some document needs another run (a conflict) or does not open (named in the report), and
a one-line message on stderr, never a traceback, for a bad key file or an unreachable database.
``new-key FILE`` writes a fresh key (0600) and prints its ``kid``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn
from rich.progress import Progress as ProgressBar

from brainlink_docs.credentials.errors import CredentialError
from brainlink_docs.credentials.keys import Keyring, generate_key_file, load_key_file
from brainlink_docs.credentials.rotate import OnProgress, RotationReport, rotate_key
from brainlink_docs.errors import CouchError
from brainlink_docs.store.endpoints import open_endpoint


async def run_rotate_key(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        sys.stderr.write("brainlink-docs rotate-key: --batch-size must be at least 1\n")
        return 2
    try:
        keyring = Keyring(load_key_file(path) for path in args.old_key_file)
        new_key = load_key_file(args.new_key_file)
        store = await open_endpoint(args.db, ca_file=args.ca_file)
    except (CredentialError, CouchError) as exc:
        return _failed("rotate-key", exc)
    try:
        with _progress_bar() as on_progress:
            report = await rotate_key(
                store, keyring, new_key, batch=args.batch_size, progress=on_progress
            )
    except CouchError as exc:
        return _failed("rotate-key", exc)
    finally:
        await store.close()
    _print_json(report.to_json())
    if report.conflicts:
        sys.stderr.write(
            f"brainlink-docs rotate-key: {len(report.conflicts)} documents changed meanwhile; "
            "run again to finish\n"
        )
    for failure in report.failures:
        sys.stderr.write(f"not rotated: {failure.id}: {failure.reason}\n")
    return 0 if report.ok else 1


def run_new_key(args: argparse.Namespace) -> int:
    try:
        key = generate_key_file(args.file)
    except CredentialError as exc:
        return _failed("new-key", exc)
    _print_json({"ok": True, "kid": key.kid, "file": str(args.file)})
    return 0


def _failed(command: str, exc: CredentialError | CouchError) -> int:
    detail = f" ({exc.status} {exc.error})" if isinstance(exc, CouchError) else ""
    sys.stderr.write(f"brainlink-docs {command}: {exc.reason}{detail}\n")
    return 1


def _print_json(answer: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextlib.contextmanager
def _progress_bar() -> Iterator[OnProgress]:
    """Documents scanned against the database's document count, on stderr (a terminal only)."""
    bar = ProgressBar(
        TextColumn("rotating"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[resealed]} re-sealed"),
        console=Console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )
    task = bar.add_task("rotating", total=None, resealed=0)

    def on_progress(report: RotationReport) -> None:
        # The count is from before the walk: documents written meanwhile may pass it.
        total = report.docs_total
        if total is not None:
            total = max(total, report.docs_scanned)
        bar.update(
            task, completed=report.docs_scanned, total=total, resealed=report.values_resealed
        )

    with bar:
        yield on_progress
