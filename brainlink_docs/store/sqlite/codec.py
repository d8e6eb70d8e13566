"""Compact encodings of what a ``docs`` row stores: revision trees and attachment metadata.

A tree is stored as one flat msgpack array ``[rev, parent_index, deleted, ...]`` (parent index -1
for a root): parents by index keep a 1,000-revision history small, and msgpack decodes it in C.
Most documents never get a second revision; their tree (one leaf, which is the winner named in
the same row) is stored as NULL, which costs nothing to write or read.
"""

from __future__ import annotations

from typing import Any

import msgpack
import orjson

from brainlink_docs.revs import RevNode, RevTree


def encode_tree(tree: RevTree) -> bytes | None:
    if len(tree) == 1:
        return None
    index = {rev: i for i, rev in enumerate(tree)}
    flat: list[Any] = []
    for rev, node in tree.items():
        flat.append(rev)
        flat.append(index[node.parent] if node.parent is not None else -1)
        flat.append(node.deleted)
    return msgpack.packb(flat)  # type: ignore[no-any-return]


def decode_tree(data: bytes | None, winner: str, deleted: bool) -> dict[str, RevNode]:
    """The tree of a row; ``winner``/``deleted`` are the row's, which a NULL tree consists of."""
    if data is None:
        return {winner: RevNode(None, deleted)}
    flat = msgpack.unpackb(data)
    revs = flat[0::3]
    return {
        rev: RevNode(revs[parent] if parent >= 0 else None, deleted)
        for rev, parent, deleted in zip(revs, flat[1::3], flat[2::3], strict=True)
    }


def encode_atts(atts: dict[str, dict[str, Any]] | None) -> bytes | None:
    return orjson.dumps(atts) if atts else None


def decode_atts(data: bytes | None) -> dict[str, dict[str, Any]]:
    return orjson.loads(data) if data else {}
