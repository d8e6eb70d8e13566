"""``brainlink-docs new-key`` and ``rotate-key``: real processes on a database file and on our
server, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

from http_api.conftest import serving

from brainlink_docs.credentials import Key, Keyring, load_key_file, open_sealed, seal
from brainlink_docs.store.api import AllDocsQuery, DocumentStore
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

SECRET = "sk-cli-N0tInAnyOutput"


async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "brainlink_docs.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def new_key(path: Path) -> Key:
    code, out, err = await run("new-key", str(path))
    assert code == 0, err
    key = load_key_file(path)
    assert json.loads(out) == {"ok": True, "kid": key.kid, "file": str(path)}
    assert_private(path)
    return key


def assert_private(path: Path) -> None:
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def write_secrets(store: DocumentStore, key: Key, count: int) -> None:
    docs = []
    for n in range(count):
        doc_id = f"u/cli/apiKey/{n:03d}"
        docs.append(
            {
                "_id": doc_id,
                "type": "apiKey",
                "name": f"key {n}",
                "key": seal(key, doc_id, f"{SECRET}-{n}"),
            }
        )
    docs.append({"_id": "u/cli", "type": "user", "email": "cli@example.com"})
    await store.bulk_docs(docs)


async def opened_with(store: DocumentStore, key: Key) -> dict[str, str]:
    page = await store.all_docs(AllDocsQuery(include_docs=True))
    return {
        row["id"]: open_sealed(Keyring([key]), row["id"], row["doc"]["key"]).reveal()
        for row in page.rows
        if "key" in row["doc"]
    }


async def test_rotate_key_on_a_database_file(tmp_path: Path) -> None:
    old, new = await new_key(tmp_path / "old.key"), await new_key(tmp_path / "new.key")
    assert old.kid != new.kid
    path = tmp_path / "device.sqlite"
    store = await SqliteStore.open(path)
    try:
        await write_secrets(store, old, 12)
    finally:
        await store.close()

    args = ["rotate-key", str(path), "--old-key-file", str(tmp_path / "old.key")]
    args += ["--new-key-file", str(tmp_path / "new.key"), "--batch-size", "5"]
    code, out, err = await run(*args)
    assert code == 0, err
    report = json.loads(out)
    assert report == {
        "ok": True,
        "kid": new.kid,
        "docs_scanned": 13,
        "docs_written": 12,
        "values_resealed": 12,
        "values_current": 0,
        "conflicts": [],
        "failures": [],
    }
    assert SECRET not in out + err

    code, out, err = await run(*args)  # again: everything is already under the new key
    assert code == 0, err
    assert json.loads(out)["values_current"] == 12
    assert json.loads(out)["docs_written"] == 0

    store = await SqliteStore.open(path)
    try:
        assert await opened_with(store, new) == {
            f"u/cli/apiKey/{n:03d}": f"{SECRET}-{n}" for n in range(12)
        }
    finally:
        await store.close()


async def test_rotate_key_on_our_server(tmp_path: Path) -> None:
    old, new = await new_key(tmp_path / "old.key"), await new_key(tmp_path / "new.key")
    async with serving(tmp_path / "server") as server:
        databases = await HttpDatabases.connect(server.authed_url)
        try:
            await databases.create("secrets")
        finally:
            await databases.close()
        url = f"{server.authed_url}/secrets"
        store = await HttpStore.open(url)
        try:
            await write_secrets(store, old, 3)
            code, out, err = await run(
                "rotate-key",
                url,
                "--old-key-file",
                str(tmp_path / "old.key"),
                "--new-key-file",
                str(tmp_path / "new.key"),
            )
            assert code == 0, err
            assert json.loads(out)["values_resealed"] == 3
            assert len(await opened_with(store, new)) == 3
        finally:
            await store.close()


async def test_a_value_no_given_key_opens_fails_the_run_naming_the_document(
    tmp_path: Path,
) -> None:
    old, _ = await new_key(tmp_path / "old.key"), await new_key(tmp_path / "new.key")
    stray = await new_key(tmp_path / "stray.key")
    path = tmp_path / "device.sqlite"
    store = await SqliteStore.open(path)
    try:
        await write_secrets(store, old, 2)
        await store.put(
            {"_id": "u/cli/apiKey/stray", "key": seal(stray, "u/cli/apiKey/stray", SECRET)}
        )
    finally:
        await store.close()
    code, out, err = await run(
        "rotate-key",
        str(path),
        "--old-key-file",
        str(tmp_path / "old.key"),
        "--new-key-file",
        str(tmp_path / "new.key"),
    )
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["values_resealed"] == 2
    assert report["failures"] == [
        {"id": "u/cli/apiKey/stray", "reason": f"sealed with key {stray.kid}, which is not loaded"}
    ]
    assert (
        err
        == f"not rotated: u/cli/apiKey/stray: sealed with key {stray.kid}, which is not loaded\n"
    )
    assert SECRET not in out + err


async def test_bad_key_files_and_missing_databases_are_one_line(tmp_path: Path) -> None:
    await new_key(tmp_path / "new.key")
    (tmp_path / "short.key").write_text("c2hvcnQ=\n")
    db = tmp_path / "device.sqlite"
    await (await SqliteStore.open(db)).close()
    cases = [
        (["--old-key-file", str(tmp_path / "missing.key")], "cannot read key file"),
        (["--old-key-file", str(tmp_path / "short.key")], "bad key length: 5 bytes"),
    ]
    for old_args, message in cases:
        code, out, err = await run(
            "rotate-key", str(db), *old_args, "--new-key-file", str(tmp_path / "new.key")
        )
        assert (code, out) == (1, "")
        assert message in err and len(err.splitlines()) == 1, err
    code, out, err = await run(
        "rotate-key",
        str(tmp_path / "absent.sqlite"),
        "--old-key-file",
        str(tmp_path / "new.key"),
        "--new-key-file",
        str(tmp_path / "new.key"),
    )
    assert code == 1
    assert err == "brainlink-docs rotate-key: Database does not exist. (404 not_found)\n"
    assert not (tmp_path / "absent.sqlite").exists()


async def test_new_key_never_replaces_a_key(tmp_path: Path) -> None:
    key = await new_key(tmp_path / "k.key")
    code, out, err = await run("new-key", str(tmp_path / "k.key"))
    assert (code, out) == (1, "")
    assert "exists; not replacing a key" in err
    assert load_key_file(tmp_path / "k.key") == key
