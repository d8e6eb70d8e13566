"""The public API and the command line stay documented and importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import brainlink_docs
from brainlink_docs.cli import _build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_is_exported_and_importable() -> None:
    for name in brainlink_docs.__all__:
        assert getattr(brainlink_docs, name) is not None
    assert sorted(brainlink_docs.__all__) == brainlink_docs.__all__


def test_readme_names_every_cli_command() -> None:
    readme = (ROOT / "README.md").read_text()
    subparsers = next(a for a in _build_parser()._actions if a.dest == "command")
    for command in subparsers.choices:  # type: ignore[union-attr]
        assert f"brainlink-docs {command}" in readme, command


def test_every_cli_command_has_help_text() -> None:
    subparsers = next(a for a in _build_parser()._actions if a.dest == "command")
    for action in subparsers._choices_actions:  # type: ignore[attr-defined]
        assert action.help, action.dest


def test_demo_runs_and_shows_a_conflict(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "brainlink_docs.cli", "demo", "--path", str(tmp_path / "d.db")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert '"error": "conflict"' in out
    assert '"_conflicts"' in out
