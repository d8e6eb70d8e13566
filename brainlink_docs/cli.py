"""The ``brainlink-docs`` command: parses arguments, calls the library, prints results."""

from __future__ import annotations

import argparse
import asyncio
import socket
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
    serve = commands.add_parser(
        "serve",
        help="run the CouchDB-compatible HTTP server over the embedded store",
        description="Serve CouchDB's HTTP API from a directory of SQLite databases. Settings "
        "come from defaults < the ini file < BRAINLINK_* environment variables < these flags.",
    )
    serve.add_argument("--data-dir", help="database directory (default ./brainlink-data)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 5984; 0 picks a free one)")
    serve.add_argument("--config", type=Path, help="ini file (default DATA_DIR/local.ini)")
    serve.add_argument(
        "--admin",
        help="server admin as user:password for a first start (or BRAINLINK_ADMIN); "
        "without it a password is generated and printed once",
    )
    serve.add_argument("--max-dbs-open", type=int, help="open databases kept (default 500)")
    serve.add_argument(
        "--synchronous",
        choices=["NORMAL", "FULL"],
        help="FULL (default) fsyncs every commit; NORMAL survives a killed process only",
    )
    serve.add_argument("--max-document-size", type=int, help="bytes (default 8000000)")
    serve.add_argument("--max-attachment-size", type=int, help="bytes (default 1 GiB)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.add_argument(
        "--resolve",
        action="store_true",
        help="merge conflicted documents in the background, as replicated writes arrive "
        "(default off, as in CouchDB)",
    )
    serve.add_argument(
        "--validate-entities",
        action="store_true",
        help="refuse typed Brainlink documents that fail their model with 403, on every "
        "write path (default off, as in CouchDB)",
    )
    serve.add_argument(
        "--merge-policies",
        metavar="FILE",
        help="the background resolver's default policies as JSON (a database's "
        "_design/merge merge_policies wins over them)",
    )
    replicate = commands.add_parser(
        "replicate",
        help="copy what TARGET lacks from SOURCE (each a database URL or file), resuming from "
        "the last run's checkpoint",
        description="Replication with CouchDB's protocol between any two databases: "
        "an embedded database file, our server, a real CouchDB or pouchdb-server "
        "(http(s)://user:password@host:port/db). Shows progress on a terminal and prints "
        "CouchDB's _replicate answer as JSON.",
    )
    replicate.add_argument("source", help="database URL or file to copy from")
    replicate.add_argument("target", help="database URL or file to copy into")
    replicate.add_argument(
        "--create-target", action="store_true", help="create the target if it does not exist"
    )
    _replication_options(replicate)
    sync = commands.add_parser(
        "sync",
        help="replicate A to B and B to A together, so both end with every edit",
        description="Bidirectional replication (PouchDB's sync): two replications, one each "
        "way, each with its own checkpoints. Prints both answers as JSON: push (A to B) and "
        "pull (B to A).",
    )
    sync.add_argument("a", help="database URL or file (a device's, usually)")
    sync.add_argument("b", help="database URL or file (a server's, usually)")
    sync.add_argument(
        "--create", action="store_true", help="create either database if it does not exist"
    )
    _replication_options(sync)
    resolve = commands.add_parser(
        "resolve",
        help="merge every conflicted document of DB (a URL or file) by its type's policy",
        description="Find the documents with conflicts, merge their leaves (field by field by "
        "default), write each merge under the winning leaf and delete the others, with "
        "revision ids derived from the merge so replicas resolving alike agree. Prints one "
        "JSON line per document resolved.",
    )
    resolve.add_argument("db", help="database URL or file")
    _policies_option(resolve)
    resolve.add_argument(
        "--undo",
        metavar="RECORD",
        help="instead, undo a resolution: its record's id (merge-resolution:<id>:<rev>, as "
        "resolve printed it); with --keep",
    )
    resolve.add_argument(
        "--keep", metavar="REV", help="with --undo: the replaced revision to restore"
    )
    resolve.add_argument(
        "--replica",
        default=socket.gethostname(),
        help="with --undo: this replica's id in the restoring edit's clock (default: host name)",
    )
    push = commands.add_parser(
        "push-design",
        help="install the entities' design documents, Mango indexes and merge policies in DB",
        description="Write _design/brainlink (the views of the app's queries), the Mango "
        "indexes and _design/merge's merge_policies to DB (a URL or file), each only when it "
        "differs, so pushing again rebuilds nothing. Prints the ids written as JSON.",
    )
    push.add_argument("db", help="database URL or file")
    push.add_argument("--create", action="store_true", help="create DB if it does not exist")
    migrate = commands.add_parser(
        "migrate",
        help="bring every entity document of DB to the current schemaVersion",
        description="Apply the entities' migrations to every document that needs them, in "
        "batches, with a progress bar on a terminal; deterministic, so devices migrating the "
        "same documents write the same revisions. Prints counts as JSON.",
    )
    migrate.add_argument("db", help="database URL or file")
    migrate.add_argument(
        "--batch-size", type=int, default=500, help="documents per batch (default 500)"
    )
    rotate_key = commands.add_parser(
        "rotate-key",
        help="re-seal every encrypted credential of DB (a URL or file) under a new key",
        description="Open every sealed value (AES-256-GCM) of the database with the old keys "
        "and seal it again under the new key, a page of documents at a time; values already "
        "under the new key are left alone, so running it again finishes a stopped rotation. "
        "Shows progress on a terminal and prints a JSON report.",
    )
    rotate_key.add_argument("db", help="database URL or file")
    rotate_key.add_argument(
        "--old-key-file",
        action="append",
        required=True,
        metavar="FILE",
        help="a key the values are sealed under now (32 raw bytes or base64); repeat for several",
    )
    rotate_key.add_argument(
        "--new-key-file", required=True, metavar="FILE", help="the key to seal under (new-key)"
    )
    rotate_key.add_argument(
        "--batch-size", type=int, default=500, help="documents per page and write (default 500)"
    )
    rotate_key.add_argument(
        "--ca-file", metavar="PEM", help="trust servers whose certificate this CA bundle signed"
    )
    new_key = commands.add_parser(
        "new-key",
        help="write a fresh random credentials key to FILE (base64, mode 0600)",
        description="Generate a 256-bit key for sealing credentials and write it to FILE, "
        "readable by its owner only; refuses to replace an existing file. Prints its key id "
        "(kid), the name sealed values carry.",
    )
    new_key.add_argument("file", type=Path, help="key file to create")
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


