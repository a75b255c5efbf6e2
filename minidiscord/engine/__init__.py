"""The Engine.IO server on trio: sessions, heartbeat, long-polling and WebSocket transports."""

from .reasons import CloseReason, RejectLabel
from .server import EngineServer
from .session import ConnectionHandler, EngineConfig, EngineSession, OpenHandler, RequestInfo

__all__ = [
    "CloseReason",
    "ConnectionHandler",
    "EngineConfig",
    "EngineServer",
    "EngineSession",
    "OpenHandler",
    "RejectLabel",
    "RequestInfo",
]
