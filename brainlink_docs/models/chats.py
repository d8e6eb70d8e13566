"""Chats, their messages and tool calls (the data model's LLM domain, conversations).

A chat's messages are documents of their own (``{chat doc id}/message/{id}``), ordered by
``sequence`` (the SQL schema's ``sequence_num``; ties, from two devices appending at once,
order by document id, the same on every replica). A message's tool calls stay inside it: they
are written with it. The chat's ``tokenUsage`` is a CRDT counter: each device adds its own
increments and no increment is lost or counted twice when copies cross.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from brainlink_docs.merge import crdt
from brainlink_docs.merge.policies import Policy
from brainlink_docs.models.base import EntityId, Owned, Part


class ChatSettings(Part):
    provider: str = ""
    model: str = ""
    temperature: float = 0.7
    max_tokens: int | None = None
    system_prompt: str | None = None


class Chat(Owned):
    TYPE: ClassVar[str] = "chat"
    COLLECTION: ClassVar[str] = "chat"
    POLICY: ClassVar[Policy] = Policy("fields", crdts={"/tokenUsage": "counter"})
    type: Literal["chat"] = "chat"
    title: str
    settings: ChatSettings = Field(default_factory=ChatSettings)
    # A PN counter ({"p": {replica: n}, "n": {...}}, merge.crdt): the tokens this chat used.
    token_usage: dict[str, dict[str, int]] = Field(default_factory=dict)

    @property
    def tokens_used(self) -> int:
        return crdt.counter_value(self.token_usage)

    def add_tokens(self, replica: str, tokens: int) -> None:
        """Count ``tokens`` more, as ``replica``'s increment."""
        self.token_usage = crdt.increment(self.token_usage, replica, tokens)


class ToolCall(Part):
    id: EntityId
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    status: Literal["pending", "success", "error"] = "pending"
    error: str | None = None


class Tokens(Part):
    prompt: int | None = Field(default=None, ge=0)
    completion: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)


class MessageMetadata(Part):
    tokens: Tokens | None = None
    model: str | None = None
    tool_calls: list[ToolCall] | None = None


class ChatMessage(Owned):
    TYPE: ClassVar[str] = "chatMessage"
    COLLECTION: ClassVar[str] = "message"
    PARENT: ClassVar[tuple[str, str] | None] = ("chat", "chat_id")
    SCHEMA_VERSION: ClassVar[int] = 2  # models.migrations
    # A message's text is one value: two devices editing it keep the latest edit whole.
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["chatMessage"] = "chatMessage"
    chat_id: EntityId
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    sequence: int = Field(ge=0)
    metadata: MessageMetadata | None = None


class Tool(Part):
    """A tool an LLM may call, as a plugin declares it (its handler is code, not data)."""

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
