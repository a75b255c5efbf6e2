"""Accepting connections: several of those waiting on a listening socket per wake-up.

``trio.serve_listeners`` accepts one connection and then yields to the scheduler, so a
server accepts at most one connection per scheduler pass. On a busy server a pass can be
long (in a chat connect storm each pass writes a round of direct sends to every client
already there: tens of milliseconds with 2,000 of them), and the accept rate, not the
server's CPU, then set the storm's pace: about 50 connects/s with 2,000 clients. Here one
wake-up of the listening socket accepts several of the connections the kernel has queued.
"""

import errno
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, Protocol

import trio

logger = logging.getLogger("minidiscord.frontend")

# Connections accepted per wake-up at most. Connections accepted together move through
# their handshakes together, so their chat joins fall in one round of direct writes, and
# each client gets their `user:join`s in one write: 4 per pass cut the server's CPU in a
# 2,000-client storm from 19 to 10 s (64: 6 s). But they are greeted together too, each
# holding its `users` list (220 KB at 2,000 users) until written, and the heap keeps that
# high-water mark: KiB per chat user after the storm 31 with 4, 36 with 8, 47 with 64
# (docs/benchmarks.md, "Accepting in batches").
ACCEPT_BATCH = 4

# The kernel is out of something (descriptors, memory): trying again at once would spin.
CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
CAPACITY_PAUSE = 0.1
# A connection that went away before it was accepted, or a network fault reported on the
# connection: that one is skipped (as trio's SocketListener does).
SKIPPED_ERRNOS = {
    errno.ECONNABORTED,
    errno.EPROTO,
    errno.ENETDOWN,
    errno.ENOPROTOOPT,
    errno.EHOSTDOWN,
    errno.ENONET,
    errno.EHOSTUNREACH,
    errno.EOPNOTSUPP,
    errno.ENETUNREACH,
}

Handler = Callable[[trio.SocketStream], Awaitable[object]]


class Listening(Protocol):
    """What is used of a listening ``socket.socket``."""

    def fileno(self) -> int: ...

    def accept(self) -> tuple[socket.socket, Any]: ...


async def serve_listener(sock: Listening, handler: Handler, nursery: trio.Nursery) -> NoReturn:
    """Accept connections on the non-blocking listening ``sock`` until cancelled, starting
    ``handler(stream)`` in ``nursery`` for each; the stream is closed when it returns."""
    while True:
        await trio.lowlevel.wait_readable(sock)
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _address = sock.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in SKIPPED_ERRNOS:
                    continue
                if exc.errno not in CAPACITY_ERRNOS:
                    raise
                reason = os.strerror(exc.errno)
                logger.error("accept failed: %s; trying again in %g s", reason, CAPACITY_PAUSE)
                await trio.sleep(CAPACITY_PAUSE)
                break
            # SocketStream sets TCP_NODELAY, as trio's listener does for what it accepts.
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(conn))
            nursery.start_soon(_run_handler, handler, stream)


async def _run_handler(handler: Handler, stream: trio.SocketStream) -> None:
    try:
        await handler(stream)
    finally:
        # A refused connection is closed already: closing it again would cost a cancelled
        # checkpoint per refusal.
        if stream.socket.fileno() >= 0:
            await trio.aclose_forcefully(stream)
