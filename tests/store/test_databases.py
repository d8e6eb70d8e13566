"""``SqliteDatabases``: the set of databases a server holds.

Its listing is kept in memory after one directory read; a law checks it against a model over
any sequence of creates and deletes, names with slashes and non-ASCII included, and against a
fresh instance reading the same directory (what a restart sees). The LRU keeps at most
``max_open`` stores open however many databases are used.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import FileExists, NotFound
from brainlink_docs.store.sqlite.databases import SqliteDatabases

NAMES = st.sampled_from(["a", "b", "a/b", "a-b", "z9", "b$c", "a(1)", "b+c", "c_d"])
steps = st.lists(st.tuples(st.sampled_from(["create", "delete"]), NAMES), max_size=25)


def byte_order(names: set[str]) -> list[str]:
    return sorted(names, key=str.encode)


@settings(max_examples=40, deadline=None)
@given(steps)
def test_listing_follows_creates_and_deletes_and_survives_a_restart(
    ops: list[tuple[str, str]],
) -> None:
    async def run(root: Path) -> None:
        databases = SqliteDatabases(root, max_open=3)
        await databases.list()  # the listing is read before the changes, then kept
        model: set[str] = set()
        for op, name in ops:
            if op == "create":
                try:
                    await databases.create(name)
                    model.add(name)
                except FileExists:
                    assert name in model
            else:
                try:
                    await databases.delete(name)
                    model.discard(name)
                except NotFound:
                    assert name not in model
            assert await databases.list() == byte_order(model)
        assert databases.open_count <= 3
        await databases.close()
        reopened = SqliteDatabases(root)
        assert await reopened.list() == byte_order(model)
        await reopened.close()

    with tempfile.TemporaryDirectory() as root:
        asyncio.run(run(Path(root)))