def _replication_options(command: argparse.ArgumentParser) -> None:
    """The options ``replicate`` and ``sync`` share (CouchDB's replication fields)."""
    chosen = command.add_mutually_exclusive_group()
    chosen.add_argument("--doc-ids", nargs="+", metavar="ID", help="only these documents")
    chosen.add_argument(
        "--selector", metavar="JSON", help='only documents a Mango selector matches: {"type": …}'
    )
    chosen.add_argument(
        "--filter",
        metavar="DDOC/NAME",
        help="only what the source's filter function passes (a server that runs JavaScript)",
    )
    command.add_argument(
        "--query-params", metavar="JSON", help="the filter function's req.query, as an object"
    )
    command.add_argument(
        "--batch-size", type=int, default=500, help="changes per batch (default 500)"
    )
    command.add_argument(
        "--batches-in-flight",
        type=int,
        default=4,
        help="batches read and written at once (default 4)",
    )
    command.add_argument(
        "--give-up-after",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="wait out a server that is down or failing for this long without progress, then "
        "stop with its error (default 300; --continuous never gives up)",
    )
    command.add_argument(
        "--continuous",
        action="store_true",
        help="after catching up, keep replicating each new write until interrupted (Ctrl-C)",
    )
    command.add_argument(
        "--resolve",
        action="store_true",
        help="then merge the conflicted documents (the target's; both sides' for sync)",
    )
    _policies_option(command)
    remote = command.add_argument_group("servers (every http(s) end)")
    login = remote.add_mutually_exclusive_group()
    login.add_argument(
        "--cookie",
        action="store_true",
        help="log in once with POST /_session using the URL's user:password, then send the "
        "session cookie (logging in again when it expires) instead of the password each time",
    )
    login.add_argument(
        "--jwt-env",
        metavar="VAR",
        help="send the JSON Web Token in environment variable VAR as a bearer token",
    )
    remote.add_argument(
        "--ca-file", metavar="PEM", help="trust servers whose certificate this CA bundle signed"
    )


