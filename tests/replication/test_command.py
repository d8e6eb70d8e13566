"""``brainlink-docs replicate``: a real process against a real server, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from http_api.conftest import serving

from brainlink_docs.store.api import ReadOptions
from brainlink_docs.store.http import HttpStore
from brainlink_docs.store.sqlite import SqliteStore

from .test_replicate import state, write_corpus


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "brainlink_docs.cli",
        "replicate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_replicate_a_file_to_our_server_and_back(tmp_path: Path) -> None:
    device = await SqliteStore.open(tmp_path / "device.sqlite")
    try:
        await write_corpus(device)
        expected = await state(device)
    finally:
        await device.close()
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
            code, out, err = await run_cli(source, target, "--create-target")
            assert code == 1, (source, out, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0], (source, err)
            assert "Traceback" not in err and "wrong" not in err
            assert out == ""
