"""Rank blocks give exact offsets: after any sequence of batches (new rows, changed and
removed documents, a build from scratch then incremental writes), every block's count is the
number of rows it covers and the rank of any position equals a plain ``COUNT``.

Blocks are cut small here (``BLOCK_ROWS`` = 3) so that splits happen within a few rows.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.views.index import ranks, storage
from brainlink_docs.views.index.rows import stored_rows

DOC_IDS = st.sampled_from([f"doc{i:02d}" for i in range(30)])
KEYS = st.one_of(st.integers(0, 12), st.sampled_from(["a", "b", "B", "é"]), st.just(None))
# One batch: per document, the keys it emits now (empty: deleted or emits nothing).
BATCHES = st.lists(st.dictionaries(DOC_IDS, st.lists(KEYS, max_size=4), max_size=8), max_size=8)


@contextlib.contextmanager
def index_file(directory: Path) -> Iterator[sqlite3.Connection]:
    conn = storage.connect(str(directory / "index.sqlite"))
    try:
        yield conn
    finally:
        conn.close()


def check(conn: sqlite3.Connection, view: int, positions: list[bytes]) -> None:
    blocks = conn.execute(
        "SELECT low, count FROM blocks WHERE view = ? ORDER BY low", (view,)
    ).fetchall()
    lows = [low for low, _ in blocks] + [None]
    for (low, count), high in zip(blocks, lows[1:], strict=True):
        bound = "" if high is None else " AND skey < ?"
        params = [view, low] + ([] if high is None else [high])
        actual = conn.execute(
            f"SELECT COUNT(*) FROM rows WHERE view = ? AND skey >= ?{bound}", params
        ).fetchone()[0]
        assert count == actual
    for position in positions:
        for inclusive in (False, True):
            compare = "<=" if inclusive else "<"
            expected = conn.execute(
                f"SELECT COUNT(*) FROM rows WHERE view = ? AND skey {compare} ?", (view, position)
            ).fetchone()[0]
            assert ranks.rank(conn, view, position, inclusive=inclusive) == expected


@settings(max_examples=60, deadline=None)
@given(first=BATCHES, later=BATCHES, probes=st.lists(st.tuples(KEYS, DOC_IDS), max_size=10))
def test_ranks_equal_counts(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[dict[str, list[object]]],
    later: list[dict[str, list[object]]],
    probes: list[tuple[object, str]],
) -> None:
    with (
        pytest.MonkeyPatch.context() as patch,
        index_file(tmp_path_factory.mktemp("ranks")) as conn,
    ):
        patch.setattr(ranks, "BLOCK_ROWS", 3)
        state = storage.initialize(conn, "signature", ["v"], "collation")
        view = state.views["v"]
        seq = 0
        for phase in (first, later):
            for batch in phase:
                seq += 1
                added = [
                    (view, doc_id, stored_rows(doc_id, [[key, i] for i, key in enumerate(keys)]))
                    for doc_id, keys in batch.items()
                    if keys
                ]
                storage.apply(
                    conn,
                    storage.Batch(str(seq), "0", list(batch), added),
                    fresh=False,
                )
            storage.settle(conn)  # the end of an update: blocks cut after the first phase
        positions = [stored_rows(doc_id, [[key, 0]])[0][0] for key, doc_id in probes]
        check(conn, view, [*positions, b"", b"\xff"])
