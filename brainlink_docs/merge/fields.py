"""A document's fields with the clock of their last change: the state field-level merge joins.

A body is seen as its *leaves*: every path to a value that is not a non-empty object (numbers,
strings, lists, ``null``, ``{}``), each with the clock of the edit that last set it, plus the
paths an edit removed (tombstones, so a stale copy cannot bring a removed field back). That
``FieldState`` is a join-semilattice: ``join`` keeps, per path, the entry with the greatest
clock, so merging is commutative, associative and idempotent by construction. ``render`` turns a
state back into a body by applying its entries in clock order (ancestors first on equal
clocks): a removal deletes what is below it, a later value replaces what it lands on.

The state travels inside the document, in plain JSON under ``META`` (``"$merge"``, see
``metadata``): the document's clock, each visible leaf's clock and value digest (by JSON
pointer), the tombstones, the few entries a newer edit of a descendant hides (``hidden``: a
field set to a number on one device while another gave it sub-fields), the paths of lists of
records seen as objects (``records``), and the digest of the body it describes. A body edited
by a plain CouchDB client (which copies ``$merge`` unchanged) is so recognised as not described
by it; the stale metadata still tells which fields the client changed (``plain_edit_state``).
Entries an ancestor's newer entry overwrites can never show again and are pruned.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brainlink_docs.canonical import canonical_json
from brainlink_docs.credentials.cipher import is_sealed
from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.clock import ZERO, Hlc, parse_hlc
from brainlink_docs.merge.records import from_tree, to_tree, value_at

# The key of the merge metadata in a document: not ``_``-prefixed, which CouchDB reserves.
META = "$merge"

Path = tuple[str, ...]
Doc = dict[str, Any]


class _Removed:
    """The value of a tombstone entry."""

    def __repr__(self) -> str:
        return "REMOVED"


REMOVED: Any = _Removed()


@dataclass(frozen=True, slots=True)
class Entry:
    clock: Hlc
    value: Any  # a JSON leaf, or REMOVED

    def rank(self) -> tuple[Hlc, bool, bytes]:
        """Order of entries for one path: the later clock; on a tie (one replica writing two
        values under one clock cannot happen, but a state must still have one answer), a value
        over a removal, then the canonical JSON."""
        removed = self.value is REMOVED
        return (self.clock, not removed, b"" if removed else canonical_json(self.value))


FieldState = dict[Path, Entry]


def user_fields(doc: Mapping[str, Any]) -> Doc:
    """The body the merge is about: no ``_`` fields (CouchDB's) and no metadata."""
    return {k: v for k, v in doc.items() if not k.startswith("_") and k != META}


def body_digest(body: Mapping[str, Any]) -> str:
    return hashlib.md5(canonical_json(body)).hexdigest()


def value_digest(value: Any) -> str:
    """A field value's short digest in ``$merge.fields``: enough to tell whether a plain client
    changed the field since the revision the metadata describes (CRC-32: a checksum, not a
    security measure; it runs for every field of every stamped edit)."""
    return f"{zlib.crc32(canonical_json(value)):08x}"


@dataclass(frozen=True, slots=True)
class Digested:
    """A field's value known only by its digest: a stale ``$merge``'s view of the revision a
    plain client edited."""

    digest: str


def leaves(body: Any, prefix: Path = ()) -> list[tuple[Path, Any]]:
    """Every leaf of ``body``: ``(path, value)`` where value is not a non-empty object (or is
    a sealed credential: ``credentials.is_sealed``)."""
    found: list[tuple[Path, Any]] = []
    _collect(body, prefix, found)
    return found


def _collect(body: Any, prefix: Path, found: list[tuple[Path, Any]]) -> None:
    # A sealed credential is one value: its kid, nonce and ciphertext only open together, so
    # a merge must never take them from different edits.
    if isinstance(body, dict) and body and not (prefix and is_sealed(body)):
        for key, value in body.items():
            _collect(value, (*prefix, key), found)
    elif prefix:
        found.append((prefix, body))


def join(states: Iterable[FieldState]) -> FieldState:
    """Per path, the greatest entry of all ``states``; then pruned."""
    out: FieldState = {}
    for state in states:
        for path, entry in state.items():
            current = out.get(path)
            if current is None or entry.rank() > current.rank():
                out[path] = entry
    return prune(out)


def prune(state: FieldState) -> FieldState:
    """Drop entries that a newer entry at an ancestor path overwrites: in any later join that
    ancestor entry (or a newer one at its path) is applied after them, so they never show."""
    return {path: e for path, e in state.items() if not _overwritten(state, path, e.clock)}


def _overwritten(state: FieldState, path: Path, clock: Hlc) -> bool:
    for n in range(1, len(path)):
        ancestor = state.get(path[:n])
        if ancestor is not None and ancestor.clock > clock:
            return True
    return False


def render(state: FieldState) -> Doc:
    """The body ``state`` describes: entries applied in clock order, ancestors first."""
    body: Doc = {}
    for path, entry in sorted(state.items(), key=lambda item: (item[1].clock, len(item[0]))):
        if entry.value is REMOVED:
            _remove(body, path)
        else:
            set_at(body, path, copy.deepcopy(entry.value))
    return body


def set_at(body: Doc, path: Path, value: Any) -> None:
    """Put ``value`` at ``path``, making objects along the way (replacing what is not one)."""
    node = body
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _remove(body: Doc, path: Path) -> None:
    node: Any = body
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def metadata(
    state: FieldState, body: Doc, keyed: frozenset[Path], *, all_shown: bool = False
) -> Doc:
    """``$merge`` for ``body`` rendered from ``state`` (its lists of records at ``keyed`` paths
    seen as objects): where each entry went. ``all_shown``: the caller knows every entry that
    is not a removal shows in ``body`` as it is (an edit's own state), so none is compared.

    Compact, since it travels with every revision: the distinct clocks once, in order
    (``clocks``), and per entry the index of its clock: ``fields`` ``{pointer: "i:digest"}``,
    ``removed`` ``{pointer: i}``, ``hidden`` ``{pointer: [i, value]}``."""
    tree, _ = to_tree(body, keyed, order=True)
    table = sorted({entry.clock for entry in state.values()})
    index = {clock: i for i, clock in enumerate(table)}
    fields, removed, hidden = {}, {}, {}
    for path, entry in sorted(state.items()):
        pointer = to_pointer(path)
        i = index[entry.clock]
        if entry.value is REMOVED:
            removed[pointer] = i
        elif all_shown or _shows(tree, path, entry.value):
            fields[pointer] = f"{i}:{value_digest(entry.value)}"
        else:
            hidden[pointer] = [i, entry.value]
    meta: Doc = {"clock": str(table[-1]) if table else None, "clocks": list(map(str, table))}
    meta["fields"] = fields
    if removed:
        meta["removed"] = removed
    if hidden:
        meta["hidden"] = hidden
    if keyed:
        meta["keyed"] = sorted(map(to_pointer, keyed))
    meta["digest"] = body_digest(body)
    return meta


def _shows(tree: Doc, path: Path, value: Any) -> bool:
    found, shown = value_at(tree, path)
    return found and canonical_json(shown) == canonical_json(value)


def document(state: FieldState, clock: Hlc | None = None, keyed: Iterable[Path] = ()) -> Doc:
    """A body with its ``$merge``; ``clock`` raises the document's clock (an edit that changed
    nothing still happened after what it saw); ``keyed``: the paths that may hold a list of
    records seen as an object (``records``), turned back into lists here."""
    state = prune(state)
    body, converted = from_tree(render(state), keyed)
    return {**body, META: _raised(metadata(state, body, converted), clock)}


def _raised(meta: Doc, clock: Hlc | None) -> Doc:
    """``meta`` with its document clock raised to ``clock`` (an edit that changed nothing
    still happened after what it saw)."""
    if clock is not None and (meta["clock"] is None or clock > parse_hlc(meta["clock"])):
        meta["clock"] = str(clock)
    return meta


def state_of(doc: Mapping[str, Any]) -> FieldState | None:
    """The field state ``doc`` carries; ``None`` when it carries none that describes its body
    (never stamped, or edited since by a client that does not stamp)."""
    meta = doc.get(META)
    body = user_fields(doc)
    if not isinstance(meta, dict) or meta.get("digest") != body_digest(body):
        return None
    described = described_state(doc)
    if described is None:
        return None
    keyed = keyed_of(doc)
    tree, converted = to_tree(body, keyed, order=True)
    if converted != keyed:
        return None
    state = {p: e for p, e in described.items() if not isinstance(e.value, Digested)}
    for path, value in leaves(tree):
        entry = described.get(path)
        if entry is not None and isinstance(entry.value, Digested):
            state[path] = Entry(entry.clock, value)
        elif path not in state:  # only a keyed list's order shows other than its entry
            return None
    return state


def described_state(doc: Mapping[str, Any]) -> FieldState | None:
    """The field state ``doc``'s ``$merge`` describes, whether or not that is still ``doc``'s
    body: the visible fields' values as ``Digested``, the removed and hidden entries as they
    are. For a plain client's edit (which copies ``$merge`` unchanged) that is the revision it
    edited, which every replica can read from the leaf itself; ``None`` without metadata."""
    meta = doc.get(META)
    if not isinstance(meta, dict):
        return None
    try:
        clocks = [parse_hlc(text) for text in _list(meta.get("clocks"))]
        state: FieldState = {}
        for pointer, value in _items(meta.get("fields")):
            i, _, digest = str(value).partition(":")
            state[from_pointer(pointer)] = Entry(_clock(clocks, i), Digested(digest))
        for pointer, i in _items(meta.get("removed")):
            state[from_pointer(pointer)] = Entry(_clock(clocks, i), REMOVED)
        for pointer, pair in _items(meta.get("hidden")):
            if not isinstance(pair, list) or len(pair) != 2:
                return None
            state[from_pointer(pointer)] = Entry(_clock(clocks, pair[0]), pair[1])
    except BadRequest:
        return None
    return state


def _clock(clocks: list[Hlc], index: object) -> Hlc:
    """Entry ``index`` of a ``$merge`` clock table; ``BadRequest`` when there is none."""
    try:
        i = int(index)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        i = -1
    if not 0 <= i < len(clocks):
        raise BadRequest(f"no clock {index!r} in $merge")
    return clocks[i]


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def keyed_of(doc: Mapping[str, Any]) -> frozenset[Path]:
    """The paths where ``doc``'s metadata says a list of records is seen as an object."""
    meta = doc.get(META)
    pointers = meta.get("keyed") if isinstance(meta, dict) else None
    if not isinstance(pointers, list):
        return frozenset()
    return frozenset(from_pointer(p) for p in pointers if isinstance(p, str) and p[:1] == "/")


def doc_clock(doc: Mapping[str, Any]) -> Hlc | None:
    """The clock of the edit that wrote ``doc`` (``None``: not written through the merger)."""
    meta = doc.get(META)
    if not isinstance(meta, dict):
        return None
    try:
        return parse_hlc(meta.get("clock"))
    except BadRequest:
        return None


def _items(value: object) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def stamp(
    previous: Mapping[str, Any] | None,
    edited: Mapping[str, Any],
    clock: Hlc,
    keyed: Iterable[Path] = (),
) -> Doc:
    """``edited`` with its merge metadata, as an edit at ``clock`` of ``previous`` (the
    revision it was made from; ``None`` for a new document); ``keyed``: the paths whose lists
    of records merge record by record (``records``). Unchanged leaves keep their clocks;
    changed, added and removed ones get ``clock`` (``edit_state``). ``previous`` may be a plain
    client's edit: its changes since the revision its stale ``$merge`` describes then count as
    made at ``clock`` too."""
    old = _state_before(previous, keyed)
    body = user_fields(edited)
    tree, converted = to_tree(body, keyed, order=True)
    state = prune(edit_state(old, tree, clock))
    # An edit's state renders to the body edited (its removals are of paths the body lacks,
    # applied before what it sets): no need to render it again or compare what shows.
    meta = _raised(metadata(state, body, converted, all_shown=True), clock)
    extra = {k: v for k, v in edited.items() if k.startswith("_")}
    return {**extra, **body, META: meta}


def plain_edit_state(
    doc: Mapping[str, Any], clock: Hlc, keyed: Iterable[Path] = ()
) -> FieldState | None:
    """The field state of a plain client's edit ``doc`` of a stamped revision, its changes
    since that revision (told by the stale ``$merge`` it copied) counted as made at ``clock``;
    ``None`` when ``doc`` carries no metadata to tell them by."""
    described = described_state(doc)
    if described is None:
        return None
    tree, _ = to_tree(user_fields(doc), keyed_of(doc) | set(keyed), order=True)
    return edit_state(described, tree, clock)


def _state_before(previous: Mapping[str, Any] | None, keyed: Iterable[Path]) -> FieldState:
    if previous is None:
        return {}
    for state in (state_of(previous), described_state(previous)):
        if state is not None:
            return state
    return _unstamped(previous, keyed)


def edit_state(old: FieldState, tree: Doc, clock: Hlc) -> FieldState:
    """The state after an edit at ``clock`` that left ``tree``, from ``old``: unchanged leaves
    keep their clocks; changed, added and removed ones get ``clock``. An edit that removes an
    ancestor of a leaf it keeps (a number that became an object) re-stamps that leaf too, so
    that rendering (ancestors first) removes the old value and then sets the kept one."""
    new_leaves = dict(leaves(tree))
    state: FieldState = {}
    for path, value in new_leaves.items():
        before = old.get(path)
        unchanged = before is not None and _same_value(before, value)
        state[path] = Entry(before.clock, value) if unchanged and before else Entry(clock, value)
    for path, entry in old.items():
        if path in state:
            continue
        state[path] = entry if entry.value is REMOVED else Entry(clock, REMOVED)
        if entry.value is not REMOVED:
            for leaf in new_leaves:
                if leaf[: len(path)] == path and len(leaf) > len(path):
                    state[leaf] = Entry(clock, new_leaves[leaf])
    return state


def _same_value(entry: Entry, value: Any) -> bool:
    if entry.value is REMOVED:
        return False
    if isinstance(entry.value, Digested):
        return entry.value.digest == value_digest(value)
    return canonical_json(entry.value) == canonical_json(value)


def _unstamped(previous: Mapping[str, Any] | None, keyed: Iterable[Path]) -> FieldState:
    """A revision with no usable metadata: its leaves, as of the beginning of time."""
    if previous is None:
        return {}
    tree, _ = to_tree(user_fields(previous), keyed, order=True)
    return {path: Entry(ZERO, value) for path, value in leaves(tree)}


@functools.lru_cache(maxsize=8192)
def to_pointer(path: Path) -> str:
    """RFC 6901: ``~`` as ``~0``, ``/`` as ``~1``."""
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in path)


@functools.lru_cache(maxsize=8192)
def from_pointer(pointer: str) -> Path:
    if not pointer.startswith("/"):
        raise BadRequest(f"not a JSON pointer: {pointer!r}")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))
