"""hypercorn's writes made cancellable: a write cancelled before it finished ends its connection.

hypercorn's trio worker writes every byte of a connection (h11's, wsproto's, h2's) with a
``send_all`` in a shielded cancel scope, under the connection's send lock. Shielded, a write
to a client that has stopped reading waits until the client reads or closes, possibly for
ever, whoever cancels the task: a client the engine dropped (a slow consumer, a ping
timeout, a clean close whose flush ran out of time) kept its connection, its descriptor,
its kernel buffers and the bytes being written, and a graceful shutdown waited for it.

The shield keeps the wire and hypercorn's protocol state in step: the bytes are already out
of the state machine, so a write cut short leaves the peer and hypercorn disagreeing. The
native front end lets such a write be cancelled and ends the connection (nothing can follow
a frame cut short); hypercorn now does the same. A write cancelled while it waits for the
send lock or while it writes shuts the TCP socket down (the one under TLS too): a write of
another task blocked there fails, the reading task sees the end, and hypercorn closes the
connection as it does for a client that went away. Nothing changes for a write that is not
cancelled, however slowly the client reads.
"""

import functools
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import trio
from hypercorn.events import Closed, RawData
from hypercorn.trio.tcp_server import TCPServer

from .frontend.streams import tcp_socket

_INSTALLED_MARK = "_minidiscord_cancellable"


def shut_down(stream: Any) -> None:
    """End the connection under ``stream`` (plain or TLS) now, from any task: a blocked send
    on it fails and a blocked receive returns (its owner then closes it)."""
    with suppress(OSError):  # already closed, or the peer is gone
        tcp_socket(stream).shutdown(socket.SHUT_RDWR)


def install() -> None:
    """Make a cancelled write on a hypercorn trio connection end it (once per process)."""
    protocol_send: Callable[[TCPServer, Any], Awaitable[None]] = TCPServer.protocol_send
    if getattr(protocol_send, _INSTALLED_MARK, False):
        return

    @functools.wraps(protocol_send)
    async def protocol_send_cancellable(self: TCPServer, event: Any) -> None:
        if not isinstance(event, RawData):
            await protocol_send(self, event)
            return
        # hypercorn's own write, without the shield.
        try:
            async with self.send_lock:
                try:
                    await self.stream.send_all(event.data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.protocol.handle(Closed())
        except trio.Cancelled:
            shut_down(self.stream)
            raise

    setattr(protocol_send_cancellable, _INSTALLED_MARK, True)
    TCPServer.protocol_send = protocol_send_cancellable  # type: ignore[method-assign]
