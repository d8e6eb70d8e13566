"""Merge strategies: pure functions from the leaf revisions of one document to the merged body.

- ``last_writer_wins``: the leaf whose edit has the greatest clock, whole. A leaf written by a
  plain CouchDB client counts as made just after the revision it edited (``plain_clock``), or,
  never stamped at all, as older than any stamped one; ties go by CouchDB's own order
  (generation, then revision id), so every replica picks the same.
- ``merge_fields``: per field, the latest change (``fields.join``). A plain client's edit of a
  stamped revision copies that revision's ``$merge``, which describes it (clocks and value
  digests): the fields it changed since count as changed just after it (a three-way merge that
  every replica computes alike, from the leaf alone). A leaf with no metadata at all gets its
  state from a base the caller still has (its nearest stamped ancestor, else the common
  ancestor); without one, the whole document falls back to last-writer-wins.

The answer is a body with ``$merge`` metadata, never ``_id``/``_rev``: the resolver decides
where it is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brainlink_docs.merge.clock import ZERO, Hlc, tick
from brainlink_docs.merge.fields import (
    META,
    FieldState,
    Path,
    doc_clock,
    document,
    join,
    keyed_of,
    plain_edit_state,
    stamp,
    state_of,
    user_fields,
)
from brainlink_docs.revs.ids import parse_rev

Doc = dict[str, Any]


def last_writer_wins(
    leaves: Sequence[Mapping[str, Any]], own: Sequence[FieldState | None] | None = None
) -> Doc:
    """The body of the leaf with the greatest clock, with metadata that describes it (a plain
    client's edit gets it from the stale ``$merge`` it carries, when it carries one). ``own``:
    each leaf's ``state_of``, when the caller has read them already."""
    own = own_states(leaves) if own is None else own
    ranked = [(_lww_clock(leaves[n], own[n]), n) for n in range(len(leaves))]
    clock, n = max(ranked, key=lambda pair: (pair[0], *_couch_order(leaves[pair[1]])))
    chosen = leaves[n]
    if own[n] is not None:
        return {**user_fields(chosen), META: chosen[META]}
    state = plain_edit_state(chosen, clock)
    return user_fields(chosen) if state is None else document(state, clock, keyed_of(chosen))


def own_states(leaves: Sequence[Mapping[str, Any]]) -> list[FieldState | None]:
    """Each leaf's field state (``state_of``), read once for all a merge does with them."""
    return [state_of(leaf) for leaf in leaves]


def _lww_clock(leaf: Mapping[str, Any], state: FieldState | None) -> Hlc:
    """A stamped leaf's clock; a plain client's edit's ``plain_clock``."""
    if state is not None:
        return doc_clock(leaf) or ZERO
    return plain_clock(leaf, leaf)


def _couch_order(leaf: Mapping[str, Any]) -> tuple[int, str]:
    rev = parse_rev(leaf.get("_rev"))
    return rev.pos, rev.id


def merge_fields(
    leaves: Sequence[Mapping[str, Any]],
    bases: Mapping[str, Mapping[str, Any]] | None = None,
    keyed: Iterable[Path] = (),
) -> Doc:
    """Every field's latest value over ``leaves``. ``bases`` maps a leaf's revision to the
    revision its edits started from (its nearest stamped ancestor, or the common ancestor),
    when the caller still has it: a leaf with no metadata at all then takes part field by
    field, its changes since that base counted as one edit just after it. ``keyed``: the paths
    whose lists of records merge record by record (``records``), for the plain leaves; stamped
    leaves say theirs in their metadata."""
    merged = merged_fields(leaves, bases, keyed)
    return last_writer_wins(leaves) if merged is None else merged.document()


@dataclass(frozen=True, slots=True)
class Merged:
    """A field-level merge before it becomes a document (a policy may still change fields)."""

    state: FieldState
    clock: Hlc | None
    keyed: frozenset[Path]
    leaf_states: list[FieldState]

    def document(self) -> Doc:
        return document(self.state, self.clock, self.keyed)


def merged_fields(
    leaves: Sequence[Mapping[str, Any]],
    bases: Mapping[str, Mapping[str, Any]] | None = None,
    keyed: Iterable[Path] = (),
    own: Sequence[FieldState | None] | None = None,
) -> Merged | None:
    """``merge_fields``'s join (``own``: as for ``last_writer_wins``); ``None`` when a leaf has
    no state to take part with (the document then falls back to last-writer-wins)."""
    states: list[FieldState] = []
    for leaf, state in zip(leaves, own_states(leaves) if own is None else own, strict=True):
        if state is None:
            state = plain_edit_state(leaf, plain_clock(leaf, leaf), keyed)
        base = (bases or {}).get(str(leaf.get("_rev")))
        if state is None and base is None:
            return None
        if state is None:
            state = state_of(stamp(base, leaf, plain_clock(leaf, base), keyed)) or {}
        states.append(state)
    clocks = [c for c in map(doc_clock, leaves) if c is not None]
    paths = frozenset(keyed).union(*map(keyed_of, leaves))
    return Merged(join(states), max(clocks) if clocks else None, paths, states)


def plain_clock(leaf: Mapping[str, Any], base: Mapping[str, Any] | None) -> Hlc:
    """The clock a plain client's edit of ``base`` counts as: just after the base's (so its
    changes beat the values it changed), before any later real edit; among plain edits, in
    CouchDB's order of revisions (generation, then id). ``base`` may be the leaf itself: the
    stale ``$merge`` it copied carries its base's clock."""
    rev = parse_rev(leaf.get("_rev"))
    seen = doc_clock(base) if base is not None else None
    return tick(seen, 0, f"rev:{rev.pos:010d}:{rev.id}")
