"""The engine a SocketServer owns: its options, under the reference server's names, made
into the Engine.IO server and the ASGI app that serves it.

This is the one module of the Socket.IO layer that knows the engine by more than its close
reasons: everything else reaches a client through
:class:`~minidiscord.sockets.connection.EngineConnection`.
"""

from collections.abc import Iterable
from typing import TypedDict

from ..asgi_io import ASGIApp, Receive, Scope, Send
from ..engine import TRANSPORTS, EngineApp, EngineConfig, EngineServer, OpenHandler
from ..limits import Rate
from ..metrics import Metrics


class EngineLimits(TypedDict, total=False):
    """What one client, one address, or all of them may hold of the server (the reference
    server has no such limits; each defaults to :class:`~minidiscord.engine.EngineConfig`'s).

    ``client_buffer`` and ``client_buffer_bytes``: frames and bytes queued for one client
    before it counts as a slow consumer and is dropped; ``ip_buffer_bytes``: bytes queued for
    all the clients of one address; ``inbound_rate``: packets one client may send (a
    :class:`~minidiscord.limits.Rate`, None for no limit); ``max_sessions``: sessions open at
    once (handshakes beyond get 503); ``ip_connect_rate`` and ``ip_max_sessions``: new
    sessions, and sessions open at once, per client address.
    """

    client_buffer: int
    client_buffer_bytes: int
    ip_buffer_bytes: int
    inbound_rate: Rate | None
    max_sessions: int | None
    ip_connect_rate: Rate | None
    ip_max_sessions: int | None


class ServedByEngine:
    """What an ASGI host sees of a :class:`~minidiscord.sockets.SocketServer`: an ASGI app
    (its :attr:`app`, the engine at its path), the engine, and the drain before stopping."""

    app: EngineApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    @property
    def engine(self) -> EngineServer:
        """The Engine.IO server the clients connect through."""
        return self.app.engine

    async def drain(self, timeout: float) -> None:
        """Refuse new sessions and close every client's transport cleanly (standard clients
        reconnect, later or elsewhere), waiting up to ``timeout`` seconds for them all."""
        await self.engine.drain(timeout)


def engine_app(
    on_open: OpenHandler,
    metrics: Metrics,
    *,
    path: str,
    ping_interval: float,
    ping_timeout: float,
    max_http_buffer_size: int,
    cors_allowed_origins: str | Iterable[str],
    transports: Iterable[str],
    upgrade_timeout: float,
    other_asgi_app: ASGIApp | None,
    limits: EngineLimits,
) -> EngineApp:
    """The Engine.IO server these options describe, served at ``path`` as an ASGI app."""
    unknown = set(transports) - set(TRANSPORTS)
    if unknown:
        raise ValueError(f"unknown transports {sorted(unknown)}: the transports are {TRANSPORTS}")
    origins = (
        (cors_allowed_origins,) if isinstance(cors_allowed_origins, str) else cors_allowed_origins
    )
    config = EngineConfig(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_payload=max_http_buffer_size,
        upgrade_timeout=upgrade_timeout,
        **limits,
    )
    engine = EngineServer(
        config, on_open, allowed_origins=origins, transports=transports, metrics=metrics
    )
    return EngineApp(engine, path=path, other_asgi_app=other_asgi_app)
