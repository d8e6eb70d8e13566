"""The real CouchDB peer is there when CI says it is (``BRAINLINK_REQUIRE_COUCHDB=1``)."""

from __future__ import annotations

import aiohttp
from couch import CouchServer


async def test_real_couchdb_answers_as_couchdb_3(couchdb: CouchServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(couchdb.url + "/") as r:
        welcome = await r.json()
    assert welcome["couchdb"] == "Welcome"
    assert welcome["version"].startswith("3.")
