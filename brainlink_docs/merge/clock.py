"""Hybrid logical clocks: which of two edits happened last, robust to devices' clock skew.

An ``Hlc`` is (wall milliseconds, logical counter, replica id), ordered as that tuple. A new
edit's clock is ``tick(seen, now)``: later than every clock the editing replica has seen (its
own last edit and the clock of the document it edits), and no earlier than its wall clock. So
an edit made after another was seen always has the greater clock, however wrong the second
device's wall clock is; only truly concurrent edits are ordered by wall time, then replica id
(deterministic ties: every replica picks the same).

In documents a clock is a string, ``"<wall hex 13>-<counter hex 4+>-<replica>"``: plain JSON a
real CouchDB stores as it is, readable in a debugger, and compared by parsing (never as text).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from brainlink_docs.errors import BadRequest

# 13 hex digits of milliseconds last until the year 10889; 4 of counter cover 65,536 edits in
# one millisecond before the text grows (it still parses and compares right).
_WALL_DIGITS = 13
_COUNTER_DIGITS = 4


@dataclass(frozen=True, order=True, slots=True)
class Hlc:
    wall: int
    counter: int
    replica: str

    def __str__(self) -> str:
        return f"{self.wall:0{_WALL_DIGITS}x}-{self.counter:0{_COUNTER_DIGITS}x}-{self.replica}"


# Below every real clock (whose replica is never empty): what a value with no clock counts as.
ZERO = Hlc(0, 0, "")


def parse_hlc(text: object) -> Hlc:
    """The clock a document carries; ``BadRequest`` for anything that is not one."""
    clock = _parsed(text) if isinstance(text, str) else None
    if clock is None:
        raise BadRequest(f"not a hybrid logical clock: {text!r}")
    return clock


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Hlc | None:
    """Cached: the fields of one document (and of the documents one replica wrote together)
    mostly share a few clocks, and reading ``$merge`` parses each one per field."""
    wall, sep1, rest = text.partition("-")
    counter, sep2, replica = rest.partition("-")
    if sep1 and sep2:  # an empty replica is ZERO's
        try:
            return Hlc(int(wall, 16), int(counter, 16), replica)
        except ValueError:
            pass
    return None


def tick(seen: Hlc | None, now_ms: int, replica: str) -> Hlc:
    """The clock of a new edit by ``replica`` at wall time ``now_ms``, after every clock in
    ``seen`` (the greatest one the replica knows of)."""
    if not replica:
        raise ValueError("a replica id must not be empty")
    if seen is None or now_ms > seen.wall:
        return Hlc(now_ms, 0, replica)
    return Hlc(seen.wall, seen.counter + 1, replica)


def latest(*clocks: Hlc | None) -> Hlc | None:
    """The greatest of the clocks given (``None`` when there are none)."""
    present = [c for c in clocks if c is not None]
    return max(present) if present else None
