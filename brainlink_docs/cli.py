"""The ``brainlink-docs`` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainlink-docs",
        description="Brainlink's revisioned JSON document store (CouchDB semantics).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="walk through the embedded engine: edits, a replicated conflict, the changes feed",
        description="Create a database file, make edits and a conflict, and print what the "
        "engine answers at each step.",
    )
    demo.add_argument(
        "--path", type=Path, default=None, help="database file (default: a temporary file)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        from brainlink_docs.demo import run_demo

        if args.path is not None:
            asyncio.run(run_demo(args.path, _print))
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run_demo(Path(tmp) / "demo.sqlite", _print))
        return 0
    return 2


def _print(title: str, value: object) -> None:
    sys.stdout.write(f"== {title}\n")
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
