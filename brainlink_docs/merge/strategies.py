"""Merge strategies: pure functions from the leaf revisions of one document to the merged body.

- ``last_writer_wins``: the leaf whose edit has the greatest clock, whole. A leaf written by a
  plain CouchDB client has no clock and counts as older than any stamped one; among those,
  CouchDB's own order decides (generation, then revision id), so every replica picks the same.
- ``merge_fields``: per field, the latest change (``fields.join``), when every leaf carries a
  field state. A leaf without one (a plain client's edit) gets one from its base, the revision
  its edits started from when the caller still has it (its nearest stamped ancestor, else the
  common ancestor): fields it changed since count as changed just after the base (a three-way
  merge); without a base, the whole document falls back to last-writer-wins.

The answer is a body with ``$merge`` metadata, never ``_id``/``_rev``: the resolver decides
where it is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brainlink_docs.merge.clock import ZERO, Hlc, tick
from brainlink_docs.merge.fields import (
    META,
    FieldState,
    doc_clock,
    document,
    join,
    stamp,
    state_of,
    user_fields,
)
from brainlink_docs.revs.ids import parse_rev

Doc = dict[str, Any]


def last_writer_wins(leaves: Sequence[Mapping[str, Any]]) -> Doc:
    """The body (with its metadata) of the leaf with the greatest clock."""
    chosen = max(leaves, key=_lww_rank)
    body = user_fields(chosen)
    meta = chosen.get(META)
    return {**body, META: meta} if isinstance(meta, dict) else body


def _lww_rank(leaf: Mapping[str, Any]) -> tuple[Hlc, int, str]:
    rev = parse_rev(leaf.get("_rev"))
    return (doc_clock(leaf) or ZERO, rev.pos, rev.id)


def merge_fields(
    leaves: Sequence[Mapping[str, Any]], bases: Mapping[str, Mapping[str, Any]] | None = None
) -> Doc:
    """Every field's latest value over ``leaves``. ``bases`` maps a leaf's revision to the
    revision its edits started from (its nearest stamped ancestor, or the common ancestor),
    when the caller still has it: a leaf without clocks (a plain client's edit) then takes
    part field by field, its changes since that base counted as one edit just after it."""
    states: list[FieldState] = []
    for leaf in leaves:
        state = state_of(leaf)
        base = (bases or {}).get(str(leaf.get("_rev")))
        if state is None and base is None:
            return last_writer_wins(leaves)
        if state is None:
            state = state_of(stamp(base, leaf, plain_clock(leaf, base))) or {}
        states.append(state)
    clocks = [c for c in map(doc_clock, leaves) if c is not None]
    return document(join(states), max(clocks) if clocks else None)


def plain_clock(leaf: Mapping[str, Any], base: Mapping[str, Any] | None) -> Hlc:
    """The clock a plain client's edit of ``base`` counts as: just after the base's (so its
    changes beat the values it changed), before any later real edit; among plain edits, in
    CouchDB's order of revisions (generation, then id)."""
    rev = parse_rev(leaf.get("_rev"))
    seen = doc_clock(base) if base is not None else None
    return tick(seen, 0, f"rev:{rev.pos:010d}:{rev.id}")
