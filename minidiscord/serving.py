"""Serving an ASGI app from a trio program: :func:`minidiscord.serve`.

The ``minidiscord`` command serves the chat this way too (:mod:`.frontend.hosting`); this is
the same code under a signature for anyone's app, a :class:`~minidiscord.sockets.SocketServer`
above all.
"""

import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol, runtime_checkable

import trio

from .asgi_io import ASGIApp
from .config import Frontend, Settings
from .engine import EngineServer
from .frontend.hosting import serve as serve_with_settings

logger = logging.getLogger("minidiscord")


@runtime_checkable
class _EngineHolder(Protocol):
    """An app that serves an Engine.IO server (a SocketServer, the chat's App)."""

    @property
    def engine(self) -> EngineServer: ...


async def serve(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    frontend: Frontend = "native",
    shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
    shutdown_timeout: float = 10.0,
    certfile: str | None = None,
    keyfile: str | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host``:``port`` until ``shutdown_trigger`` returns (by default,
    until the process gets SIGINT or SIGTERM); ``task_status.started`` gets the URLs it
    serves on (port 0 picks a free one).

    ``frontend`` is the native trio front end (the default) or hypercorn, in this process
    either way; the ASGI lifespan runs around the serving. For an app that serves an
    Engine.IO server (a :class:`~minidiscord.sockets.SocketServer`), the front end's
    timeouts follow its heartbeat and its message limit follows ``max_http_buffer_size``;
    when told to stop, every client's transport is first closed cleanly (standard clients
    reconnect), for up to ``shutdown_timeout`` seconds, then the front end stops.
    With ``certfile`` (a PEM certificate chain) and ``keyfile`` (its key, PEM; by default
    in ``certfile``) it serves https and wss, on either front end.
    Raises :class:`~minidiscord.frontend.listening.ListenError` when it cannot listen there
    and :class:`~minidiscord.frontend.tls.TLSError` when it cannot use the certificate.
    """
    engine = app.engine if isinstance(app, _EngineHolder) else None
    settings = Settings(
        host=host,
        port=port,
        frontend=frontend,
        shutdown_timeout=shutdown_timeout,
        certfile=certfile,
        keyfile=keyfile,
    )
    if engine is not None:
        settings = _tuned_to(settings, engine)
    trigger = shutdown_trigger or _until_signalled

    async def until_stopped() -> None:
        await trigger()
        if engine is not None:
            await engine.drain(shutdown_timeout)

    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(
            functools.partial(serve_with_settings, app, settings, until_stopped)
        )
        logger.info("serving on %s (front end: %s)", ", ".join(urls), frontend)
        task_status.started(urls)


def _tuned_to(settings: Settings, engine: EngineServer) -> Settings:
    """The settings a front end reads, from the engine it carries."""
    config = engine.config
    return replace(
        settings,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        max_payload=config.max_payload,
        ip_buffer_bytes=config.ip_buffer_bytes,
    )


async def _until_signalled() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info("%s: shutting down", signal.Signals(signum).name)
            return
