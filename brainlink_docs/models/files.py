"""Virtual file systems, directories and files (the data model's file domain).

A directory's ``children`` and a file system's ``rootDirectory`` are documents of their own
(``{file system doc id}/dir/{id}`` and ``…/file/{id}``), found by the ``children`` and
``by_path`` views; a directory names its ``parentId`` (none for the root) and both name the
``fileSystemId``. A file's text is inline up to ``INLINE_TEXT_LIMIT`` bytes; larger text and
binary content are the document's ``content`` attachment (never base64 in the body, which
would be replicated and indexed with every edit of the file's metadata).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from brainlink_docs.merge.policies import Policy
from brainlink_docs.models.base import EntityId, Owned, Part, Timestamp

# Text up to this many UTF-8 bytes lives in the document; beyond it, in an attachment.
INLINE_TEXT_LIMIT = 64 * 1024
CONTENT_ATTACHMENT = "content"

SourceStatus = Literal["unchanged", "modified", "added", "deleted", "conflict"]


class VirtualFileSystem(Owned):
    TYPE: ClassVar[str] = "fileSystem"
    COLLECTION: ClassVar[str] = "fs"
    type: Literal["fileSystem"] = "fileSystem"
    name: str = Field(min_length=1)
    kind: Literal["local", "remote", "git"] = "local"
    root_directory_id: EntityId | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SourceControl(Part):
    status: SourceStatus | None = None
    diff: str | None = None


class DirectoryMetadata(Part):
    is_expanded: bool | None = None
    is_hidden: bool | None = None
    source_control: SourceControl | None = None


class Directory(Owned):
    TYPE: ClassVar[str] = "directory"
    COLLECTION: ClassVar[str] = "dir"
    PARENT: ClassVar[tuple[str, str] | None] = ("fs", "file_system_id")
    type: Literal["directory"] = "directory"
    file_system_id: EntityId
    name: str
    path: str = Field(pattern=r"^/")
    parent_id: EntityId | None = None
    metadata: DirectoryMetadata = Field(default_factory=DirectoryMetadata)


class FileContent(Part):
    """Inline text only: binary content is an attachment."""

    text: str | None = None

    @field_validator("text")
    @classmethod
    def _small(cls, text: str | None) -> str | None:
        if text is not None and len(text.encode()) > INLINE_TEXT_LIMIT:
            raise ValueError(
                f"inline text is at most {INLINE_TEXT_LIMIT} bytes: larger content is the "
                f"{CONTENT_ATTACHMENT!r} attachment"
            )
        return text


class FileMetadata(Part):
    last_opened: Timestamp | None = None
    is_temporary: bool | None = None
    is_synced: bool | None = None
    source_control: SourceControl | None = None


class File(Owned):
    TYPE: ClassVar[str] = "file"
    COLLECTION: ClassVar[str] = "file"
    PARENT: ClassVar[tuple[str, str] | None] = ("fs", "file_system_id")
    # A file's text, size and MIME type describe one version: merging the text of one edit
    # with the size of another would describe neither. The latest edit wins whole.
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["file"] = "file"
    file_system_id: EntityId
    parent_id: EntityId
    name: str
    path: str = Field(pattern=r"^/")
    kind: str = Field(min_length=1, description="the MIME type")
    size: int = Field(ge=0)
    content: FileContent | None = None
    metadata: FileMetadata = Field(default_factory=FileMetadata)

    @field_validator("content", mode="before")
    @classmethod
    def _no_base64(cls, value: Any) -> Any:
        if isinstance(value, dict) and ("base64" in value or "binary" in value):
            raise ValueError(
                f"binary content is the {CONTENT_ATTACHMENT!r} attachment, not base64 in the body"
            )
        return value
