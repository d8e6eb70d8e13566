"""``brainlink-docs replicate`` and ``sync``: open the ends, replicate with a progress bar, print
CouchDB's answer (``--continuous``: keep following until interrupted).

The progress bar is ``rich``'s (a maintained library; drawn only on a terminal), one line per
direction: documents written against written plus the changes the source still reports
pending, with the rate and the time left, fed by the replicator's ``Progress`` events. Failures
to reach a peer, wrong credentials, missing databases and bad options end the command with one
line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import orjson
from rich.progress import (
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from brainlink_docs.errors import BadRequest, CouchError
from brainlink_docs.merge.command import resolution_row
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.sources import load_policies
from brainlink_docs.progress import terminal_bar
from brainlink_docs.replication.backoff import RetryPolicy, retrying
from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.replication.replicate import (
    OnProgress,
    Progress,
    ReplicationResult,
    rep_id_of,
    replicate,
    replicate_continuously,
)
from brainlink_docs.replication.sync import sync, sync_continuously
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import is_url, open_endpoint, split_userinfo
from brainlink_docs.store.http.auth import Auth, Bearer, CookieSession


async def run_replicate(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        try:
            options = options_from(args)
            source = await _opened(stack, args.source, args, options, create=False)
            target = await _opened(stack, args.target, args, options, create=args.create_target)
            labels = {await rep_id_of(source, target, options): "replicating"}
            with _progress_bar(labels) as on_progress:
                if args.continuous:
                    await replicate_continuously(source, target, options, on_progress=on_progress)
                result = await replicate(source, target, options, on_progress=on_progress)
            resolved = await _resolve(args, target)
        except CouchError as exc:
            return _failed("replicate", exc)
    _print_json({**result.to_json(), **resolved})
    return _report_failures(result)


async def run_sync(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        try:
            options = options_from(args)
            a = await _opened(stack, args.a, args, options, create=args.create)
            b = await _opened(stack, args.b, args, options, create=args.create)
            labels = {
                await rep_id_of(a, b, options): "push A → B",
                await rep_id_of(b, a, options): "pull B → A",
            }
            with _progress_bar(labels) as on_progress:
                if args.continuous:
                    await sync_continuously(a, b, options, on_progress=on_progress)
                push, pull = await sync(a, b, options, on_progress=on_progress)
            resolved = await _resolve(args, a, b)
        except CouchError as exc:
            return _failed("sync", exc)
    _print_json({"ok": True, "push": push.to_json(), "pull": pull.to_json(), **resolved})
    return max(_report_failures(push), _report_failures(pull))


async def _resolve(args: argparse.Namespace, *stores: DocumentStore) -> dict[str, Any]:
    """With ``--resolve``: each store's conflicts merged (by the same derived revisions on
    both sides of a sync, so the next sync adds no conflict); the rows, for the answer."""
    if not args.resolve:
        return {}
    policies = load_policies(args.policies)
    rows = [resolution_row(r) for store in stores for r in await resolve_all(store, policies)]
    return {"resolved": rows}


def options_from(args: argparse.Namespace) -> ReplicationOptions:
    """The replication options the command line asks for; ``BadRequest`` for bad JSON."""
    if args.resolve and args.continuous:
        raise BadRequest("--resolve applies to one-shot runs, not --continuous")
    load_policies(args.policies)  # a bad file is reported before anything moves
    return ReplicationOptions(
        doc_ids=tuple(args.doc_ids) if args.doc_ids else None,
        selector=_json_object(args.selector, "--selector"),
        filter=args.filter,
        query_params=_json_object(args.query_params, "--query-params") or {},
        batch_size=args.batch_size,
        batches_in_flight=args.batches_in_flight,
        retry=RetryPolicy(give_up_after=args.give_up_after),
    )


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"{option} must be a JSON object")
    return value


async def _opened(
    stack: contextlib.AsyncExitStack,
    spec: str,
    args: argparse.Namespace,
    options: ReplicationOptions,
    *,
    create: bool,
) -> DocumentStore:
    """The end ``spec`` names, waiting out a server that is down as the run itself would
    (``--give-up-after``; for ever with ``--continuous``)."""
    policy = options.retry.forever() if args.continuous else options.retry
    try:
        if is_url(spec):
            url, auth = _login(spec, args)
            store = await retrying(
                policy,
                lambda: open_endpoint(url, create=create, auth=auth, ca_file=args.ca_file),
            )
        else:
            store = await open_endpoint(spec, create=create)
    except CouchError as exc:
        raise type(exc)(f"{_without_password(spec)}: {exc.reason}", error=exc.error) from exc
    stack.push_async_callback(store.close)
    return store


def _login(url: str, args: argparse.Namespace) -> tuple[str, Auth | None]:
    """The URL to open and how to log in: the URL's own credentials (Basic), a session cookie
    made from them (``--cookie``), or a bearer token from the environment (``--jwt-env``)."""
    if args.jwt_env:
        token = os.environ.get(args.jwt_env)
        if not token:
            raise BadRequest(f"--jwt-env: environment variable {args.jwt_env} is not set")
        bare, credentials = split_userinfo(url)
        if credentials is not None:
            raise BadRequest("--jwt-env: the URL must not also carry a user and password")
        return bare, Bearer(token)
    if args.cookie:
        bare, credentials = split_userinfo(url)
        if credentials is None:
            raise BadRequest("--cookie: the URL carries no user:password to log in with")
        return bare, CookieSession(*credentials)
    return url, None


def _without_password(spec: str) -> str:
    scheme, sep, rest = spec.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return spec
    userinfo, _, host = rest.partition("@")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}"


def _failed(command: str, exc: CouchError) -> int:
    sys.stderr.write(f"brainlink-docs {command}: {exc.reason} ({exc.status} {exc.error})\n")
    return 1


def _print_json(answer: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")


def _report_failures(result: ReplicationResult) -> int:
    for failure in result.failures:
        sys.stderr.write(f"not written: {failure.id}: {failure.error}: {failure.reason}\n")
    return 1 if result.failures else 0


@contextlib.contextmanager
def _progress_bar(labels: dict[str, str]) -> Iterator[OnProgress]:
    """A progress callback drawing a bar per replication id in ``labels`` (two for a sync) on
    stderr."""
    bar = terminal_bar(
        TextColumn("{task.description}"), TimeRemainingColumn(), TextColumn("{task.fields[status]}")
    )
    tasks: dict[str, TaskID] = {
        rep_id: bar.add_task(label, total=None, status="starting")
        for rep_id, label in labels.items()
    }

    def on_progress(event: Progress) -> None:
        task = tasks[event.replication_id]
        done = event.docs_written + event.doc_write_failures
        status = f"retrying: {event.error}" if event.status == "retrying" else event.status
        bar.update(task, completed=done, total=done + event.changes_pending, status=status)

    with bar:
        yield on_progress
