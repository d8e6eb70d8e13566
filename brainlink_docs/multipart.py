"""MIME multipart as CouchDB speaks it, both ways, as pure functions over bytes.

Attachments travel as their stored bytes (gzip for compressible types, with the digest of the
gzip bytes) only in multipart bodies, so the server, which answers them, and ``HttpStore``,
which reads them from CouchDB and writes them to it, share this module:

- writing: ``mixed_body`` (parts in one body), ``related_body`` (one document whose
  ``follows`` attachments carry their bytes in ``data``, as ``ReadOptions(follows=True)``
  reads them: JSON first, then each attachment, gzip ones marked ``Content-Encoding: gzip``,
  as ``couch_doc:doc_to_multi_part_stream``), ``doc_part``/``error_part`` (``open_revs`` and
  ``_bulk_get`` entries of a ``multipart/mixed`` answer);
- reading: ``split_parts`` splits a body exactly, byte for byte, on its RFC 2046 delimiters
  (a MIME library may rewrite line endings inside binary parts), ``related_doc``/``part_doc``
  turn parts back into documents with their attachments' bytes in ``data``.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from brainlink_docs.canonical import attachment_digest
from brainlink_docs.errors import Unavailable
from brainlink_docs.store.encoding import GZIP, gunzip_bytes, gzip_length

Part = tuple[dict[str, str], bytes]


def mixed_body(parts: Sequence[tuple[dict[str, str], bytes]]) -> tuple[bytes, str]:
    """Encode parts (headers, body) as one multipart/mixed body; returns (body, boundary)."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for headers, body in parts:
        chunks.append(f"--{boundary}\r\n".encode())
        for name, value in headers.items():
            chunks.append(f"{name}: {value}\r\n".encode())
        chunks.append(b"\r\n")
        chunks.append(body)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--".encode())
    return b"".join(chunks), boundary


def related_body(doc: dict[str, Any]) -> tuple[bytes, str] | None:
    """``doc`` as a ``multipart/related`` body and its content type, when any attachment
    follows (read with ``ReadOptions(follows=True)``: its ``data`` holds the stored bytes)."""
    atts = doc.get("_attachments")
    following = [name for name, spec in (atts or {}).items() if spec.get("follows")]
    if not following:
        return None
    assert atts is not None
    json_atts = {
        n: {k: v for k, v in spec.items() if k != "data"} if n in following else spec
        for n, spec in atts.items()
    }
    parts: list[Part] = [
        ({"Content-Type": "application/json"}, orjson.dumps({**doc, "_attachments": json_atts}))
    ]
    for name in following:
        spec = atts[name]
        data: bytes = spec["data"]
        headers = {
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Type": spec["content_type"],
            "Content-Length": str(len(data)),
        }
        if spec.get("encoding"):
            headers["Content-Encoding"] = spec["encoding"]
        parts.append((headers, data))
    body, boundary = mixed_body(parts)
    return body, f'multipart/related; boundary="{boundary}"'


def doc_part(doc: dict[str, Any], headers: dict[str, str] | None = None) -> Part:
    """One document as a part of a ``multipart/mixed`` answer (nested related when needed)."""
    related = related_body(doc)
    if related is None:
        return {"Content-Type": "application/json", **(headers or {})}, orjson.dumps(doc)
    body, content_type = related
    return {"Content-Type": content_type, **(headers or {})}, body


def error_part(error: dict[str, Any]) -> Part:
    """A revision that could not be read, flagged ``error="true"`` as CouchDB does."""
    return {"Content-Type": 'application/json; error="true"'}, orjson.dumps(error)


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type (quoted or not)."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            return value.strip().strip('"')
    return None


