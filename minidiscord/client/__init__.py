"""A trio Socket.IO v4 client (Engine.IO 4 over WebSocket or long-polling with upgrade),
modelled on the JavaScript socket.io-client 4.8::

    async with minidiscord.client.connect("http://localhost:8000", auth={"token": t}) as sio:
        sio.emit("hello", "world")
        answer = await sio.call("echo", b"bytes too", timeout=5)

See :class:`Client` for the options and what bounds the client's memory.
"""

from .backoff import Backoff
from .client import Client, connect
from .errors import BufferFull, CallTimeout, ClientError, ConnectError, Disconnected
from .handlers import (
    AnyHandler,
    AttemptListener,
    ConnectErrorListener,
    ConnectListener,
    DisconnectListener,
    Handler,
    OnEvent,
    OnManagerEvent,
    PacketListener,
)
from .socket import Auth, ClientSocket, Event

__all__ = [
    "AnyHandler",
    "AttemptListener",
    "Auth",
    "Backoff",
    "BufferFull",
    "CallTimeout",
    "Client",
    "ClientError",
    "ClientSocket",
    "ConnectError",
    "ConnectErrorListener",
    "ConnectListener",
    "DisconnectListener",
    "Disconnected",
    "Event",
    "Handler",
    "OnEvent",
    "OnManagerEvent",
    "PacketListener",
    "connect",
]
