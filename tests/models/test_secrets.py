"""Sealed secrets in entities: stored sealed on every backend, opened only with the key and
under the entity's own id, never in the clear in the store's answers."""

from __future__ import annotations

import orjson
import pytest

from brainlink_docs.credentials import Key, KeyNotLoaded, Keyring, SealBroken
from brainlink_docs.models import Brainlink
from brainlink_docs.models.secrets import reseal, sealed_api_key, sealed_integration, secret_of
from brainlink_docs.store.api import DocumentStore

TOKEN = "ghp_very-secret-token-1234"


async def test_an_integrations_credentials_are_sealed_at_rest(store: DocumentStore) -> None:
    key = Key.generate()
    app = Brainlink(store)
    made = await app.integrations.create(sealed_integration(key, "ana", "github", "oauth", TOKEN))
    raw = await store.get(made.doc_id())
    assert TOKEN not in orjson.dumps(raw).decode()
    assert raw["credentials"]["alg"] == "A256GCM"
    read = await app.integrations.get(made.doc_id())
    assert secret_of(read, Keyring([key])).reveal() == TOKEN
    assert TOKEN not in repr(secret_of(read, Keyring([key])))
    with pytest.raises(KeyNotLoaded):
        secret_of(read, Keyring([Key.generate()]))
    reseal(read, key, "rotated-token")
    updated = await app.integrations.update(read)
    assert secret_of(await app.integrations.get(updated.doc_id()), Keyring([key])).reveal() == (
        "rotated-token"
    )


def test_a_sealed_key_copied_into_another_entity_does_not_open() -> None:
    key = Key.generate()
    one = sealed_api_key(key, "ana", "openai", TOKEN)
    other = sealed_api_key(key, "ana", "anthropic", "other-secret")
    other.key = one.key
    with pytest.raises(SealBroken):
        secret_of(other, Keyring([key]))
    assert secret_of(one, Keyring([key])).reveal() == TOKEN
