"""CouchDB's view collation: null < false < true < numbers < strings < arrays < objects.

Strings compare by code point here; CouchDB uses ICU's UCA for view keys, which differs for mixed
case and accents (noted where it matters). Arrays and objects compare element by element.
"""

from __future__ import annotations

from typing import Any


def _type_rank(value: Any) -> int:
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    if isinstance(value, int | float):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, list):
        return 5
    return 6


def collate(a: Any, b: Any) -> int:
    """-1, 0 or 1 as CouchDB orders view keys."""
    ra, rb = _type_rank(a), _type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (3, 4):
        return (a > b) - (a < b)
    if ra == 5:
        for x, y in zip(a, b, strict=False):
            c = collate(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 6:
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            c = collate(ka, kb) or collate(va, vb)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    return 0
