"""The Socket.IO server API on trio: namespaces, events, acks, rooms and broadcasts; a
:class:`SocketServer` is an ASGI app by itself."""

from .acks import ack_requested
from .asgi import EngineLimits
from .broadcast import BroadcastOperator
from .errors import AckTimeout, ConnectionRefused
from .namespace import Namespace
from .server import SocketServer
from .socket import Handshake, Socket

__all__ = [
    "AckTimeout",
    "BroadcastOperator",
    "ConnectionRefused",
    "EngineLimits",
    "Handshake",
    "Namespace",
    "Socket",
    "SocketServer",
    "ack_requested",
]
