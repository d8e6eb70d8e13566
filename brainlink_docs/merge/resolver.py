"""The resolver: finds conflicted documents in any ``DocumentStore`` and writes their merges.

For a document with two or more live leaves: every leaf is read with its history, the policy
of its ``type`` merges them, and ``bulk_docs(new_edits=False)`` writes the merge as a child of
CouchDB's winning leaf and a deletion under every other live leaf, plus a record of what was
merged. Nothing is left in ``_conflicts``. ``resolve_all`` works in batches: the leaves of a
batch of conflicted documents in one ``bulk_get``, all their merges in one ``bulk_docs``.

Every revision id it writes is derived from what it merged (the parent revision, the merged
body, the losing revisions), not minted: two replicas that resolve the same conflict each write
the same revisions, so when they next replicate the trees simply meet, with no new conflict and
no resolution ping-pong; ``new_edits=False`` makes even a real CouchDB keep our ids.

The record (``merge-resolution:<id>:<rev>``, ``type: merge_resolution``) says which revisions
lost and which strategy merged them, so a user can see what happened and restore a loser's body
(kept by the store until compaction). It too has a derived revision, so replicas agree on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brainlink_docs.canonical import canonical_json
from brainlink_docs.errors import NotFound
from brainlink_docs.merge.fields import described_state, state_of
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.revs.ids import parse_rev, path_to_revisions, revisions_to_path
from brainlink_docs.store.api import (
    BulkResult,
    Change,
    ChangesQuery,
    Doc,
    DocumentStore,
    ReadOptions,
    iter_changes,
)

RESOLUTION_TYPE = "merge_resolution"
RESOLUTION_PREFIX = "merge-resolution:"
_LEAVES = ReadOptions(revs=True)


@dataclass(frozen=True, slots=True)
class Resolution:
    """One conflict resolved: the merge written and the leaves it replaced."""

    doc_id: str
    merged_rev: str
    winner_rev: str
    losing_revs: tuple[str, ...]
    strategy: str
    rows: tuple[BulkResult, ...]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)


# Conflicted documents resolved together: their leaves read in one ``bulk_get`` and their
# merges written in one ``bulk_docs`` (two round trips per batch over HTTP, not per document).
RESOLVE_BATCH = 200


async def resolve_all(store: DocumentStore, policies: Policies | None = None) -> list[Resolution]:
    """Resolve every conflicted document of ``store``; answers what was written."""
    done: list[Resolution] = []
    batch: list[Change] = []
    async for change in iter_changes(store, ChangesQuery(style="all_docs")):
        if not may_be_conflicted(change):
            continue
        batch.append(change)
        if len(batch) >= RESOLVE_BATCH:
            done += await resolve_changes(store, batch, policies)
            batch = []
    return done + await resolve_changes(store, batch, policies)


def may_be_conflicted(change: Change) -> bool:
    """Whether an ``all_docs``-style change may need resolving: two leaves or more (some may be
    deleted: resolving looks), and not one of our own records."""
    return len(change.changes) >= 2 and not change.id.startswith(RESOLUTION_PREFIX)


async def resolve(
    store: DocumentStore, doc_id: str, policies: Policies | None = None
) -> Resolution | None:
    """Merge the live leaves of ``doc_id`` (``None`` when it has fewer than two)."""
    found = await store.open_revs(doc_id, None, _LEAVES)
    live = [r["ok"] for r in found if "ok" in r and not r["ok"].get("_deleted")]
    resolutions = await _write(store, [await _plan(store, doc_id, live, policies)])
    return resolutions[0] if resolutions else None


async def resolve_changes(
    store: DocumentStore, changes: Sequence[Change], policies: Policies | None = None
) -> list[Resolution]:
    """Resolve the documents of ``changes`` (``all_docs``-style rows: every leaf revision),
    reading all their leaves in one ``bulk_get`` and writing every merge in one ``bulk_docs``."""
    wanted = [{"id": c.id, "rev": rev} for c in changes for rev in c.changes]
    if not wanted:
        return []
    live: dict[str, list[Doc]] = {}
    for result in await store.bulk_get(wanted, _LEAVES):
        for item in result.get("docs", []):
            doc = item.get("ok")
            if doc is not None and not doc.get("_deleted"):
                live.setdefault(doc["_id"], []).append(doc)
    plans = [await _plan(store, doc_id, leaves, policies) for doc_id, leaves in live.items()]
    return await _write(store, plans)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What resolving one document writes, before it is written."""

    doc_id: str
    winner_rev: str
    losing_revs: tuple[str, ...]
    strategy: str
    docs: list[Doc]


