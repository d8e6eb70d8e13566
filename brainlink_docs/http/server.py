"""Running the server: open the data directory, serve until SIGINT/SIGTERM, close cleanly.

Shutdown stops accepting connections, lets in-flight requests finish (a write already handed to
the writer thread always commits), then closes every database so each WAL is checkpointed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.http.app import make_app
from brainlink_docs.store.encoding import AttachmentEncoding
from brainlink_docs.store.sqlite.databases import SqliteDatabases

log = logging.getLogger("brainlink_docs.server")

# Seconds in-flight requests get to finish on shutdown (open feeds are cut after that).
SHUTDOWN_GRACE = 10.0


async def start(settings: Settings) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (for cleanup) and the bound port."""
    databases = SqliteDatabases(
        settings.data_dir,
        max_open=settings.max_dbs_open,
        synchronous=settings.synchronous,
        encoding=AttachmentEncoding(settings.compressible_types, settings.compression_level),
    )
    app = make_app(databases, settings)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        # Request bodies are decoded by the handlers (gzip only, with a size bound), so a bad or
        # unsupported encoding is a CouchDB-shaped 400/415 rather than the parser's plain text.
        auto_decompress=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    sockets = [s for s in runner.addresses]
    port = sockets[0][1] if sockets else settings.port
    return runner, int(port)


async def serve(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    runner, port = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before "listening" is announced: a supervisor may send SIGTERM as soon as it reads it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("brainlink-docs listening on http://%s:%d", settings.host, port)
    if on_ready is not None:
        on_ready(port)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()
