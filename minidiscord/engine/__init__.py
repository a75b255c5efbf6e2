"""The Engine.IO server on trio: sessions, heartbeat, long-polling and WebSocket transports."""

from .asgi import EngineApp
from .reasons import CloseReason, RejectLabel
from .server import TRANSPORTS, EngineServer
from .session import ConnectionHandler, EngineConfig, EngineSession, OpenHandler, RequestInfo

__all__ = [
    "TRANSPORTS",
    "CloseReason",
    "ConnectionHandler",
    "EngineApp",
    "EngineConfig",
    "EngineServer",
    "EngineSession",
    "OpenHandler",
    "RejectLabel",
    "RequestInfo",
]
