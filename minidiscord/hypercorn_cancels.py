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

Under HTTP/2 the app's write to a stream waits in the stream's buffer for the client's
flow-control window (:mod:`.hypercorn_h2flow`) and for hypercorn's sending task, not under
the send lock: cancelled there, it ends the connection too. Its other streams go with it,
as they would with a client gone: resetting the one stream would leave the connection to
a sending task that may itself be stuck on the full socket, and the engine cancels a write
only when it has given up on the client.
"""

import functools
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import trio
from hypercorn.events import Closed, RawData
from hypercorn.protocol.events import Body, Data, EndBody, EndData, Trailers
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.trio.tcp_server import TCPServer

from .frontend.streams import tcp_socket

_INSTALLED_MARK = "_minidiscord_cancellable"
# What an app writes to an HTTP/2 stream: each waits on the stream's buffer.
_STREAM_WRITES = (Body, Data, EndBody, EndData, Trailers)


def shut_down(stream: Any) -> None:
    """End the connection under ``stream`` (plain or TLS) now, from any task: a blocked send
    on it fails and a blocked receive returns (its owner then closes it)."""
    with suppress(OSError):  # already closed, or the peer is gone
        tcp_socket(stream).shutdown(socket.SHUT_RDWR)


def install() -> None:
    """Make a cancelled write on a hypercorn trio connection end it (once per process)."""
    _install_for_connections()
    _install_for_http2_streams()


def _install_for_connections() -> None:
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


def _install_for_http2_streams() -> None:
    stream_send: Callable[[H2Protocol, Any], Awaitable[None]] = H2Protocol.stream_send
    if getattr(stream_send, _INSTALLED_MARK, False):
        return

    @functools.wraps(stream_send)
    async def stream_send_cancellable(self: H2Protocol, event: Any) -> None:
        try:
            await stream_send(self, event)
        except trio.Cancelled:
            if isinstance(event, _STREAM_WRITES):
                tcp_server = getattr(self.send, "__self__", None)
                if isinstance(tcp_server, TCPServer):
                    shut_down(tcp_server.stream)
            raise

    setattr(stream_send_cancellable, _INSTALLED_MARK, True)
    H2Protocol.stream_send = stream_send_cancellable  # type: ignore[method-assign]
