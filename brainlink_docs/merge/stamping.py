"""``StampingStore``: any ``DocumentStore`` whose edits carry the merger's clocks.

Each edit (``put``, ``bulk_docs`` with new edits) is stamped with a new hybrid logical clock of
this replica: after the replica's last clock and after the clock of the revision being edited
(read from the store in one ``bulk_get`` per batch), so an edit made after another was seen
wins over it whatever the wall clocks say. Unchanged fields keep their clocks (``fields.stamp``);
the lists of records the document type's policy keys by ``id`` are stamped record by record.
An edit of a conflicted document's counters (CRDT ``counter`` fields of its policy) is rebased
on the merge of every live leaf's counter: the replica's own earlier increments may sit in a
losing leaf, and an increment on the winner's stale entry would be lost to the per-replica
maximum when the conflict is resolved.
Replicated writes (``new_edits=False``) and deletions pass through as they are: they are someone
else's edits, already stamped (or plain, which the merger handles). So do ``_local`` and
``_design`` documents (a replicator's checkpoints, code): only data is merged field by field.
Reads pass through.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from brainlink_docs.merge import crdt
from brainlink_docs.merge.clock import Hlc, latest, tick
from brainlink_docs.merge.fields import Path, doc_clock, set_at, stamp, value_at
from brainlink_docs.merge.policies import Policies
from brainlink_docs.store.api import BulkResult, Doc, DocumentStore, ReadOptions


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class StampingStore:
    """``store`` with every new edit stamped by ``replica``'s clock."""

    def __init__(
        self,
        store: DocumentStore,
        replica: str,
        now_ms: Callable[[], int] = wall_ms,
        policies: Policies | None = None,
    ) -> None:
        self._store = store
        self._replica = replica
        self._now_ms = now_ms
        self._policies = policies or Policies()
        self._last: Hlc | None = None

    def __getattr__(self, name: str) -> Any:
        """Everything but new edits is the wrapped store's."""
        return getattr(self._store, name)

    @property
    def last_clock(self) -> Hlc | None:
        return self._last

    async def put(self, doc: Doc) -> BulkResult:
        (stamped,) = await self._stamped([doc])
        return await self._store.put(stamped)

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        if not new_edits:
            return await self._store.bulk_docs(docs, new_edits=False)
        return await self._store.bulk_docs(await self._stamped(docs), new_edits=True)

    async def _stamped(self, docs: Sequence[Doc]) -> list[Doc]:
        previous = await self._previous(docs)
        out = []
        for doc in docs:
            if not _is_data_edit(doc):
                out.append(doc)
                continue
            before = previous.get((doc.get("_id"), doc.get("_rev")))
            policy = self._policies.for_doc(doc)
            if before is not None and policy.counters:
                doc = await self._counted(doc, before, policy.counters)
            seen = latest(self._last, doc_clock(before) if before else None, doc_clock(doc))
            self._last = tick(seen, self._now_ms(), self._replica)
            out.append(stamp(before, doc, self._last, policy.keyed))
        return out

    async def _counted(self, doc: Doc, before: Mapping[str, Any], counters: Iterable[Path]) -> Doc:
        """``doc`` with each counter's increments rebased on the merge of every live leaf's
        counter (unchanged when the document has one live leaf)."""
        found = await self._store.open_revs(doc["_id"], None, ReadOptions())
        live = [r["ok"] for r in found if "ok" in r and not r["ok"].get("_deleted")]
        if len(live) < 2:
            return doc
        doc = copy.deepcopy(doc)
        for path in counters:
            present, written = value_at(doc, path)
            if not present:
                continue
            onto = crdt.merge_counters(value_at(leaf, path)[1] for leaf in live)
            set_at(doc, path, crdt.rebase_counter(written, value_at(before, path)[1], onto))
        return doc

    async def _previous(self, docs: Sequence[Doc]) -> dict[tuple[Any, Any], Mapping[str, Any]]:
        """The revisions being edited, in one read (missing ones are simply not there)."""
        wanted = [
            {"id": d["_id"], "rev": d["_rev"]}
            for d in docs
            if _is_data_edit(d) and isinstance(d.get("_id"), str) and d.get("_rev")
        ]
        if not wanted:
            return {}
        found: dict[tuple[Any, Any], Mapping[str, Any]] = {}
        for result in await self._store.bulk_get(wanted, ReadOptions()):
            for item in result.get("docs", []):
                if "ok" in item:
                    found[(item["ok"]["_id"], item["ok"]["_rev"])] = item["ok"]
        return found


def _is_data_edit(doc: object) -> bool:
    """A new revision of a data document (not a deletion, a checkpoint or a design document)."""
    if not isinstance(doc, dict) or doc.get("_deleted"):
        return False
    doc_id = doc.get("_id")
    return not (isinstance(doc_id, str) and doc_id.startswith("_"))
