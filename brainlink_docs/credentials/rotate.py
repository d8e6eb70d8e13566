"""Key rotation: every sealed value of a database re-sealed under a new key.

The walk reads ``_all_docs`` with ``include_docs`` a page at a time (``store.api``'s
``all_docs_pages``: each page starts at the last id of the one before), finds the sealed values
at any depth of each document, opens them with the keyring (the old keys) and seals them again
under the new key with a fresh nonce and the same document id. The changed documents of a page
are written with one ``bulk_docs``. A conflicted document's losing leaves are re-sealed too
(each written on its own branch), so resolving the conflict later cannot bring back a value only
the old key opens.

Resuming is re-running: a value already under the new key's ``kid`` is left alone, so a rotation
stopped half-way (a crash, a lost connection, Ctrl-C) finishes by being started again. A write
that conflicts with a concurrent edit is counted, not retried: the next run re-seals it. A value
that does not open (its key is not loaded, or it was altered) is reported with its document id
and the document is left as it is; nothing else stops the walk.

Only ``store.api``: the same rotation runs on an embedded file, our server or a CouchDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.credentials.cipher import is_sealed, open_sealed, seal
from brainlink_docs.credentials.errors import CredentialError
from brainlink_docs.credentials.keys import Key, Keyring
from brainlink_docs.errors import Conflict, CouchError, Unavailable
from brainlink_docs.store.api import (
    AllDocsQuery,
    Doc,
    DocumentStore,
    ReadOptions,
    all_docs_pages,
)

# Documents per page and per bulk_docs: CouchDB's own default batch for replication.
DEFAULT_BATCH = 500


@dataclass(frozen=True, slots=True)
class RotationFailure:
    """A document the rotation could not finish: why, in words that carry no secret."""

    id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "reason": self.reason}


@dataclass(slots=True)
class RotationReport:
    """What a rotation did, as it goes (the progress callback sees it after each page)."""

    kid: str
    docs_total: int | None = None
    docs_scanned: int = 0
    docs_written: int = 0
    values_resealed: int = 0
    # Values found already under the new key: sealed by it, or by an earlier, stopped run.
    values_current: int = 0
    conflicts: list[str] = field(default_factory=list)
    failures: list[RotationFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every sealed value of the database is now under the new key."""
        return not self.conflicts and not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kid": self.kid,
            "docs_scanned": self.docs_scanned,
            "docs_written": self.docs_written,
            "values_resealed": self.values_resealed,
            "values_current": self.values_current,
            "conflicts": list(self.conflicts),
            "failures": [f.to_json() for f in self.failures],
        }


OnProgress = Callable[[RotationReport], None]


@dataclass(slots=True)
class _Resealed:
    """One document body with its sealed values under the new key, and how many changed."""

    doc: Doc
    resealed: int = 0
    current: int = 0


async def rotate_key(
    store: DocumentStore,
    keyring: Keyring,
    new_key: Key,
    *,
    batch: int = DEFAULT_BATCH,
    progress: OnProgress | None = None,
) -> RotationReport:
    """Re-seal every sealed value of ``store`` under ``new_key``; ``keyring`` opens the old."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    report = RotationReport(kid=new_key.kid, docs_total=(await store.info()).doc_count)
    query = AllDocsQuery(include_docs=True, conflicts=True)
    async for rows in all_docs_pages(store, query, batch):
        changed: list[_Resealed] = []
        conflicted: list[tuple[str, list[str]]] = []
        for row in rows:
            doc = row.get("doc")
            if doc is None:
                continue
            report.docs_scanned += 1
            done = _reseal_or_report(doc, keyring, new_key, report)
            if done is not None and done.resealed:
                changed.append(done)
            if doc.get("_conflicts"):
                conflicted.append((doc["_id"], list(doc["_conflicts"])))
        await _write(store, changed, report)
        for doc_id, revs in conflicted:
            await _rotate_losing_leaves(store, doc_id, revs, keyring, new_key, report)
        if progress is not None:
            progress(report)
    return report


def reseal_document(doc: Doc, keyring: Keyring, new_key: Key) -> tuple[Doc, int, int]:
    """``doc`` with each sealed value at any depth under ``new_key`` (metadata fields, those
    starting ``_``, untouched); also the counts re-sealed and found already current.
    ``CredentialError`` when a value does not open."""
    done = _Resealed(doc={})
    doc_id = doc["_id"]
    done.doc = {
        name: value if name.startswith("_") else _reseal(value, doc_id, keyring, new_key, done)
        for name, value in doc.items()
    }
    return done.doc, done.resealed, done.current


def _reseal(value: Any, doc_id: str, keyring: Keyring, new_key: Key, done: _Resealed) -> Any:
    if is_sealed(value):
        if value["kid"] == new_key.kid:
            done.current += 1
            return value
        secret = open_sealed(keyring, doc_id, value)
        done.resealed += 1
        return seal(new_key, doc_id, secret.reveal())
    if isinstance(value, dict):
        return {k: _reseal(v, doc_id, keyring, new_key, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_reseal(v, doc_id, keyring, new_key, done) for v in value]
    return value


def _reseal_or_report(
    doc: Doc, keyring: Keyring, new_key: Key, report: RotationReport
) -> _Resealed | None:
    try:
        body, resealed, current = reseal_document(doc, keyring, new_key)
    except CredentialError as exc:
        report.failures.append(RotationFailure(doc["_id"], exc.reason))
        return None
    report.values_current += current
    # A winner read with conflicts=true names its losing leaves; they are not part of the body.
    body.pop("_conflicts", None)
    return _Resealed(body, resealed, current)


async def _write(store: DocumentStore, changed: list[_Resealed], report: RotationReport) -> None:
    if not changed:
        return
    results = await store.bulk_docs([done.doc for done in changed])
    for done, result in zip(changed, results, strict=True):
        if result.ok:
            report.docs_written += 1
            report.values_resealed += done.resealed
        elif result.error == "conflict":
            report.conflicts.append(result.id)
        else:
            report.failures.append(RotationFailure(result.id, f"{result.error}: {result.reason}"))


async def _rotate_losing_leaves(
    store: DocumentStore,
    doc_id: str,
    revs: list[str],
    keyring: Keyring,
    new_key: Key,
    report: RotationReport,
) -> None:
    """Each losing leaf of a conflicted document re-sealed by an edit on its own branch (one
    ``put`` each: one ``bulk_docs`` with two edits of one id is not the same on every server)."""
    for rev in revs:
        leaf = await store.get(doc_id, rev, ReadOptions())
        done = _reseal_or_report(leaf, keyring, new_key, report)
        if done is None or not done.resealed:
            continue
        try:
            await store.put(done.doc)
        except Conflict:
            report.conflicts.append(doc_id)
            continue
        except Unavailable:
            raise  # the server went away: the whole run stops (and resumes when re-run)
        except CouchError as exc:  # refused (forbidden, validation): that document only
            report.failures.append(RotationFailure(doc_id, f"{exc.error}: {exc.reason}"))
            continue
        report.docs_written += 1
        report.values_resealed += done.resealed
