"""The Socket.IO server API on trio: namespaces, events, acks, rooms and broadcasts."""

from .acks import ack_requested
from .broadcast import BroadcastOperator
from .errors import AckTimeout, ConnectionRefused
from .namespace import Namespace
from .server import SocketServer
from .socket import Handshake, Socket

__all__ = [
    "AckTimeout",
    "BroadcastOperator",
    "ConnectionRefused",
    "Handshake",
    "Namespace",
    "Socket",
    "SocketServer",
    "ack_requested",
]
