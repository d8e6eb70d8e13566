"""Versioned document migrations: how a document written by an older Brainlink reaches the
schema the code reads (``schemaVersion``).

A migration is a pure function from a body at version ``n - 1`` to the body at version ``n``
of one entity type. ``Migrations.upgrade`` applies, in order, those between the document's
version and the target; each step sets ``schemaVersion``. Rules every step keeps (the law tests
check them on every registered step): deterministic and free of clocks and randomness, so two
devices migrating the same revision write byte-identical bodies, hence the same revision id
(revision ids are digests of the body), and replicating both adds no conflict; and idempotent
by construction, since a document already at the target is returned as it is. Fields a step
does not know are kept, the merger's ``$merge`` included (the change then reads, to the merger,
as a plain edit of that revision).

Documents newer than the code (``schemaVersion`` above what it knows) are returned unchanged:
an older device must not rewrite what a newer one wrote; the repositories refuse to update them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.models.registry import ENTITIES

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """``type``'s documents from ``version - 1`` to ``version``: ``apply`` may change its
    argument (it gets a copy)."""

    type: str
    version: int
    apply: Callable[[Body], Body]
    description: str


@dataclass(slots=True)
class Migrations:
    steps: dict[tuple[str, int], Migration] = field(default_factory=dict)

    def register(self, migration: Migration) -> Migration:
        key = (migration.type, migration.version)
        if key in self.steps:
            raise ValueError(f"{migration.type} already has a migration to {migration.version}")
        self.steps[key] = migration
        return migration

    def current(self, type_name: str) -> int:
        """The version ``type_name``'s documents reach (1 when nothing is registered)."""
        versions = [v for t, v in self.steps if t == type_name]
        return max(versions, default=1)

    def needs(self, doc: Mapping[str, Any], to: int | None = None) -> bool:
        """Whether ``upgrade`` would change ``doc``."""
        kind = doc.get("type")
        if not isinstance(kind, str) or kind not in ENTITIES:
            return False
        version = _version(doc)
        return version < (self.current(kind) if to is None else to)

    def upgrade(self, doc: Mapping[str, Any], to: int | None = None) -> Body:
        """``doc`` at version ``to`` (default: the current one); a copy when anything changed."""
        if not self.needs(doc, to):
            return dict(doc)
        kind = doc["type"]
        target = self.current(kind) if to is None else to
        body = copy.deepcopy(dict(doc))
        for version in range(_version(doc) + 1, target + 1):
            step = self.steps.get((kind, version))
            if step is not None:
                body = step.apply(body)
            body["schemaVersion"] = version
        return body

    def pending(self, docs: Iterable[Mapping[str, Any]]) -> list[Body]:
        """The upgraded bodies of those of ``docs`` that need it."""
        return [self.upgrade(d) for d in docs if self.needs(d)]


def _version(doc: Mapping[str, Any]) -> int:
    version = doc.get("schemaVersion")
    # A typed document written before schemaVersion existed is at version 1.
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


MIGRATIONS = Migrations()


def _message_total_tokens(body: Body) -> Body:
    """Version 2 of a chat message: ``metadata.tokens.total`` is always there when prompt or
    completion counts are (version 1 clients left it out; the views sum it)."""
    tokens = (body.get("metadata") or {}).get("tokens")
    if isinstance(tokens, dict) and tokens.get("total") is None:
        parts = [tokens.get("prompt"), tokens.get("completion")]
        counted = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
        if counted:
            tokens["total"] = sum(counted)
    return body


def _settings_theme_auto(body: Body) -> Body:
    """Version 2 of user settings: the theme ``auto`` of version 1 clients is ``system``."""
    if body.get("theme") == "auto":
        body["theme"] = "system"
    return body


MIGRATIONS.register(
    Migration("chatMessage", 2, _message_total_tokens, "metadata.tokens.total filled in")
)
MIGRATIONS.register(Migration("userSettings", 2, _settings_theme_auto, "theme auto -> system"))
