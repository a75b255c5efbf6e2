"""What a native connection is carried on: a plain TCP stream or TLS over one, and what differs.

Every module that serves a connection takes a :data:`ClientStream`, so that code needing
the socket itself has to say which kind it has: the bytes of a TLS connection must go
through its TLS layer (``trio.SSLStream``), so only a plain stream's socket may be written
to directly, while both have a TCP socket whose addresses name the client.

A TLS stream's ``receive_some`` is typed to return ``bytes | bytearray``; it returns bytes,
and readers write ``bytes(await stream.receive_some(n))`` to say so (``bytes()`` of a bytes
object is that object: no copy).
"""

from typing import TypeAlias

import trio

ClientStream: TypeAlias = trio.SocketStream | trio.SSLStream[trio.SocketStream]


def tcp_socket(stream: ClientStream) -> trio.socket.SocketType:
    """The TCP socket under the stream (for its addresses, never for writing to a TLS one)."""
    if isinstance(stream, trio.SSLStream):
        return stream.transport_stream.socket
    return stream.socket


def is_tls(stream: ClientStream) -> bool:
    return isinstance(stream, trio.SSLStream)


async def end_sending(stream: ClientStream) -> None:
    """Tell the client we have nothing more to send, while still reading what it sends.

    A plain stream half-closes. TLS has no half-close (a close_notify ends the whole
    session): there the client learns it from the protocol (a WebSocket close frame, an
    HTTP response that closes the connection), and nothing is sent.
    """
    if isinstance(stream, trio.SocketStream):
        await stream.send_eof()
    else:
        await trio.lowlevel.checkpoint()
