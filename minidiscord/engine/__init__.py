"""The Engine.IO server on trio: sessions, heartbeat, long-polling and WebSocket transports."""

from .server import EngineServer
from .session import ConnectionHandler, EngineConfig, EngineSession, OpenHandler, RequestInfo

__all__ = [
    "ConnectionHandler",
    "EngineConfig",
    "EngineServer",
    "EngineSession",
    "OpenHandler",
    "RequestInfo",
]
