"""Sequence strings: ``<n>-<instance token>``, opaque to callers, growing with every change.

The token names this database instance, so a checkpoint taken against a database that was later
deleted and re-created does not skip the new one's changes: an unknown token rewinds to 0, as
CouchDB rewinds a shard whose epoch it does not know.
"""

from __future__ import annotations

from brainlink_docs.errors import BadRequest

TOKEN_LENGTH = 12  # hex digits of the instance uuid: collisions between re-creations are moot


def format_seq(n: int, token: str) -> str:
    return f"{n}-{token}" if n else "0"


def parse_since(since: object, token: str, current: int) -> int:
    """The integer position after which a feed starts (``now`` is the current sequence)."""
    if isinstance(since, int) and not isinstance(since, bool) and since >= 0:
        return since
    if not isinstance(since, str):
        raise BadRequest("Malformed sequence supplied in 'since' parameter.")
    if since == "now":
        return current
    head, sep, tail = since.partition("-")
    if not head.isascii() or not head.isdigit():
        raise BadRequest("Malformed sequence supplied in 'since' parameter.")
    if sep and tail != token:
        return 0
    return int(head)
