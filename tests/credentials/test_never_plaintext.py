"""A secret never reaches a log, an exception or a database file in the clear.

The failures a user meets (wrong document, wrong key, tampered value, a rotation that cannot
open a value, bad key files) run with every logger at DEBUG; the captured records, the
exceptions' messages, reprs and whole tracebacks are then searched for the plaintext and the
key. Then a sealed credential is written, and rotated, on the embedded store and on our server,
and the bytes of every file they leave (the SQLite database, its WAL) are searched too; a
marker stored in the clear beside it proves the search would find a plaintext.
"""

from __future__ import annotations

import base64
import logging
import traceback
from pathlib import Path

import pytest
from http_api.conftest import serving

from brainlink_docs.credentials import (
    CredentialError,
    Key,
    Keyring,
    key_from_env,
    load_key_file,
    open_sealed,
    rotate_key,
    seal,
)
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

PLAINTEXT = "ghp_Pl41nT3xtN3v3rW1ns0nD1sk"
OLD = Key(bytes(range(7, 39)))
NEW = Key(bytes(range(64, 96)))
DOC_ID = "u/7c1d/integration/github"
MARKER = "marker-stored-in-the-clear-7c1d"


def forbidden_texts() -> list[bytes]:
    """The plaintext, and every key as bytes, base64 and hex."""
    texts = [PLAINTEXT.encode()]
    for key in (OLD, NEW):
        texts += [key.material, key.to_base64().encode(), key.material.hex().encode()]
    return texts


def assert_clean(text: str) -> None:
    for forbidden in forbidden_texts():
        assert forbidden.decode("latin-1") not in text


def document() -> dict[str, object]:
    return {
        "_id": DOC_ID,
        "type": "integration",
        "provider": "github",
        "kind": "oauth",
        "metadata": {"note": MARKER},
        "credentials": seal(OLD, DOC_ID, PLAINTEXT),
    }


def test_failures_carry_no_secret_in_logs_messages_or_tracebacks(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    sealed = seal(OLD, DOC_ID, PLAINTEXT)
    raw = bytearray(base64.b64decode(sealed["encrypted"]))
    raw[0] ^= 1
    bad_key = tmp_path / "bad.key"
    bad_key.write_text(OLD.to_base64()[:-4] + "\n")  # base64 of 29 bytes: a bad length
    failures = [
        lambda: open_sealed(Keyring([OLD]), "u/7c1d/integration/other", sealed),
        lambda: open_sealed(Keyring([NEW]), DOC_ID, sealed),
        lambda: open_sealed(
            Keyring([OLD]), DOC_ID, {**sealed, "encrypted": base64.b64encode(raw).decode()}
        ),
        lambda: open_sealed(Keyring([OLD]), DOC_ID, {**sealed, "iv": "!!"}),
        lambda: seal(OLD, DOC_ID, PLAINTEXT + "\udc80"),
        lambda: load_key_file(bad_key),
        lambda: key_from_env({"BRAINLINK_CREDENTIALS_KEY": OLD.to_base64()[:-4]}),
    ]
    caught: list[CredentialError] = []
    for failing in failures:
        with pytest.raises(CredentialError) as info:
            failing()
        caught.append(info.value)
    assert len(caught) == len(failures)
    for exc in caught:
        assert_clean(str(exc))
        assert_clean(repr(exc))
        assert_clean("".join(traceback.format_exception(exc)))
    assert_clean(caplog.text)


async def test_a_rotation_that_cannot_open_a_value_logs_and_reports_no_secret(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    try:
        await store.put(document())
        report = await rotate_key(store, Keyring([NEW]), NEW)  # the old key not loaded
    finally:
        await store.close()
    assert not report.ok
    assert_clean(repr(report))
    assert_clean(str(report.to_json()))
    assert_clean(caplog.text)


def scan(directory: Path) -> bytes:
    files = [p for p in sorted(directory.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".sqlite" or "sqlite" in p.name for p in files), files
    return b"".join(p.read_bytes() for p in files)


def assert_no_plaintext_at_rest(directory: Path) -> None:
    stored = scan(directory)
    assert MARKER.encode() in stored  # the search does find what is stored in the clear
    assert PLAINTEXT.encode() not in stored
    for forbidden in forbidden_texts():
        assert forbidden not in stored


async def test_the_embedded_store_s_file_holds_no_plaintext(tmp_path: Path) -> None:
    directory = tmp_path / "device"
    directory.mkdir()
    store = await SqliteStore.open(directory / "device.sqlite")
    try:
        await store.put(document())
        report = await rotate_key(store, Keyring([OLD]), NEW)
        assert report.values_resealed == 1
        # and still opens, under the new key
        doc = await store.get(DOC_ID)
        assert open_sealed(Keyring([NEW]), DOC_ID, doc["credentials"]).reveal() == PLAINTEXT
        assert_no_plaintext_at_rest(directory)  # with the WAL not yet checkpointed
    finally:
        await store.close()
    assert_no_plaintext_at_rest(directory)


async def test_our_server_s_files_hold_no_plaintext(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    data_dir = tmp_path / "server"
    async with serving(data_dir, access_log=True) as server:
        databases = await HttpDatabases.connect(server.authed_url)
        try:
            await databases.create("integrations")
        finally:
            await databases.close()
        store = await HttpStore.open(f"{server.authed_url}/integrations")
        try:
            await store.put(document())
            report = await rotate_key(store, Keyring([OLD]), NEW)
            assert report.values_resealed == 1
            doc = await store.get(DOC_ID)
            assert open_sealed(Keyring([NEW]), DOC_ID, doc["credentials"]).reveal() == PLAINTEXT
        finally:
            await store.close()
        assert_no_plaintext_at_rest(data_dir)
    assert_no_plaintext_at_rest(data_dir)
    assert DOC_ID.replace("/", "%2F") in caplog.text  # the access log saw the writes
    assert_clean(caplog.text)
