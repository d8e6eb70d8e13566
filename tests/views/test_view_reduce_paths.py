"""SQLite's fold of ``_count``/``_sum``/``_stats`` (``read.sql_reduce``) answers exactly what
the Python fold of the same rows answers, or declines (non-numbers, overflow, keys that
collate equal) so the Python fold answers: for any rows, grouped or not."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.store.api import ViewQuery
from brainlink_docs.views.index import read, storage
from brainlink_docs.views.index.plan import plan
from brainlink_docs.views.index.rows import stored_rows
from brainlink_docs.views.js.builtins import BUILTINS

KEYS = st.one_of(st.sampled_from(["a", "b", "B", "é", "e\u0301"]), st.integers(0, 3), st.just(1.0))
# Halves are exact in binary, so sums do not depend on the order of addition.
NUMBERS = st.one_of(st.integers(-(2**40), 2**40), st.integers(-100, 100).map(lambda n: n / 2))
VALUES = st.one_of(NUMBERS, NUMBERS, st.lists(NUMBERS, max_size=2), st.just(2**62))
ROWS = st.lists(st.tuples(KEYS, VALUES), max_size=30)


def python_fold(conn: sqlite3.Connection, view: int, steps: Any, builtin: str) -> list[Any]:
    fold = BUILTINS[builtin]
    return [
        {"key": group.key, "value": fold.finalize(fold.reduce(group.kvs))}
        for group in read.groups(conn, view, steps)
    ]


@settings(max_examples=150, deadline=None)
@given(rows=ROWS, builtin=st.sampled_from(sorted(read.SQL_REDUCES)), group=st.booleans())
def test_sqlite_folds_as_python_does(
    rows: list[tuple[Any, Any]], builtin: str, group: bool
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        conn = storage.connect(str(Path(directory) / "index.sqlite"))
        try:
            view = storage.initialize(conn, "signature", ["v"], "collation").views["v"]
            added = [
                (view, f"doc{i:03d}", stored_rows(f"doc{i:03d}", [[k, v]]))
                for i, (k, v) in enumerate(rows)
            ]
            storage.apply(conn, storage.Batch("1", "0", [], added), fresh=True)
            steps = plan(ViewQuery(group=group), has_reduce=True)
            folded = read.sql_reduce(conn, view, steps, builtin)
            if folded is None:
                return  # declined: the Python fold answers
            if builtin == "_stats" and any(not isinstance(v, int | float) for _k, v in rows):
                raise AssertionError("SQLite folded _stats over a value that is not a number")
            assert folded == python_fold(conn, view, steps, builtin)
        finally:
            conn.close()
