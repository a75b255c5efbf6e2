"""The Socket.IO server API on trio: namespaces, events, acks, rooms and broadcasts."""

from .acks import ack_requested
from .adapter import Adapter, AdapterFactory, BroadcastFlags, BroadcastOptions, SocketDetails
from .broadcast import BroadcastOperator
from .errors import AckTimeout, BroadcastAckTimeout, ConnectionRefused, ServerSideEmitTimeout
from .memory_adapter import InMemoryAdapter
from .namespace import Namespace
from .remote import RemoteSocket
from .server import SocketServer
from .socket import Handshake, Socket

__all__ = [
    "AckTimeout",
    "Adapter",
    "AdapterFactory",
    "BroadcastAckTimeout",
    "BroadcastFlags",
    "BroadcastOperator",
    "BroadcastOptions",
    "ConnectionRefused",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "RemoteSocket",
    "ServerSideEmitTimeout",
    "Socket",
    "SocketDetails",
    "SocketServer",
    "ack_requested",
]
