"""Laws of the typed entities: a model becomes a document and back unchanged, documents look as
the data model says (camelCase, ``type``, ``schemaVersion``, ids by owner and parent), and a
document that is not its entity is refused with a reason naming the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.merge.policies import Policies
from brainlink_docs.models import ENTITIES, POLICIES, Entity, load, refusal
from brainlink_docs.models.base import owned_id
from brainlink_docs.models.registry import entity_class

from .strategies import entities, entity_bodies

# Fields naming the parent whose document id a child's id extends.
PARENTS = {
    "panel": ("workspace", "workspaceId"),
    "chatMessage": ("chat", "chatId"),
    "directory": ("fs", "fileSystemId"),
    "file": ("fs", "fileSystemId"),
    "pipelineNode": ("pipeline", "pipelineId"),
    "pipelineEdge": ("pipeline", "pipelineId"),
    "permission": ("plugin", "pluginId"),
}


def stored(entity: Entity) -> dict[str, Any]:
    """The document as a store hands it back (through JSON bytes)."""
    return orjson.loads(orjson.dumps(entity.to_doc()))


@given(entities)
def test_an_entity_survives_becoming_a_document_and_back(entity: Entity) -> None:
    doc = stored(entity)
    again = load(doc)
    assert again == entity
    assert stored(again) == doc


@given(entities)
def test_documents_carry_type_version_and_camel_case_fields(entity: Entity) -> None:
    doc = stored(entity)
    assert doc["type"] == entity.TYPE
    assert doc["schemaVersion"] == entity.SCHEMA_VERSION
    assert all(k == "_id" or "_" not in k for k in doc), doc


@given(entities)
def test_ids_keep_a_users_documents_and_a_parents_children_together(entity: Entity) -> None:
    doc = stored(entity)
    if entity.TYPE == "auditLogEntry":
        return
    assert doc["_id"].startswith(f"u/{doc.get('userId', doc['id'])}")
    if entity.TYPE in PARENTS:
        collection, field = PARENTS[entity.TYPE]
        assert doc["_id"].startswith(owned_id(doc["userId"], collection, doc[field]) + "/")


@given(
    entities,
    st.text(min_size=1, max_size=8).filter(lambda k: k[0] not in "_$"),
    st.integers(-(2**53), 2**53),
)
def test_fields_the_model_does_not_know_are_kept(entity: Entity, key: str, value: int) -> None:
    doc = stored(entity)
    if key in doc or key in {f.alias for f in type(entity).model_fields.values()}:
        return
    doc[key] = value
    assert stored(load(doc))[key] == value


@pytest.mark.parametrize("type_name", sorted(ENTITIES))
@given(data=st.data())
def test_a_wrong_field_is_refused_naming_it(type_name: str, data: st.DataObject) -> None:
    doc = stored(ENTITIES[type_name].model_validate(data.draw(entity_bodies(type_name))))
    required = ENTITIES[type_name].model_json_schema(by_alias=True)["required"]
    field = data.draw(st.sampled_from(sorted(required)))
    doc[field] = {"not": ["what", "it", "should", "be"]}
    reason = refusal(doc)
    assert reason is not None and field in reason and type_name in reason


@given(entities)
def test_a_document_under_another_id_is_refused(entity: Entity) -> None:
    doc = stored(entity)
    if entity.TYPE == "auditLogEntry":
        return
    doc["_id"] = doc["_id"] + "x"
    reason = refusal(doc)
    assert reason is not None and "id" in reason


@given(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_untyped_documents_and_deletions_pass(body: dict[str, Any]) -> None:
    body.pop("type", None)
    assert refusal({"_id": "x", **body}) is None
    assert refusal({"_id": "u/x/workspace/y", "_deleted": True, "type": "workspace"}) is None


def test_every_entity_declares_its_merge_policy() -> None:
    for name, cls in ENTITIES.items():
        assert entity_class({"type": name}) is cls
        assert POLICIES.for_doc({"type": name}) is cls.POLICY
    assert Policies.from_json(orjson.loads(orjson.dumps(POLICIES.to_json()))) == POLICIES
    assert POLICIES.by_type["chat"].crdts == {"/tokenUsage": "counter"}
    assert POLICIES.by_type["chatMessage"].strategy == "lww"
    assert POLICIES.by_type["userSettings"].keyed_lists == ("/workspaceLayout/panels",)
