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
from brainlink_docs.merge.sources import POLICIES_DDOC, POLICIES_FIELD
from brainlink_docs.models.registry import POLICIES
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
    the store already had them all, so pushing again changes nothing and rebuilds nothing).

    Also the entities' merge policies, as ``_design/merge``'s ``merge_policies`` (a server
    running the background resolver reads them there; other types' policies already in it
    stay), so conflicts replicated into any of our stores merge by each entity's policy."""
    written = []
    views = views_design()
    merge = await _current(store, POLICIES_DDOC)
    for wanted, current in (
        (views, await _current(store, views["_id"])),
        (_with_our_policies(merge), merge),
    ):
        if await _put_if_changed(store, wanted, current):
            written.append(wanted["_id"])
    for index in mango_indexes():
        answer = await store.create_index(index)
        if answer.get("result") == "created":
            written.append(answer["id"])
    return written


async def _current(store: DocumentStore, doc_id: str) -> dict[str, Any] | None:
    try:
        return await store.get(doc_id)
    except NotFound:
        return None


async def _put_if_changed(
    store: DocumentStore, wanted: dict[str, Any], current: dict[str, Any] | None
) -> bool:
    if current is not None and _body(current) == _body(wanted):
        return False
    if current is not None:
        wanted = {**wanted, "_rev": current["_rev"]}
    await store.put(wanted)
    return True


def _with_our_policies(current: dict[str, Any] | None) -> dict[str, Any]:
    """``_design/merge`` with the entities' policies added to whatever it holds."""
    current = current or {"_id": POLICIES_DDOC}
    theirs = current.get(POLICIES_FIELD)
    ours = POLICIES.to_json()
    if isinstance(theirs, dict) and isinstance(theirs.get("types"), dict):
        ours = {**theirs, "types": {**theirs["types"], **ours["types"]}}
    return {**_body(current), POLICIES_FIELD: ours}


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") or k == "_id"}
