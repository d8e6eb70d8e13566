"""Secrets inside entities: an integration's credentials and an API key, sealed with the
document's own id as associated data (``credentials.seal``) before the entity exists, so no
store, log or replica ever holds them in the clear, and opened only on demand as a ``Secret``
that never shows itself."""

from __future__ import annotations

from typing import Any, Literal

from brainlink_docs.credentials import Key, Keyring, Secret, open_sealed, seal
from brainlink_docs.models.base import new_id, now_iso, owned_id
from brainlink_docs.models.users import ApiKey, Integration, Sealed


def sealed_integration(
    key: Key,
    user_id: str,
    provider: str,
    kind: Literal["oauth", "apiKey", "other"],
    secret: str,
    *,
    metadata: dict[str, Any] | None = None,
    entity_id: str | None = None,
    now: str | None = None,
) -> Integration:
    """A new integration whose credentials are ``secret`` sealed under ``key``."""
    fields = _new_sealed(key, user_id, Integration.COLLECTION, secret, entity_id, now)
    sealed = fields.pop("sealed")
    return Integration(
        provider=provider, kind=kind, metadata=metadata or {}, credentials=sealed, **fields
    )


def sealed_api_key(
    key: Key,
    user_id: str,
    name: str,
    secret: str,
    *,
    provider: str = "",
    entity_id: str | None = None,
    now: str | None = None,
) -> ApiKey:
    """A new API key entity holding ``secret`` sealed under ``key``."""
    fields = _new_sealed(key, user_id, ApiKey.COLLECTION, secret, entity_id, now)
    sealed = fields.pop("sealed")
    return ApiKey(name=name, provider=provider, key=sealed, **fields)


def _new_sealed(
    key: Key, user_id: str, collection: str, secret: str, entity_id: str | None, now: str | None
) -> dict[str, Any]:
    """The fields every new sealed entity has, ``sealed`` under its own document id."""
    entity_id = entity_id or new_id()
    at = now or now_iso()
    sealed = Sealed.model_validate(seal(key, owned_id(user_id, collection, entity_id), secret))
    return {
        "id": entity_id,
        "user_id": user_id,
        "created_at": at,
        "updated_at": at,
        "sealed": sealed,
    }


def reseal(entity: Integration | ApiKey, key: Key, secret: str) -> None:
    """Replace the entity's secret (a new token), sealed with a fresh nonce."""
    sealed = Sealed.model_validate(seal(key, entity.doc_id(), secret))
    if isinstance(entity, Integration):
        entity.credentials = sealed
    else:
        entity.key = sealed


def secret_of(entity: Integration | ApiKey, keyring: Keyring) -> Secret:
    """The entity's secret (``KeyNotLoaded``/``SealBroken`` when it does not open here)."""
    sealed = entity.credentials if isinstance(entity, Integration) else entity.key
    return open_sealed(keyring, entity.doc_id(), sealed.model_dump())
