"""The design documents behind every query the repositories make: ``_design/brainlink``'s views
and the Mango indexes, as JSON files shipped with the package (``design/``; the repository's
``design_docs/couchdb`` shows the same files). They are ordinary design documents: pushed to a
device's store or a server with ``push_design`` (``brainlink-docs push-design``), replicated
with the data, and answered the same by our engine, a real CouchDB and PouchDB.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import DocumentStore

VIEWS_DDOC = "brainlink"


def _read(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath("design", name).read_text())


def views_design() -> dict[str, Any]:
    """``_design/brainlink``: the map functions of the app's queries."""
    doc: dict[str, Any] = _read("brainlink.json")
    return doc


def mango_indexes() -> list[dict[str, Any]]:
    """The Mango index definitions, as ``POST /{db}/_index`` takes them."""
    indexes: list[dict[str, Any]] = _read("mango-indexes.json")
    return indexes


async def push_design(store: DocumentStore) -> list[str]:
    """Install or update every design document and index; answers the ids written (none when
    the store already had them all, so pushing again changes nothing and rebuilds nothing)."""
    written = []
    wanted = views_design()
    try:
        current = await store.get(wanted["_id"])
    except NotFound:
        current = None
    if current is None or _body(current) != _body(wanted):
        if current is not None:
            wanted = {**wanted, "_rev": current["_rev"]}
        await store.put(wanted)
        written.append(wanted["_id"])
    for index in mango_indexes():
        answer = await store.create_index(index)
        if answer.get("result") == "created":
            written.append(answer["id"])
    return written


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") or k == "_id"}
