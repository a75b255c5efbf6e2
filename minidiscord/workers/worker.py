"""A worker process's serving: connections come from the parent, not from a listener.

The native front end serves each handed-over connection as if it had accepted it (the
peer address is the client's, so per-address limits hold), and gives back, through
:class:`WorkerRouting`, a kept-alive connection whose next request is another worker's.
The worker stops on SIGTERM/SIGINT (sent by the parent) or when its parent is gone,
draining its clients first, as a single server does.
"""

import contextlib
import logging
import os
import signal
import socket

import trio

from ..asgi_io import ASGIApp
from ..config import Settings
from ..engine import EngineServer
from ..frontend.connlimits import ConnectionLimits
from ..frontend.hosting import native_config
from ..frontend.server import NativeServer
from .channel import MAX_RECEIVED, Channel, ChannelClosed, Kind
from .routing import owner_of

logger = logging.getLogger("minidiscord.workers")


class WorkerRouting:
    """Which requests are this worker's, and how a connection goes back to the parent."""

    def __init__(self, worker: int, workers: int, channel: Channel) -> None:
        self.worker = worker
        self.workers = workers
        self.channel = channel

    def owns(self, request_line: bytes) -> bool:
        owner = owner_of(request_line)
        # An id naming no worker of ours is unknown everywhere: answering it here is as
        # right as anywhere, and saves a round trip.
        return owner is None or owner == self.worker or not 0 <= owner < self.workers

    async def hand_back(self, stream: trio.SocketStream, received: bytes) -> None:
        if len(received) > MAX_RECEIVED:
            return  # more read ahead than a client following HTTP sends: just close
        # The parent gone, closing the connection is all there is to do.
        with contextlib.suppress(ChannelClosed):
            await self.channel.send_connection(stream.socket.fileno(), received)


async def serve_worker(
    app: ASGIApp,
    settings: Settings,
    engine: EngineServer | None,
    worker: int,
    workers: int,
    channel: Channel,
) -> None:
    """Serve the connections the parent sends on ``channel`` until SIGTERM/SIGINT or the
    parent's end closes; the engine (if the app has one) drains its clients first."""
    server = NativeServer(app, native_config(settings), ConnectionLimits.for_settings(settings))
    server.context.sticky = WorkerRouting(worker, workers, channel)
    parent_gone = trio.Event()

    async def accept(connections: trio.Nursery) -> None:
        try:
            await channel.send_ready()
        except ChannelClosed:
            parent_gone.set()
            return
        # The parent says when the server serves: once every worker is ready.
        logger.debug("worker %d (pid %d) serving", worker, os.getpid())
        while (message := await channel.receive()) is not None:
            if message.kind is Kind.CONNECTION and message.fd is not None:
                stream = _stream(message.fd)
                if stream is not None:
                    connections.start_soon(server.serve_connection, stream, message.received)
        parent_gone.set()

    async def until_stopped() -> None:
        async with trio.open_nursery() as waiting:

            async def signalled() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        logger.info(
                            "worker %d: %s: shutting down", worker, signal.Signals(signum).name
                        )
                        break
                waiting.cancel_scope.cancel()

            async def orphaned() -> None:
                await parent_gone.wait()
                logger.warning("worker %d: the parent is gone: shutting down", worker)
                waiting.cancel_scope.cancel()

            waiting.start_soon(signalled)
            waiting.start_soon(orphaned)
        if engine is not None:
            await engine.drain(settings.shutdown_timeout)

    await server.serve_accepted(accept, [], until_stopped)


def _stream(fd: int) -> trio.SocketStream | None:
    """The handed-over descriptor as a stream; None (and closed) if it is not a TCP socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return None
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.close()
        return None
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))
