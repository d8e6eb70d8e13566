"""Small CRDTs kept as plain JSON values inside documents, each with a merge that is
commutative, associative and idempotent, so any replica merging any copies gets one answer.

- Counters (token usage, message counts, plugin runs): ``{"p": {replica: n}, "n": {replica:
  n}}``. A replica only ever raises its own entries; merge takes the per-replica maximum, so no
  increment is lost or counted twice however copies cross. A grow-only counter has no ``n``.
- Last-writer-wins register: ``{"value": v, "clock": "<hlc>"}``; merge keeps the later clock.
- Observed-remove set (tags, lists of ids; strings): ``{"tags": {element: {tag: 1 | 0}}}``.
  Adding an element gives it a fresh tag (a clock: unique per replica and edit); removing it
  marks the tags this replica has seen as 0. Merge unions the tags, a 0 winning over a 1 for
  the same tag; an element is in the set while any of its tags is 1, so an add concurrent with
  a remove survives it (add wins), and a removal survives stale copies.

Functions never mutate their arguments. Malformed values (a plain client wrote something else
there) read as empty rather than failing the merge: the field then merges as nothing was there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import reduce
from typing import Any

from brainlink_docs.canonical import canonical_json
from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.clock import Hlc, parse_hlc

Json = Any


# --- counters -----------------------------------------------------------------------------------


def counter_value(counter: Json) -> int:
    return sum(_part(counter, "p").values()) - sum(_part(counter, "n").values())


def increment(counter: Json, replica: str, amount: int = 1) -> Json:
    """``counter`` with ``amount`` added by ``replica`` (a negative amount is a decrement)."""
    side = "p" if amount >= 0 else "n"
    entries = _part(counter, side)
    out = {"p": _part(counter, "p"), "n": _part(counter, "n")}
    out[side] = {**entries, replica: entries.get(replica, 0) + abs(amount)}
    return _compact(out)


def merge_counters(counters: Iterable[Json]) -> Json:
    """Per replica and side, the greatest count any copy has."""
    out: dict[str, dict[str, int]] = {"p": {}, "n": {}}
    for counter in counters:
        for side in ("p", "n"):
            for replica, count in _part(counter, side).items():
                out[side][replica] = max(out[side].get(replica, 0), count)
    return _compact(out)


def rebase_counter(written: Json, was: Json, onto: Json) -> Json:
    """The increments an edit made (``written`` over ``was``, the value it read) applied on top
    of ``onto``: how an edit of one leaf of a conflicted document keeps every leaf's counts."""
    out = {"p": _part(onto, "p"), "n": _part(onto, "n")}
    for side in ("p", "n"):
        before = _part(was, side)
        for replica, count in _part(written, side).items():
            added = count - before.get(replica, 0)
            if added > 0:
                out[side][replica] = out[side].get(replica, 0) + added
    return _compact(out)


def _part(counter: Json, side: str) -> dict[str, int]:
    part = counter.get(side) if isinstance(counter, Mapping) else None
    if not isinstance(part, Mapping):
        return {}
    return {
        k: v for k, v in part.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 0
    }


def _compact(counter: dict[str, dict[str, int]]) -> Json:
    return {side: dict(sorted(entries.items())) for side, entries in counter.items() if entries}


# --- last-writer-wins register ------------------------------------------------------------------


def register(value: Json, clock: Hlc) -> Json:
    return {"value": value, "clock": str(clock)}


def merge_registers(registers: Iterable[Json]) -> Json:
    """The register with the latest clock (malformed ones lose to any well-formed one; equal
    clocks, which one replica's correct clock never gives twice, by canonical JSON)."""
    valid = [
        (c, canonical_json(r["value"]), r)
        for r in registers
        if (c := _register_clock(r)) is not None
    ]
    if not valid:
        return None
    return max(valid, key=lambda item: item[:2])[2]


def _register_clock(value: Json) -> Hlc | None:
    if not isinstance(value, Mapping) or "value" not in value:
        return None
    try:
        return parse_hlc(value.get("clock"))
    except BadRequest:
        return None


# --- observed-remove set ------------------------------------------------------------------------


def set_members(orset: Json) -> list[str]:
    return sorted(e for e, tags in _tags(orset).items() if any(tags.values()))


def add(orset: Json, element: str, tag: Hlc) -> Json:
    """``element`` added under the fresh ``tag`` (the clock of this edit)."""
    tags = _tags(orset)
    tags[element] = {**tags.get(element, {}), str(tag): 1}
    return {"tags": tags}


def remove(orset: Json, element: str) -> Json:
    """``element`` removed: every tag of it this copy has seen is marked removed."""
    tags = _tags(orset)
    if element in tags:
        tags[element] = dict.fromkeys(tags[element], 0)
    return {"tags": tags}


def merge_sets(orsets: Iterable[Json]) -> Json:
    return {"tags": reduce(_merge_tags, (_tags(s) for s in orsets), {})}


def _merge_tags(
    a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out = {element: dict(tags) for element, tags in a.items()}
    for element, tags in b.items():
        mine = out.setdefault(element, {})
        for tag, alive in tags.items():
            mine[tag] = min(mine.get(tag, alive), alive)
    return {e: dict(sorted(t.items())) for e, t in sorted(out.items())}


def _tags(orset: Json) -> dict[str, dict[str, int]]:
    tags = orset.get("tags") if isinstance(orset, Mapping) else None
    if not isinstance(tags, Mapping):
        return {}
    return {
        element: {t: 1 if alive else 0 for t, alive in entries.items() if alive in (0, 1)}
        for element, entries in tags.items()
        if isinstance(entries, Mapping)
    }
