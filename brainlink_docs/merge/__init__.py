"""Conflict merging: clocks, per-field states and the strategies that join concurrent edits
deterministically (``merge_fields``, ``last_writer_wins``). Pure functions; the resolver that
writes merges to a store comes with the rest of the merger."""

from brainlink_docs.merge.clock import Hlc, parse_hlc, tick
from brainlink_docs.merge.fields import META, stamp, state_of
from brainlink_docs.merge.strategies import last_writer_wins, merge_fields

__all__ = [
    "META",
    "Hlc",
    "last_writer_wins",
    "merge_fields",
    "parse_hlc",
    "stamp",
    "state_of",
    "tick",
]