async def _plan(
    store: DocumentStore, doc_id: str, live: Sequence[Doc], policies: Policies | None
) -> _Plan | None:
    if len(live) < 2:
        return None
    winner = max(live, key=_couch_rank)
    policy = (policies or Policies()).for_doc(winner)
    bases = await _bases(store, doc_id, live)
    docs = resolution_docs(doc_id, winner, live, policy.merge(live, bases), policy)
    losers = tuple(sorted(d["_rev"] for d in live if d is not winner))
    return _Plan(doc_id, winner["_rev"], losers, policy.strategy, docs)


async def _write(store: DocumentStore, plans: Sequence[_Plan | None]) -> list[Resolution]:
    """Every plan's documents in one ``bulk_docs(new_edits=False)``; each plan's rows."""
    kept = [plan for plan in plans if plan is not None]
    if not kept:
        return []
    rows = await store.bulk_docs([doc for plan in kept for doc in plan.docs], new_edits=False)
    done, at = [], 0
    for plan in kept:
        mine = tuple(rows[at : at + len(plan.docs)])
        at += len(plan.docs)
        merged_rev = plan.docs[0]["_rev"]
        done.append(
            Resolution(
                plan.doc_id, merged_rev, plan.winner_rev, plan.losing_revs, plan.strategy, mine
            )
        )
    return done


def resolution_docs(
    doc_id: str,
    winner: Mapping[str, Any],
    live: Sequence[Mapping[str, Any]],
    merged: Doc,
    policy: Policy,
) -> list[Doc]:
    """What resolving writes: the merge under the winner, a deletion under each other leaf,
    and the record; every revision id derived from the content (pure, so replicas agree)."""
    losers = sorted((d for d in live if d is not winner), key=lambda d: d["_rev"])
    loser_revs = [d["_rev"] for d in losers]
    merged_doc = _child(winner, {**merged, **_attachments(winner)}, {"losers": loser_revs})
    docs = [merged_doc]
    for loser in losers:
        docs.append(_child(loser, {"_deleted": True}, {"merged_into": merged_doc["_rev"]}))
    record = {
        "type": RESOLUTION_TYPE,
        "doc_id": doc_id,
        "merged_rev": merged_doc["_rev"],
        "winner_rev": winner["_rev"],
        "losing_revs": loser_revs,
        "strategy": policy.strategy,
    }
    record_hash = _hash(canonical_json(record))
    docs.append(
        {
            "_id": f"{RESOLUTION_PREFIX}{doc_id}:{merged_doc['_rev']}",
            "_rev": f"1-{record_hash}",
            "_revisions": {"start": 1, "ids": [record_hash]},
            **record,
        }
    )
    return docs


def _child(parent: Mapping[str, Any], body: Doc, why: Mapping[str, Any]) -> Doc:
    """``body`` as the child revision of ``parent``, its id the hash of all of it."""
    path = revisions_to_path(**parent["_revisions"])
    new_hash = _hash(canonical_json({"parent": parent["_rev"], "body": body, **why}))
    rev = f"{parse_rev(parent['_rev']).pos + 1}-{new_hash}"
    return {
        **body,
        "_id": parent["_id"],
        "_rev": rev,
        "_revisions": path_to_revisions([rev, *path]),
    }


def _attachments(winner: Mapping[str, Any]) -> Doc:
    """The winner's attachments, as stubs of what the store already holds."""
    atts = winner.get("_attachments")
    return {"_attachments": atts} if isinstance(atts, dict) and atts else {}


def _couch_rank(leaf: Mapping[str, Any]) -> tuple[int, str]:
    rev = parse_rev(leaf["_rev"])
    return rev.pos, rev.id


# How far up a plain leaf's history to look for the revision its edits started from (a plain
# client rarely makes more than a few edits in a row between two merges).
MAX_BASE_DEPTH = 16


async def _bases(
    store: DocumentStore, doc_id: str, live: Sequence[Mapping[str, Any]]
) -> dict[str, Doc]:
    """For each leaf with no metadata at all (a client that drops ``$merge``): its nearest
    ancestor with a field state, else the common ancestor of all leaves (whatever it is), when
    the store still has its body. Other leaves need no read: their ``$merge`` suffices."""
    bases: dict[str, Doc] = {}
    paths = [revisions_to_path(**leaf["_revisions"]) for leaf in live]
    shared = set(paths[0]).intersection(*paths[1:])
    for leaf, path in zip(live, paths, strict=True):
        if described_state(leaf) is not None:  # stamped, or a plain edit its $merge describes
            continue
        common = None
        for rev in path[1 : MAX_BASE_DEPTH + 1]:
            body = await _body(store, doc_id, rev)
            if body is not None and state_of(body) is not None:
                bases[leaf["_rev"]] = body
                break
            if common is None and rev in shared:
                common = body
        else:
            if common is not None:
                bases[leaf["_rev"]] = common
    return bases


async def _body(store: DocumentStore, doc_id: str, rev: str) -> Doc | None:
    try:
        return await store.get(doc_id, rev)
    except NotFound:  # compacted away
        return None


def _hash(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
