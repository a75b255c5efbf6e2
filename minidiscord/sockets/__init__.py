"""The Socket.IO server API on trio: namespaces, events, acks, rooms and broadcasts; a
:class:`SocketServer` is an ASGI app by itself."""

from ..protocol.jsoncodec import Encoded
from .acks import ack_requested
from .adapter import Adapter, AdapterFactory, BroadcastFlags, BroadcastOptions, SocketDetails
from .asgi import EngineLimits
from .broadcast import BroadcastOperator
from .catchall import AnyListener
from .dynamic import NamespacePattern, NamespacePredicate, ParentNamespace
from .errors import AckTimeout, BroadcastAckTimeout, ConnectionRefused, ServerSideEmitTimeout
from .handlers import ConnectHandler, DisconnectHandler, ErrorHandler, EventHandler, OnEvent
from .memory_adapter import InMemoryAdapter
from .middleware import ConnectMiddleware, PacketMiddleware
from .namespace import Namespace
from .recovery import Recovery, Session
from .remote import RemoteSocket
from .server import SocketServer
from .socket import Handshake, Socket

__all__ = [
    "AckTimeout",
    "Adapter",
    "AdapterFactory",
    "AnyListener",
    "BroadcastAckTimeout",
    "BroadcastFlags",
    "BroadcastOperator",
    "BroadcastOptions",
    "ConnectHandler",
    "ConnectMiddleware",
    "ConnectionRefused",
    "DisconnectHandler",
    "Encoded",
    "EngineLimits",
    "ErrorHandler",
    "EventHandler",
    "Handshake",
    "InMemoryAdapter",
    "Namespace",
    "NamespacePattern",
    "NamespacePredicate",
    "OnEvent",
    "PacketMiddleware",
    "ParentNamespace",
    "Recovery",
    "RemoteSocket",
    "ServerSideEmitTimeout",
    "Session",
    "Socket",
    "SocketDetails",
    "SocketServer",
    "ack_requested",
]
