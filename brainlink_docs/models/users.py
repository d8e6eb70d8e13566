"""A user, their settings and their integrations (the data model's user domain).

``User.settings`` and ``User.integrations`` of the TypeScript interface are documents of their
own (``u/{userId}/settings``, ``u/{userId}/integration/{id}``), as the SQL schema's
``user_settings`` and ``integrations`` tables are: settings change often on every device and
must not conflict with the profile; integrations are added and removed one by one.
Credentials are sealed values (``models.credentials`` opens them), never plaintext.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from brainlink_docs.merge.policies import Policy
from brainlink_docs.models.base import Entity, EntityId, Owned, Part, Timestamp, user_doc_id


class Sealed(Part):
    """A secret encrypted with AES-256-GCM: the data model's ``{encrypted, iv}``, with the
    algorithm and the id of the key that sealed it."""

    alg: Literal["A256GCM"]
    kid: str
    iv: str
    encrypted: str


class User(Entity):
    TYPE: ClassVar[str] = "user"
    type: Literal["user"] = "user"
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str
    avatar_url: str | None = None
    updated_at: Timestamp

    def doc_id(self) -> str:
        return user_doc_id(self.id)


class EditorConfig(Part):
    font_size: float = 14
    tab_size: int = 2
    font_family: str = "monospace"
    line_height: float = 1.5
    word_wrap: bool = False


class TerminalConfig(Part):
    font_size: float = 14
    font_family: str = "monospace"
    shell_path: str | None = None


class LlmPreferences(Part):
    default_provider: str = ""
    default_model: str = ""
    default_temperature: float = 0.7


class PanelConfig(Part):
    """A panel as a saved layout remembers it (records keyed by ``id``: the merger merges the
    list record by record)."""

    id: EntityId
    kind: str
    position: dict[str, float] = Field(default_factory=dict)
    size: dict[str, float] = Field(default_factory=dict)


class WorkspaceLayout(Part):
    panels: list[PanelConfig] = Field(default_factory=list)


class UserSettings(Entity):
    """One per user (``id`` is the user's id)."""

    TYPE: ClassVar[str] = "userSettings"
    SCHEMA_VERSION: ClassVar[int] = 2  # models.migrations
    # Each setting is its own field: two devices changing two settings keep both; the saved
    # layout's panels merge record by record.
    POLICY: ClassVar[Policy] = Policy("fields", keyed_lists=("/workspaceLayout/panels",))
    type: Literal["userSettings"] = "userSettings"
    user_id: EntityId
    theme: Literal["light", "dark", "system"] = "system"
    editor_config: EditorConfig = Field(default_factory=EditorConfig)
    terminal_config: TerminalConfig = Field(default_factory=TerminalConfig)
    llm_preferences: LlmPreferences = Field(default_factory=LlmPreferences)
    workspace_layout: WorkspaceLayout | None = None
    updated_at: Timestamp

    def doc_id(self) -> str:
        return f"{user_doc_id(self.user_id)}/settings"

    @model_validator(mode="after")
    def _one_per_user(self) -> UserSettings:
        if self.id != self.user_id:
            raise ValueError("a user's settings have the user's id")
        return self


class Integration(Owned):
    TYPE: ClassVar[str] = "integration"
    COLLECTION: ClassVar[str] = "integration"
    # A sealed credential is one value: merging its nonce from one edit with its ciphertext
    # from another would not open. The latest edit wins whole.
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["integration"] = "integration"
    provider: str = Field(min_length=1)
    kind: Literal["oauth", "apiKey", "other"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    credentials: Sealed


class ApiKey(Owned):
    """An API key for an LLM provider or service, sealed (the data model's ``api_keys``)."""

    TYPE: ClassVar[str] = "apiKey"
    COLLECTION: ClassVar[str] = "apiKey"
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["apiKey"] = "apiKey"
    name: str = Field(min_length=1)
    provider: str = ""
    key: Sealed
