"""Errors the trio Socket.IO client raises: refused connections, timeouts, lost sessions."""

from typing import Any


class ClientError(Exception):
    """Base of every error :mod:`minidiscord.client` raises on purpose."""


class ConnectError(ClientError):
    """A connection could not be made: the server refused a namespace (its CONNECT_ERROR,
    with the server's ``message`` and ``data``), or the transport could not be opened."""

    def __init__(self, message: str, data: Any = None, *, namespace: str = "/") -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.namespace = namespace


class CallTimeout(ClientError):
    """The server did not acknowledge a :meth:`~minidiscord.client.ClientSocket.call` in time."""


class Disconnected(ClientError):
    """The connection ended while waiting for an acknowledgement, or the socket is closed
    for good (the client closed it, or the server disconnected it)."""


class BufferFull(ClientError):
    """More packets wait to be sent than ``max_buffered_packets`` allows: the application
    emits faster than the connection carries them, or emits while reconnecting for long."""
