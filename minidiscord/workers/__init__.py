"""Several processes on one port: ``minidiscord --workers N`` and :func:`run_workers`.

A parent process owns the listening socket and hands every connection, as a file
descriptor, to one of N worker processes, each the app on the native front end. Every
Engine.IO session id carries its worker's number (:mod:`..engine.sids`), so every request
of a session (long-polling GETs and POSTs, the WebSocket upgrade) reaches the process that
holds it: sticky sessions without a proxy, for both transports. See :mod:`.parent` for the
routing and the workers' lives, :mod:`.worker` for a worker's serving.
"""

import functools
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

import trio

from ..config import Settings
from ..frontend.connlimits import ConnectionLimits
from ..frontend.hosting import native_config
from ..frontend.listening import open_listening_sockets
from .parent import Parent, Timeouts, WorkerCommand, WorkersFailed

__all__ = ["WorkersFailed", "run_workers"]

logger = logging.getLogger("minidiscord.workers")


def run_workers(
    app: str,
    *,
    workers: int | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    shutdown_timeout: float = 10.0,
) -> None:
    """Serve the ASGI app named ``app`` (``"module:attribute"``, as hypercorn and uvicorn
    take it; a :class:`~minidiscord.sockets.SocketServer` above all) from ``workers``
    processes (default: one per core) on ``host``:``port``, until SIGINT or SIGTERM.

    Each worker imports the app and serves it on the native front end as
    :func:`minidiscord.serve` would; this process only routes connections. Every request of
    a session reaches the worker that holds it, whichever transport it uses. State kept in
    one process (rooms, ``fetch_sockets``, broadcasts) is that worker's alone: share it
    through a cluster adapter. Blocks; raises
    :class:`~minidiscord.frontend.listening.ListenError` when it cannot listen there and
    :class:`WorkersFailed` (one line) when a worker cannot start.
    """
    count = workers if workers is not None else (os.cpu_count() or 1)
    sockets = open_listening_sockets(host, port)
    command = functools.partial(_app_command, app, shutdown_timeout)
    # A worker's drain takes up to the shutdown timeout, its front end as long again.
    timeouts = Timeouts(stop=2 * shutdown_timeout + 5)
    limits = ConnectionLimits.for_settings(Settings())
    _run(count, command, timeouts, sockets, f"{count} workers (front end: native)", limits)


def _run(
    count: int,
    command: WorkerCommand,
    timeouts: Timeouts,
    sockets: Sequence[socket.socket],
    describe: str,
    limits: ConnectionLimits,
) -> None:
    try:
        trio.run(_serve, count, command, timeouts, sockets, describe, limits)
    except* WorkersFailed as failed:
        # One line, as any other reason not to start: not a group of tracebacks.
        raise failed.exceptions[0] from None


def run_chat_workers(
    settings: Settings, argv: Sequence[str], sockets: Sequence[socket.socket], describe: str
) -> None:
    """The chat of the ``minidiscord`` command's arguments ``argv`` (whose settings are
    ``settings``) in ``settings.workers`` processes on ``sockets``, until SIGINT or SIGTERM;
    ``describe`` ends the line saying where it serves. Raises :class:`WorkersFailed` (one
    line) when a worker cannot start."""
    config = native_config(settings)
    timeouts = Timeouts(
        keep_alive=config.keep_alive_timeout,
        read=config.read_timeout,
        stop=2 * settings.shutdown_timeout + 5,
    )
    command = functools.partial(chat_command, list(argv))
    limits = ConnectionLimits.for_settings(settings)
    _run(settings.workers, command, timeouts, sockets, describe, limits)


def _app_command(
    app: str, shutdown_timeout: float, worker: int, workers: int, fd: int
) -> list[str]:
    return [
        *_child(worker, workers, fd),
        *("--app", app, "--shutdown-timeout", str(shutdown_timeout)),
    ]


def chat_command(argv: Sequence[str], worker: int, workers: int, fd: int) -> list[str]:
    """A chat worker's command: the ``minidiscord`` command's own arguments."""
    return [*_child(worker, workers, fd), "--chat", "--", *argv]


def _child(worker: int, workers: int, fd: int) -> list[str]:
    return [
        sys.executable,
        *("-m", "minidiscord.workers.child"),
        *("--worker", str(worker), "--workers", str(workers), "--channel-fd", str(fd)),
    ]


async def _serve(
    count: int,
    command: WorkerCommand,
    timeouts: Timeouts,
    sockets: Sequence[socket.socket],
    describe: str,
    limits: ConnectionLimits,
) -> None:
    parent = Parent(count, command, timeouts, limits)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(functools.partial(parent.run, sockets, until_signalled))
        logger.info("serving on %s with %s", ", ".join(urls), describe)
    logger.info("stopped")


async def until_signalled() -> None:
    """Until SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info("%s: shutting down", signal.Signals(signum).name)
            return
