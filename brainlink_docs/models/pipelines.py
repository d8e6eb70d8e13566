"""Prompt pipelines, their nodes and edges (the data model's LLM domain, pipelines).

Nodes and edges are documents of their own under the pipeline's id (``…/node/{id}``,
``…/edge/{id}``), so one ``_all_docs`` range — or the ``pipeline_graph`` view — reads a
pipeline whole, and two devices adding nodes never conflict. Deleting a node deletes the edges
that touch it (the SQL schema's ``ON DELETE CASCADE`` on ``source_id``/``target_id``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from brainlink_docs.merge.policies import Policy
from brainlink_docs.models.base import EntityId, Owned, Part


class PromptPipeline(Owned):
    TYPE: ClassVar[str] = "pipeline"
    COLLECTION: ClassVar[str] = "pipeline"
    type: Literal["pipeline"] = "pipeline"
    name: str = Field(min_length=1)
    description: str | None = None


class NodePosition(Part):
    x: float
    y: float


class PipelineNode(Owned):
    TYPE: ClassVar[str] = "pipelineNode"
    COLLECTION: ClassVar[str] = "node"
    PARENT: ClassVar[tuple[str, str] | None] = ("pipeline", "pipeline_id")
    type: Literal["pipelineNode"] = "pipelineNode"
    pipeline_id: EntityId
    kind: str = Field(min_length=1)
    position: NodePosition
    data: dict[str, Any] = Field(default_factory=dict)


class PipelineEdge(Owned):
    TYPE: ClassVar[str] = "pipelineEdge"
    COLLECTION: ClassVar[str] = "edge"
    PARENT: ClassVar[tuple[str, str] | None] = ("pipeline", "pipeline_id")
    # An edge is its two ends: a re-wired end from one device and the other end from another
    # would connect nodes neither meant. The latest edit wins whole.
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["pipelineEdge"] = "pipelineEdge"
    pipeline_id: EntityId
    source: EntityId
    target: EntityId
