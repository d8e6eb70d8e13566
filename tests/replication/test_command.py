"""``brainlink-docs replicate``: a real process against a real server, as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from couch import CouchServer
from http_api.conftest import serving

from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import ReadOptions
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

from .test_replicate import state, write_corpus


async def run_cli(*args: str) -> tuple[int, str, str]:
    return await run_command("replicate", *args)


async def run_command(command: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "brainlink_docs.cli",
        command,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def device_file(path: Path) -> dict[str, Any]:
    """A database file holding the test corpus, closed again (the command opens it); its state."""
    device = await SqliteStore.open(path)
    try:
        await write_corpus(device)
        return await state(device)
    finally:
        await device.close()


async def test_replicate_a_file_to_our_server_and_back(tmp_path: Path) -> None:
    expected = await device_file(tmp_path / "device.sqlite")
    async with serving(tmp_path / "server") as server:
        url = f"{server.authed_url}/notes"
        code, out, err = await run_cli(str(tmp_path / "device.sqlite"), url, "--create-target")
        assert code == 0, err
        answer = json.loads(out)
        assert answer["ok"] is True
        assert answer["history"][0]["docs_written"] > 0
        assert answer["history"][0]["doc_write_failures"] == 0
        remote = await HttpStore.open(url)
        try:
            assert await state(remote) == expected
            stub = await remote.get("with-atts", options=ReadOptions(att_encoding_info=True))
            assert stub["_attachments"]["t.txt"]["encoding"] == "gzip"
        finally:
            await remote.close()
        back = tmp_path / "back.sqlite"
        code, out, err = await run_cli(url, str(back), "--create-target")
        assert code == 0, err
        again, _, _ = await run_cli(url, str(back))
        assert again == 0
    copy = await SqliteStore.open(back)
    try:
        assert await state(copy) == expected
    finally:
        await copy.close()


async def test_sync_a_file_with_our_server_both_ways(tmp_path: Path) -> None:
    """``sync``: the device's corpus reaches the server and the server's documents reach the
    device, in one command; run again, nothing moves."""
    device_path = tmp_path / "device.sqlite"
    await device_file(device_path)
    async with serving(tmp_path / "server") as server:
        url = f"{server.authed_url}/notes"
        async with serving_db(server.authed_url, "notes"):
            remote = await HttpStore.open(url)
            try:
                await remote.bulk_docs([{"_id": f"from-server-{n}"} for n in range(12)])
                code, out, err = await run_command("sync", str(device_path), url)
                assert code == 0, err
                answer = json.loads(out)
                assert answer["push"]["history"][0]["docs_written"] > 0
                assert answer["pull"]["history"][0]["docs_written"] == 12
                device = await SqliteStore.open(device_path)
                try:
                    assert await state(device) == await state(remote)
                finally:
                    await device.close()
                code, out, err = await run_command("sync", str(device_path), url)
                assert code == 0, err
                answer = json.loads(out)
                assert answer["push"]["history"][0]["missing_found"] == 0
                assert answer["pull"]["history"][0]["missing_found"] == 0
            finally:
                await remote.close()


async def test_a_selector_from_the_command_line_and_bad_options_are_one_line(
    tmp_path: Path,
) -> None:
    source_path, target = tmp_path / "s.sqlite", str(tmp_path / "t.sqlite")
    source = await SqliteStore.open(source_path)
    try:
        await source.bulk_docs(
            [{"_id": f"d{n}", "type": "chat" if n % 2 else "file"} for n in range(10)]
        )
    finally:
        await source.close()
    code, out, err = await run_cli(
        str(source_path), target, "--create-target", "--selector", '{"type": "chat"}'
    )
    assert code == 0, err
    assert json.loads(out)["history"][0]["docs_written"] == 5
    for bad in (["--selector", "{not json"], ["--selector", "[1]"], ["--filter", "nofilter"]):
        code, out, err = await run_cli(str(source_path), target, *bad)
        assert code == 1, (bad, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (bad, err)
        assert out == ""


async def test_cookie_login_from_the_command_line_and_its_errors(tmp_path: Path) -> None:
    """``--cookie`` logs in with the URL's credentials through ``_session``; a wrong password,
    a URL without credentials and an unset ``--jwt-env`` variable are one line each."""
    source_path = tmp_path / "s.sqlite"
    source = await SqliteStore.open(source_path)
    try:
        await source.bulk_docs([{"_id": f"d{n}"} for n in range(5)])
    finally:
        await source.close()
    async with serving(tmp_path / "server") as server:
        url = f"{server.authed_url}/cookies"
        code, out, err = await run_cli(str(source_path), url, "--create-target", "--cookie")
        assert code == 0, err
        assert json.loads(out)["history"][0]["docs_written"] == 5
        wrong = f"http://{server.admin}:wrong@127.0.0.1:{server.port}/cookies"
        bare = f"http://127.0.0.1:{server.port}/cookies"
        cases = [
            ([wrong, "--cookie"], "401"),
            ([bare, "--cookie"], "no user:password"),
            ([bare, "--jwt-env", "BRAINLINK_TEST_NO_SUCH_VARIABLE"], "is not set"),
        ]
        for extra, expected in cases:
            code, out, err = await run_cli(str(source_path), *extra)
            assert code == 1, (extra, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0], (extra, err)
            assert "wrong" not in err


async def test_sync_a_file_with_the_real_couchdb_both_ways_with_a_progress_bar(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    """``sync FILE COUCHDB_URL/db --create`` on a terminal: both directions' bars are drawn
    (rich, on stderr, which is a pseudo-terminal here), and both sides end the same."""
    device_path = tmp_path / "device.sqlite"
    await device_file(device_path)
    url = f"{couchdb.url}/cli-sync-{uuid.uuid4().hex[:12]}"
    code, out, drawn = await run_on_a_terminal("sync", str(device_path), url, "--create")
    assert code == 0, drawn
    assert "push A → B" in drawn and "pull B → A" in drawn and "100%" in drawn, drawn
    answer = json.loads(out)
    assert answer["push"]["history"][0]["docs_written"] > 0
    remote = await HttpStore.open(url)
    device = await SqliteStore.open(device_path)
    try:
        assert await state(remote) == await state(device)
    finally:
        await device.close()
        await remote.close()
        databases = await HttpDatabases.connect(couchdb.url)
        await databases.delete(url.rsplit("/", 1)[1])
        await databases.close()


async def run_on_a_terminal(command: str, *args: str) -> tuple[int, str, str]:
    """The command with stderr on a pseudo-terminal (so rich draws its bars there)."""
    main, child = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "brainlink_docs.cli", command, *args,
            stdout=asyncio.subprocess.PIPE, stderr=child,
            env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
        )  # fmt: skip
        os.close(child)
        child = -1
        out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        drawn = await asyncio.to_thread(_read_all, main)
    finally:
        if child != -1:
            os.close(child)
        os.close(main)
    assert process.returncode is not None
    return process.returncode, out.decode(), drawn


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


async def test_errors_are_one_clear_line_and_status_1(tmp_path: Path) -> None:
    async with serving(tmp_path / "server") as server:
        missing_file = str(tmp_path / "nope.sqlite")
        wrong_password = f"http://{server.admin}:wrong@127.0.0.1:{server.port}/notes"
        missing_db = f"{server.authed_url}/nope"
        unreachable = "http://127.0.0.1:9/notes"
        cases = {
            missing_file: "Database does not exist.",
            wrong_password: "401",
            missing_db: "Database does not exist.",
            unreachable: "503",
        }
        target = str(tmp_path / "target.sqlite")
        for source, expected in cases.items():
            code, out, err = await run_cli(
                source, target, "--create-target", "--give-up-after", "0"
            )
            assert code == 1, (source, out, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0], (source, err)
            assert "Traceback" not in err and "wrong" not in err
            assert out == ""


async def test_continuous_follows_the_server_until_interrupted(tmp_path: Path) -> None:
    """``--continuous`` from our server into a file: a write on the server reaches the file
    while the command runs; SIGINT stops it cleanly (status 130, one line)."""
    async with serving(tmp_path / "server") as server:
        url = f"{server.authed_url}/live"
        remote = await HttpStore.open(url)
        try:
            async with serving_db(server.authed_url, "live"):
                await remote.put({"_id": "before"})
                file = tmp_path / "device.sqlite"
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "brainlink_docs.cli", "replicate", url, str(file),
                    "--create-target", "--continuous",
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                try:
                    await until_in_file(file, "before")
                    await remote.put({"_id": "during"})
                    await until_in_file(file, "during")
                    assert process.returncode is None
                finally:
                    process.send_signal(signal.SIGINT)
                    _out, err = await asyncio.wait_for(process.communicate(), timeout=30)
                assert process.returncode == 130, err
                assert err.decode().strip().splitlines() == ["brainlink-docs replicate: stopped"]
        finally:
            await remote.close()


@contextlib.asynccontextmanager
async def serving_db(server_url: str, name: str) -> AsyncIterator[None]:
    databases = await HttpDatabases.connect(server_url)
    try:
        await databases.create(name)
        yield
    finally:
        await databases.close()


async def until_in_file(path: Path, doc_id: str, deadline: float = 15.0) -> None:
    """Poll the database file (written by the other process) until it holds ``doc_id``."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < deadline:
        if await asyncio.to_thread(path.exists):
            store = await SqliteStore.open(path)
            try:
                await store.get(doc_id)
                return
            except NotFound:
                pass
            finally:
                await store.close()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{doc_id} did not reach {path} within {deadline}s")