def split_parts(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body: lower-cased headers and exact payload bytes."""
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0 or (start > 0 and body[start - 2 : start] != b"\r\n"):
        raise Unavailable("multipart answer without its boundary")
    parts: list[Part] = []
    pos = start + len(delimiter)
    while not body.startswith(b"--", pos):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            raise Unavailable("multipart answer cut short")
        pos = line_end + 2
        end = body.find(b"\r\n" + delimiter, pos - 2)
        if end < pos - 2:
            raise Unavailable("multipart answer cut short")
        parts.append(_part(body[pos:end] if end >= pos else b""))
        pos = end + 2 + len(delimiter)
    return parts


def _part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n"):
        return {}, raw[2:]
    head, separator, payload = raw.partition(b"\r\n\r\n")
    if not separator:
        return _headers(raw), b""
    return _headers(head), payload


def _headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            key = name.decode("latin-1").strip().lower()
            headers[key] = value.decode("utf-8", "replace").strip()
    return headers


def related_doc(body: bytes, content_type: str) -> dict[str, Any]:
    """A ``multipart/related`` document: JSON first, then each ``follows`` attachment's bytes
    (in the order the entries appear), set as ``data`` beside ``follows: true``."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise Unavailable("multipart/related answer without a boundary")
    parts = split_parts(body, boundary)
    if not parts:
        raise Unavailable("empty multipart/related answer")
    doc: dict[str, Any] = orjson.loads(parts[0][1])
    atts = doc.get("_attachments") or {}
    following = [name for name, spec in atts.items() if spec.get("follows")]
    if len(following) > len(parts) - 1:
        raise Unavailable(f"multipart answer for {doc.get('_id')} lacks attachment parts")
    for name, part in zip(following, parts[1:], strict=False):
        atts[name]["data"] = part[1]
    return doc


def part_doc(headers: dict[str, str], payload: bytes) -> dict[str, Any]:
    """One part of a ``multipart/mixed`` answer: ``{"ok": doc}`` or the error it carries."""
    content_type = headers.get("content-type", "application/json")
    if content_type.startswith("multipart/related"):
        return {"ok": related_doc(payload, content_type)}
    value = orjson.loads(payload)
    if 'error="true"' in content_type.replace(" ", ""):
        return {"error": value}
    return {"ok": value}


def following(doc: dict[str, Any]) -> dict[str, Any]:
    """A JSON answer's inline attachments in the ``follows`` shape (for servers that answer
    JSON where multipart was asked for): clear bytes, so no encoding and no digest, which the
    target computes again from what it stores."""
    for spec in (doc.get("_attachments") or {}).values():
        data = spec.pop("data", None)
        if not isinstance(data, str):
            continue
        for member in ("digest", "encoding", "encoded_length"):
            spec.pop(member, None)
        spec["data"] = base64.b64decode(data)
        spec["follows"] = True
    return doc


def has_gzip_attachments(doc: object) -> bool:
    """Whether any attachment of ``doc`` carries raw gzip bytes, which only a multipart body
    can carry as they are."""
    atts = doc.get("_attachments") if isinstance(doc, dict) else None
    return isinstance(atts, dict) and any(
        isinstance(spec, dict) and isinstance(spec.get("data"), bytes) and _gzip(spec)
        for spec in atts.values()
    )


def _gzip(spec: dict[str, Any]) -> bool:
    return bool(spec.get("encoding") == GZIP)


def _raw(spec: object) -> bool:
    return isinstance(spec, dict) and isinstance(spec.get("data"), bytes)


def _raw_clear(spec: object) -> bool:
    return _raw(spec) and not _gzip(spec)  # type: ignore[arg-type]


def mismatched_digest(doc: Any) -> str | None:
    """The name of an attachment whose raw clear bytes come with a digest that is not theirs
    (``inline_clear`` drops such digests, so they are checked before the write)."""
    atts = doc.get("_attachments") if isinstance(doc, dict) else None
    for name, spec in (atts or {}).items() if isinstance(atts, dict) else ():
        digest = spec.get("digest") if _raw_clear(spec) else None
        if isinstance(digest, str) and digest and digest != attachment_digest(spec["data"]):
            return str(name)
    return None


def inline_clear(doc: Any) -> Any:
    """``doc`` for a JSON body: raw clear attachment bytes become base64 ``data`` (every
    CouchDB-compatible server takes that, and computes the digest of what it stores)."""
    return _inline(doc, _raw_clear)


def inline_decoded(doc: Any) -> Any:
    """``doc`` for a server that cannot store encoded bytes as given: every raw attachment,
    gzip ones decompressed, becomes base64 ``data`` of its clear bytes (the server computes
    its own digest, as for any new attachment)."""
    return _inline(doc, _raw)


def _inline(doc: Any, chosen: Callable[[object], bool]) -> Any:
    atts = doc.get("_attachments") if isinstance(doc, dict) else None
    if not isinstance(atts, dict) or not any(map(chosen, atts.values())):
        return doc
    converted = {}
    for name, spec in atts.items():
        if chosen(spec):
            keep = {k: v for k, v in spec.items() if k in ("content_type", "revpos")}
            data = gunzip_bytes(spec["data"]) if _gzip(spec) else spec["data"]
            spec = {**keep, "data": base64.b64encode(data).decode("ascii")}
        converted[name] = spec
    return {**doc, "_attachments": converted}


def related_upload(doc: dict[str, Any]) -> tuple[bytes, str]:
    """A document with raw attachment bytes as a ``multipart/related`` upload: each such
    attachment ``follows``, with the lengths CouchDB reads the part by (``encoded_length`` is
    the part's size, ``length`` the clear size)."""
    atts = {}
    for name, spec in doc["_attachments"].items():
        data = spec.get("data") if isinstance(spec, dict) else None
        if not isinstance(data, bytes):
            atts[name] = spec
            continue
        entry = {k: v for k, v in spec.items() if k not in ("stub", "follows")}
        entry["follows"] = True
        if _gzip(entry):
            entry["encoded_length"] = len(data)
            if "length" not in entry:
                with contextlib.suppress(ValueError):  # not gzip: the server refuses it
                    entry["length"] = gzip_length(data)
        else:
            entry.pop("encoding", None)
            entry.pop("encoded_length", None)
            entry["length"] = len(data)
        atts[name] = entry
    related = related_body({**doc, "_attachments": atts})
    assert related is not None
    return related
