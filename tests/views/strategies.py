"""Hypothesis strategies for view keys: every JSON type, with the cases collation gets wrong.

Strings mix what ICU orders differently from code points (case, accents, punctuation, spaces),
what it calls equal to something else (precomposed vs combining accents, ignorable controls and
zero-width characters), emoji (astral, two UTF-16 code units), CJK and CouchDB's own range idioms
(``"\\ufff0"``, ``"\\uffff"``). Numbers mix integers, floats, integers past 2**53 and past 2**64,
and values that tie across types (``1`` and ``1.0``, ``0`` and ``-0.0``). Nesting stays shallow:
CouchDB's NIF compares up to depth 10 and falls back to Erlang (lossy for big numbers) beyond.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Characters chosen for how ICU's root collation treats them (see the module docstring).
TRICKY_CHARS = (
    "aAbBeEzZ"
    "éÉèe\u0301E\u0301ñn\u0303ßæÆøå"
    " -_.,'!?@#&~"
    "\u0000\u0001\t\u00ad\u200b\u200d\ufeff"
    "\u0301\u0308\u0327"
    "😀👍🏽🇫🇷🧑‍💻"
    "中文日本語한국어"
    "ΑαБб"
    "0129"
    "\ufff0\uffff"
)

# Whole strings worth having among the keys every time.
IDIOM_STRINGS = ["", "\ufff0", "\uffff", "a", "A", "a\u0000", "é", "e\u0301", "É"]

# Numbers that tie with one another, or sit on the integer/double frontier.
TIED_NUMBERS: list[int | float] = [
    0,
    0.0,
    -0.0,
    1,
    1.0,
    -1,
    -1.0,
    2**53,
    2.0**53,
    2**53 + 1,
    -(2**53) - 1,
    2**64,
    2.0**64,
    2**64 + 1,
    10**30,
    1e30,
]

tricky_text = st.text(alphabet=TRICKY_CHARS, max_size=5)
any_text = st.text(max_size=4)
strings = st.one_of(tricky_text, tricky_text, any_text, st.sampled_from(IDIOM_STRINGS))

# Below 2**1000: CouchDB 3.5 refuses a document holding an integer past the double range.
big_ints = st.integers(min_value=-(2**1000), max_value=2**1000)
numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    big_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(TIED_NUMBERS),
)

scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
# Object keys from a narrow alphabet so members tie and clash often.
member_names = st.text(alphabet="abAB\u0000é", max_size=2)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(member_names, children, max_size=3),
    )


json_keys: st.SearchStrategy[Any] = st.recursive(scalars, _containers, max_leaves=6)

# The idioms CouchDB users write as range ends: {} above every array, "\ufff0" above most text.
IDIOM_KEYS: list[Any] = [
    None,
    False,
    True,
    *TIED_NUMBERS,
    *IDIOM_STRINGS,
    [],
    [{}],
    ["a", {}],
    ["a", "\ufff0"],
    {},
    {"a": None},
    {"b": 1, "a": 2},
    {"a": 2, "b": 1},
]


def pouch_safe_numbers() -> st.SearchStrategy[int | float]:
    """Numbers that survive JavaScript (doubles): what PouchDB can hold at all."""
    return st.one_of(
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
    )


# Strings on which ICU and code-unit order agree and nothing ties: lowercase ASCII letters.
pouch_safe_strings = st.text(alphabet="abcde", max_size=3)
pouch_safe_keys: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), pouch_safe_numbers(), pouch_safe_strings),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        # Names that are not array indexes, so JavaScript keeps their written order.
        st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=2), children, max_size=3),
    ),
    max_leaves=6,
)
