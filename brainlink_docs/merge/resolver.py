"""The resolver: finds conflicted documents in any ``DocumentStore`` and writes their merges.

For a document with two or more live leaves: every leaf is read with its history, the policy
of its ``type`` merges them (a leaf a plain client wrote, without clocks, against the revision
its edits started from, when the store still has it), and
one ``bulk_docs(new_edits=False)`` writes the merge as a child of CouchDB's winning leaf and a
deletion under every other live leaf, plus a record of what was merged. Nothing is left in
``_conflicts``.

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
from brainlink_docs.merge.fields import state_of
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.revs.ids import parse_rev, path_to_revisions, revisions_to_path
from brainlink_docs.store.api import (
    BulkResult,
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


async def resolve_all(store: DocumentStore, policies: Policies | None = None) -> list[Resolution]:
    """Resolve every conflicted document of ``store``; answers what was written."""
    policies = policies or Policies()
    done: list[Resolution] = []
    async for change in iter_changes(store, ChangesQuery(style="all_docs")):
        if len(change.changes) < 2 or change.id.startswith(RESOLUTION_PREFIX):
            continue
        resolution = await resolve(store, change.id, policies)
        if resolution is not None:
            done.append(resolution)
    return done


async def resolve(
    store: DocumentStore, doc_id: str, policies: Policies | None = None
) -> Resolution | None:
    """Merge the live leaves of ``doc_id`` (``None`` when it has fewer than two)."""
    found = await store.open_revs(doc_id, None, _LEAVES)
    live = [r["ok"] for r in found if "ok" in r and not r["ok"].get("_deleted")]
    if len(live) < 2:
        return None
    winner = max(live, key=_couch_rank)
    policy = (policies or Policies()).for_doc(winner)
    bases = await _bases(store, doc_id, live)
    docs = resolution_docs(doc_id, winner, live, policy.merge(live, bases), policy)
    rows = await store.bulk_docs(docs, new_edits=False)
    losers = tuple(sorted(d["_rev"] for d in live if d is not winner))
    return Resolution(doc_id, docs[0]["_rev"], winner["_rev"], losers, policy.strategy, tuple(rows))


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
    """For each leaf without clocks: its nearest ancestor with a field state, else the common
    ancestor of all leaves (whatever it is), when the store still has its body."""
    bases: dict[str, Doc] = {}
    paths = [revisions_to_path(**leaf["_revisions"]) for leaf in live]
    shared = set(paths[0]).intersection(*paths[1:])
    for leaf, path in zip(live, paths, strict=True):
        if state_of(leaf) is not None:
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
