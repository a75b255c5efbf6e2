"""The Socket.IO server API on trio: namespaces, events, acks, rooms and broadcasts; a
:class:`SocketServer` is an ASGI app by itself."""

from .acks import ack_requested
from .asgi import EngineLimits
from .broadcast import BroadcastOperator
from .catchall import AnyListener
from .dynamic import NamespacePattern, NamespacePredicate, ParentNamespace
from .errors import AckTimeout, ConnectionRefused
from .middleware import ConnectMiddleware, PacketMiddleware
from .namespace import Namespace
from .server import SocketServer
from .socket import Handshake, Socket

__all__ = [
    "AckTimeout",
    "AnyListener",
    "BroadcastOperator",
    "ConnectMiddleware",
    "ConnectionRefused",
    "EngineLimits",
    "Handshake",
    "Namespace",
    "NamespacePattern",
    "NamespacePredicate",
    "PacketMiddleware",
    "ParentNamespace",
    "Socket",
    "SocketServer",
    "ack_requested",
]
