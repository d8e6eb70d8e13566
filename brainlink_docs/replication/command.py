"""``brainlink-docs replicate``: open both ends, replicate with a progress bar, print the answer
(``--continuous``: keep following the source until interrupted).

The progress bar is ``rich``'s (a maintained library; drawn only on a terminal): documents
written against written plus the changes the source still reports pending, with the rate and
the time left. Failures to reach a peer, wrong credentials and missing databases end the
command with one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from brainlink_docs.errors import CouchError
from brainlink_docs.replication.replicate import (
    ReplicationState,
    replicate,
    replicate_continuously,
)
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint


async def run_replicate(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        try:
            source = await _opened(stack, args.source, create=False)
            target = await _opened(stack, args.target, create=args.create_target)
            with _progress() as progress:
                task = progress.add_task("replicating", total=None)

                def on_batch(state: ReplicationState, pending: int) -> None:
                    done = state.docs_written + state.doc_write_failures
                    progress.update(task, completed=done, total=done + pending)

                if args.continuous:
                    await replicate_continuously(
                        source,
                        target,
                        doc_ids=args.doc_ids,
                        batch_size=args.batch_size,
                        on_batch=on_batch,
                    )
                result = await replicate(
                    source,
                    target,
                    doc_ids=args.doc_ids,
                    batch_size=args.batch_size,
                    on_batch=on_batch,
                )
        except CouchError as exc:
            sys.stderr.write(f"brainlink-docs replicate: {_describe(exc)}\n")
            return 1
    sys.stdout.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    for failure in result.failures:
        sys.stderr.write(f"not written: {failure.id}: {failure.error}: {failure.reason}\n")
    return 1 if result.failures else 0


async def _opened(stack: contextlib.AsyncExitStack, spec: str, *, create: bool) -> DocumentStore:
    try:
        store = await open_endpoint(spec, create=create)
    except CouchError as exc:
        raise type(exc)(f"{_without_password(spec)}: {exc.reason}", error=exc.error) from exc
    stack.push_async_callback(store.close)
    return store


def _without_password(spec: str) -> str:
    scheme, sep, rest = spec.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return spec
    userinfo, _, host = rest.partition("@")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{host}"


def _describe(exc: CouchError) -> str:
    return f"{exc.reason} ({exc.status} {exc.error})"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )
