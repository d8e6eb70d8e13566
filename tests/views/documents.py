"""Generated documents for the view query-server tests: every JSON type, unicode text, nesting."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Member names CouchDB accepts (a leading underscore is reserved for its own members).
FIELD_NAMES = st.text(min_size=1, max_size=8).filter(lambda name: not name.startswith("_"))
# Integers past 2^31 and 2^53 (JavaScript rounds those the same way on both sides). No
# subnormal floats: CouchDB's JSON parser (jiffy) reads 5e-324 as 0.0, in documents and rows.
NUMBERS = st.integers(-(2**60), 2**60) | st.floats(
    allow_nan=False, allow_infinity=False, allow_subnormal=False
)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELD_NAMES, inner, max_size=4),
    max_leaves=10,
)


@st.composite
def documents(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    """``count`` documents with ids ``d000``…, each with some of the fields the views read."""
    docs = []
    for i in range(count):
        doc: dict[str, Any] = {"_id": f"d{i:03d}"}
        doc.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "n": NUMBERS | SCALARS,
                        "s": st.text(max_size=16),
                        "arr": st.lists(SCALARS, max_size=5),
                        "nested": JSON_VALUES,
                        "extra": st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=3),
                    },
                )
            )
        )
        docs.append(doc)
    return docs
