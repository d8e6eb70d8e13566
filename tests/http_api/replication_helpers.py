"""What the tests of the server's replication jobs share: a plain client session and fresh
database names (CouchDB may still hold a just-deleted database's shard, so a name is used once).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A session without credentials: each request names its server and user in its URL."""
    async with aiohttp.ClientSession() as session:
        yield session


def fresh(name: str) -> str:
    """A database or document name used once."""
    return f"{name}-{uuid.uuid4().hex[:10]}"
