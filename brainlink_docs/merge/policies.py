"""Merge policies: how each kind of document is merged, keyed by its ``type`` field.

A ``Policy`` names a strategy for the document (``fields``, the default: each field's latest
change; or ``lww``: the latest edit, whole) and the fields that are CRDTs, by JSON pointer
(``{"/usage/tokens": "counter", "/tags": "set", "/title": "register"}``), whose values are merged
by their own rule over every leaf whatever the strategy chose, and the lists of records that
merge record by record, keyed by their ``id`` (``keyed_lists``: ``["/layout/panels"]``; see
``records``; other lists are one value). ``Policies`` is the registry:
the typed entities declare theirs in code; a server reads them from JSON (a design document's
``merge_policies`` or its config) in the same shape ``to_json`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from brainlink_docs.errors import BadRequest
from brainlink_docs.merge import crdt
from brainlink_docs.merge.clock import ZERO, Hlc, latest
from brainlink_docs.merge.fields import (
    META,
    Entry,
    FieldState,
    Path,
    doc_clock,
    document,
    from_pointer,
    keyed_of,
    leaves,
    set_at,
    state_of,
    user_fields,
    value_at,
)
from brainlink_docs.merge.strategies import last_writer_wins, merged_fields, own_states

Strategy = Literal["fields", "lww"]
CrdtKind = Literal["counter", "register", "set"]
Doc = dict[str, Any]

_CRDT_MERGES: dict[str, Callable[[Iterable[Any]], Any]] = {
    "counter": crdt.merge_counters,
    "register": crdt.merge_registers,
    "set": crdt.merge_sets,
}


@dataclass(frozen=True, slots=True)
class Policy:
    strategy: Strategy = "fields"
    crdts: Mapping[str, CrdtKind] = field(default_factory=dict)
    keyed_lists: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.strategy not in ("fields", "lww"):
            raise BadRequest(f"unknown merge strategy {self.strategy!r}: fields or lww")
        for pointer in self.keyed_lists:
            from_pointer(pointer)
        for pointer, kind in self.crdts.items():
            from_pointer(pointer)
            if kind not in _CRDT_MERGES:
                raise BadRequest(f"unknown CRDT {kind!r} for {pointer}: counter, register or set")

    def merge(
        self,
        leaves: Sequence[Mapping[str, Any]],
        bases: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Doc:
        """The merged body (with ``$merge``) of ``leaves`` (``bases``: see ``merge_fields``)."""
        own = own_states(leaves)
        if self.strategy == "fields":
            merged = merged_fields(leaves, bases, self.keyed, own)
            if merged is not None:
                state = merged.state
                if self.crdts:
                    state = _crdt_state(state, leaves, merged.leaf_states, self.crdts)
                return document(state, merged.clock, merged.keyed)
        base = last_writer_wins(leaves, own)
        if not self.crdts:
            return base
        return _with_crdts(base, leaves, self.crdts, [s for s in own if s is not None])

    @property
    def counters(self) -> tuple[Path, ...]:
        """The paths of the counter CRDT fields (``StampingStore`` rebases their edits)."""
        return tuple(from_pointer(p) for p, kind in sorted(self.crdts.items()) if kind == "counter")

    @property
    def keyed(self) -> frozenset[Path]:
        """``keyed_lists`` as paths: what stamping and merging take."""
        return frozenset(map(from_pointer, self.keyed_lists))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"strategy": self.strategy, "crdts": dict(self.crdts)}
        if self.keyed_lists:
            out["keyed_lists"] = list(self.keyed_lists)
        return out


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Policies:
    """Policies by document ``type``; documents of other types get ``default``."""

    by_type: Mapping[str, Policy] = field(default_factory=dict)
    default: Policy = DEFAULT_POLICY

    def for_doc(self, doc: Mapping[str, Any]) -> Policy:
        kind = doc.get("type")
        return self.by_type.get(kind, self.default) if isinstance(kind, str) else self.default

    def to_json(self) -> dict[str, Any]:
        return {
            "default": self.default.to_json(),
            "types": {k: p.to_json() for k, p in sorted(self.by_type.items())},
        }

    @classmethod
    def from_json(cls, value: object) -> Policies:
        """Policies as ``to_json`` writes them; ``BadRequest`` says what is wrong."""
        if not isinstance(value, Mapping):
            raise BadRequest("merge policies must be an object")
        types = value.get("types", {})
        if not isinstance(types, Mapping):
            raise BadRequest("merge policies: `types` must be an object")
        return cls(
            {str(k): _policy(v) for k, v in types.items()},
            _policy(value.get("default", {})),
        )


def _policy(value: object) -> Policy:
    if not isinstance(value, Mapping):
        raise BadRequest("a merge policy must be an object")
    crdts = value.get("crdts", {})
    if not isinstance(crdts, Mapping):
        raise BadRequest("a merge policy's `crdts` must be an object")
    keyed = value.get("keyed_lists", [])
    if not isinstance(keyed, list) or not all(isinstance(p, str) for p in keyed):
        raise BadRequest("a merge policy's `keyed_lists` must be a list of JSON pointers")
    return Policy(value.get("strategy", "fields"), dict(crdts), tuple(keyed))


def _with_crdts(
    base: Doc,
    leaves: Sequence[Mapping[str, Any]],
    crdts: Mapping[str, CrdtKind],
    leaf_states: Sequence[FieldState],
) -> Doc:
    """``base`` (a last-writer-wins pick) with each CRDT field replaced by the merge of every
    leaf's value there (``leaf_states``: the stamped leaves' states)."""
    state = state_of(base)
    if state is not None:
        return document(
            _crdt_state(state, leaves, leaf_states, crdts), doc_clock(base), keyed_of(base)
        )
    body = user_fields(base)
    for path, merged in _crdt_values(leaves, crdts):
        set_at(body, path, merged)
    return body if META not in base else {**body, META: base[META]}


def _crdt_state(
    state: FieldState,
    leaves: Sequence[Mapping[str, Any]],
    leaf_states: Sequence[FieldState],
    crdts: Mapping[str, CrdtKind],
) -> FieldState:
    """``state`` with each CRDT field the merge of every leaf's value there, at the latest
    clock any leaf's edit of that field had."""
    for path, merged in _crdt_values(leaves, crdts):
        clock = _field_clock(leaf_states, path)
        state = {p: e for p, e in state.items() if p[: len(path)] != path}
        state.update({(*path, *p): Entry(clock, v) for p, v in leaves_of(merged)})
    return state


def _crdt_values(
    leaves: Sequence[Mapping[str, Any]], crdts: Mapping[str, CrdtKind]
) -> list[tuple[Path, Any]]:
    """Each CRDT field some leaf has, with the merge of every leaf's value there."""
    out = []
    for pointer, kind in sorted(crdts.items()):
        path = from_pointer(pointer)
        found = [value_at(leaf, path) for leaf in leaves]
        values = [value for present, value in found if present]
        if values:
            out.append((path, _CRDT_MERGES[kind](values)))
    return out


def leaves_of(value: Any) -> list[tuple[Path, Any]]:
    """The leaves below a value, the value itself when it is one (the empty path)."""
    found = list(leaves(value))
    return found or [((), value)]


def _field_clock(states: Sequence[FieldState], path: Path) -> Hlc:
    """The latest clock of any leaf's edit at or below ``path``."""
    clocks = [e.clock for state in states for p, e in state.items() if p[: len(path)] == path]
    return latest(*clocks) or ZERO