def _policies_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--policies",
        type=Path,
        metavar="FILE",
        help='merge policies as JSON: {"types": {"usage": {"strategy": "lww", '
        '"crdts": {"/tokens": "counter"}}}} (default: field by field for every type)',
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command in ("replicate", "sync"):
        from brainlink_docs.replication.command import run_replicate, run_sync

        run = run_replicate if args.command == "replicate" else run_sync
        try:
            return asyncio.run(run(args))
        except KeyboardInterrupt:
            sys.stderr.write(f"brainlink-docs {args.command}: stopped\n")
            return 130
    if args.command == "resolve":
        from brainlink_docs.merge.command import run_resolve

        return asyncio.run(run_resolve(args))
    if args.command in ("push-design", "migrate"):
        from brainlink_docs.models.command import run_migrate, run_push_design

        return asyncio.run(
            run_push_design(args) if args.command == "push-design" else run_migrate(args)
        )
    if args.command == "rotate-key":
        from brainlink_docs.credentials.command import run_rotate_key

        try:
            return asyncio.run(run_rotate_key(args))
        except KeyboardInterrupt:
            sys.stderr.write("brainlink-docs rotate-key: stopped; run it again to finish\n")
            return 130
    if args.command == "new-key":
        from brainlink_docs.credentials.command import run_new_key

        return run_new_key(args)
    if args.command == "demo":
        from brainlink_docs.demo import run_demo

        if args.path is not None:
            asyncio.run(run_demo(args.path, _print))
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run_demo(Path(tmp) / "demo.sqlite", _print))
        return 0
    return 2


def _serve(args: argparse.Namespace) -> int:
    import logging
    import os

    from brainlink_docs.config import ensure_first_start, load_settings
    from brainlink_docs.http.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    flags = {
        "data_dir": args.data_dir,
        "host": args.host,
        "port": args.port,
        "max_dbs_open": args.max_dbs_open,
        "synchronous": args.synchronous,
        "max_document_size": args.max_document_size,
        "max_attachment_size": args.max_attachment_size,
        "access_log": "false" if args.no_access_log else None,
        "resolve": "true" if args.resolve else None,
        "merge_policies": args.merge_policies,
        "validate_entities": "true" if args.validate_entities else None,
    }
    admin = args.admin or os.environ.get("BRAINLINK_ADMIN")
    try:
        settings = load_settings(config_file=args.config, flags=flags)
        settings, first = ensure_first_start(settings, admin)
    except ValueError as exc:
        sys.stderr.write(f"brainlink-docs serve: {exc}\n")
        return 2
    if first is not None and first.password is not None:
        sys.stdout.write(
            f"Created server admin '{first.admin}' with password: {first.password}\n"
            f"(shown once; only its PBKDF2 hash is stored in {settings.config_file})\n"
        )
        sys.stdout.flush()

    def ready(port: int) -> None:
        sys.stdout.write(f"brainlink-docs listening on http://{settings.host}:{port}/\n")
        sys.stdout.flush()

    _run(serve(settings, ready))
    return 0


def _run(coro: object) -> None:
    """Run on uvloop where it is installed (a faster event loop), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
        return
    uvloop.run(coro)  # type: ignore[arg-type]


def _print(title: str, value: object) -> None:
    sys.stdout.write(f"== {title}\n")
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
