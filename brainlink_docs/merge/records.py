"""Lists of records keyed by ``id``, seen by field-level merge as objects.

A list is normally one value: two devices that each add a panel to ``/layout/panels`` edit the
same field, and the later edit's list wins whole. A policy can instead name the list *keyed*
(``Policy.keyed_lists``): each record (an object with a string ``id``, no id twice) then becomes
the object member ``"=<id>"`` and the list's order a member ``"#order"`` (the ids in order), so
every record's fields merge like any other fields, and the order is one more field:

- two devices adding records keep both (the order of the later edit, then the records it does
  not list, by id);
- two devices editing different records, or different fields of one record, keep both edits;
- removing a record removes its ``id`` with the rest of it, and a record without ``id`` is not
  shown: a removal wins over a concurrent edit of the record's other fields, so a panel closed
  on one device does not come back half-filled from another.

The list shows the order its ids are in; when that is not the order entry's value (records it
does not list were added, or records it lists were removed), ``fields`` keeps the entry in
``$merge`` with the other entries the body does not show. An object at a keyed path with
``"#order"`` (a list of ids) and otherwise only ``"="`` members is read as such a list: that is
the one shape a keyed path reserves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ORDER = "#order"
RECORD = "="

Path = tuple[str, ...]
Doc = dict[str, Any]


def record_ids(value: object) -> list[str] | None:
    """The ids of ``value`` when it is a list of records (each an object with a string ``id``,
    no id twice); ``None`` otherwise (it then merges as one value)."""
    if not isinstance(value, list):
        return None
    ids = [item.get("id") if isinstance(item, dict) else None for item in value]
    if not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        return None
    return ids  # type: ignore[return-value]  # checked: every id is a str


def to_tree(body: Doc, keyed: Iterable[Path], *, order: bool) -> tuple[Doc, frozenset[Path]]:
    """``body`` with the list of records at each ``keyed`` path as an object (with its
    ``"#order"`` when ``order``), and the paths that held such a list. ``body`` is not changed."""
    tree, converted = body, set()
    for path in keyed:
        found, value = value_at(tree, path)
        ids = record_ids(value) if found else None
        if ids is None:
            continue
        node: Doc = {RECORD + i: record for i, record in zip(ids, value, strict=True)}
        if order:
            node[ORDER] = ids
        tree = _replaced(tree, path, node)
        converted.add(path)
    return tree, frozenset(converted)


def from_tree(tree: Doc, keyed: Iterable[Path]) -> tuple[Doc, frozenset[Path]]:
    """``tree`` with each keyed object at a ``keyed`` path back as its list, and those paths."""
    body, converted = tree, set()
    for path in keyed:
        found, node = value_at(body, path)
        if not found or not _is_keyed(node):
            continue
        body = _replaced(body, path, _records(node))
        converted.add(path)
    return body, frozenset(converted)


def _is_keyed(node: object) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get(ORDER), list):
        return False
    return all(k == ORDER or k.startswith(RECORD) for k in node)


def _records(node: Mapping[str, Any]) -> list[Any]:
    """The records in the order given, then the ones it does not list by id; a record whose
    ``id`` was removed (or is not its key's) is gone."""
    records = {
        key[len(RECORD) :]: value
        for key, value in node.items()
        if key != ORDER and isinstance(value, dict) and value.get("id") == key[len(RECORD) :]
    }
    listed = [i for i in dict.fromkeys(node[ORDER]) if isinstance(i, str) and i in records]
    rest = sorted(set(records) - set(listed))
    return [records[i] for i in [*listed, *rest]]


def value_at(body: Any, path: Path) -> tuple[bool, Any]:
    """Whether ``body`` has something at ``path``, and what."""
    node = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _replaced(body: Doc, path: Path, value: Any) -> Doc:
    """``body`` with ``value`` at ``path`` (which exists), copying only the objects on the way."""
    head, rest = path[0], path[1:]
    return {**body, head: _replaced(body[head], rest, value) if rest else value}
