"""Revision ids: ``N-<id>``, where N is the generation (depth from the first edit).

A revision id names its whole ancestry. New ids are deterministic: the MD5 of the parent revision,
the deleted flag, the canonical JSON body and the attachment digests, so the same edit made on two
devices yields the same revision and replicas do not record a spurious conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NamedTuple

from brainlink_docs.errors import BadRequest


class Rev(NamedTuple):
    """A parsed revision: generation ``pos`` and the opaque ``id`` after the dash."""

    pos: int
    id: str

    def __str__(self) -> str:
        return f"{self.pos}-{self.id}"


def parse_rev(text: object) -> Rev:
    """Parse ``N-id``; anything else is CouchDB's 400 ``Invalid rev format``."""
    if not isinstance(text, str):
        raise BadRequest("Invalid rev format")
    pos_text, sep, rev_id = text.partition("-")
    if not sep or not rev_id or not pos_text.isdigit() or not pos_text.isascii():
        raise BadRequest("Invalid rev format")
    pos = int(pos_text)
    if pos < 1:
        raise BadRequest("Invalid rev format")
    return Rev(pos, rev_id)


def rev_pos(rev: str) -> int:
    """Generation of an already validated revision string."""
    return int(rev[: rev.index("-")])


def new_rev(
    parent: str | None, deleted: bool, canonical_body: bytes, att_digests: Iterable[str] = ()
) -> str:
    """The deterministic id of the child of ``parent`` with this content."""
    h = hashlib.md5(parent.encode() if parent else b"")
    h.update(b"\x00\x01" if deleted else b"\x00\x00")
    h.update(canonical_body)
    for digest in sorted(att_digests):
        h.update(b"\x00")
        h.update(digest.encode())
    pos = rev_pos(parent) + 1 if parent else 1
    return f"{pos}-{h.hexdigest()}"


def revisions_to_path(start: int, ids: list[str]) -> list[str]:
    """CouchDB's ``_revisions`` (``start``, ids newest first) as rev strings, leaf first."""
    return [f"{start - i}-{rev_id}" for i, rev_id in enumerate(ids)]


def path_to_revisions(path: list[str]) -> dict[str, object]:
    """The inverse of :func:`revisions_to_path`: ``{"start": N, "ids": [...]}``."""
    if not path:
        return {"start": 0, "ids": []}
    return {"start": rev_pos(path[0]), "ids": [r[r.index("-") + 1 :] for r in path]}
