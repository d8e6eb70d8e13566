"""``brainlink-docs resolve DB`` and the ``--resolve`` of ``replicate``/``sync``: merge the
conflicted documents of a database by the policies given (a JSON file) or the default."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest, CouchError
from brainlink_docs.merge.policies import Policies
from brainlink_docs.merge.resolver import Resolution, resolve_all
from brainlink_docs.merge.sources import load_policies
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.merge.undo import undo
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint


async def run_resolve(args: argparse.Namespace) -> int:
    try:
        if args.undo is not None or args.keep is not None:
            return await _run_undo(args)
        policies = load_policies(args.policies)
        store = await open_endpoint(args.db)
        try:
            resolutions = await resolve_and_report(store, policies)
        finally:
            await store.close()
    except CouchError as exc:
        sys.stderr.write(f"brainlink-docs resolve: {exc.reason} ({exc.status} {exc.error})\n")
        return 1
    return 0 if all(r.ok for r in resolutions) else 1


async def _run_undo(args: argparse.Namespace) -> int:
    """``--undo RECORD --keep REV``: that revision's body restored, as a stamped edit."""
    if args.undo is None or args.keep is None:
        raise BadRequest("--undo RECORD and --keep REV go together")
    store = await open_endpoint(args.db)
    try:
        result = await undo(StampingStore(store, args.replica), args.undo, args.keep)
    finally:
        await store.close()
    sys.stdout.write(orjson.dumps(result.to_json()).decode() + "\n")
    return 0


async def resolve_and_report(store: DocumentStore, policies: Policies) -> list[Resolution]:
    """Resolve ``store``'s conflicts, printing one JSON line per document."""
    resolutions = await resolve_all(store, policies)
    for line in map(resolution_row, resolutions):
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return resolutions


def resolution_row(r: Resolution) -> dict[str, Any]:
    return {
        "id": r.doc_id,
        "rev": r.merged_rev,
        "losing_revs": list(r.losing_revs),
        "strategy": r.strategy,
        "ok": r.ok,
    }
