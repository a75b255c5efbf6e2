"""What every connection of one native server shares: the app, the limits, the shutdown.

Connections get this object rather than the server itself, so the modules that serve a
connection (``http.py``, ``websocket.py``) never import the one that accepts them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import trio

from ..asgi_io import ASGIApp
from .connlimits import ConnectionLimits
from .sticky import StickyRouting
from .tls import HANDSHAKE_TIMEOUT
from .wsframes import FrameCache


@dataclass(frozen=True, slots=True)
class FrontendConfig:
    # A client must finish a request's head, and send each piece of its body, within this.
    read_timeout: float = 46.0
    # An idle keep-alive connection is closed after this long without a new request.
    keep_alive_timeout: float = 45.0
    max_head_size: int = 16 * 1024
    max_message_size: int = 1_000_001
    # Bytes queued for one WebSocket before its sender waits for the socket.
    write_buffer: int = 64 * 1024
    # On shutdown, how long requests in progress get to finish.
    graceful_timeout: float = 10.0
    # With TLS: a client must finish its handshake within this, counted from its accept.
    tls_handshake_timeout: float = HANDSHAKE_TIMEOUT


@dataclass(slots=True)
class ConnectionContext:
    app: ASGIApp
    config: FrontendConfig
    limits: ConnectionLimits
    # Frame headers shared by every WebSocket of the server (one encoding per payload).
    frames: FrameCache = field(default_factory=FrameCache)
    # Writes to WebSocket clients (each carries every frame queued since the last).
    websocket_writes: int = 0
    # Direct sends that wrote (a message, or its start), and those that left a rest.
    direct_writes: int = 0
    direct_partial_writes: int = 0
    # Under --workers: which requests after a connection's first are this worker's.
    sticky: StickyRouting | None = None
    _shutting_down: bool = False
    _idle_waits: set[trio.CancelScope] = field(default_factory=set)

    @property
    def shutting_down(self) -> bool:
        """Once set, a connection takes no new request."""
        return self._shutting_down

    def shut_down(self) -> None:
        """Connections waiting for their next request end now; busy ones finish theirs."""
        self._shutting_down = True
        for wait in list(self._idle_waits):
            wait.cancel()

    @contextmanager
    def idle_wait(self, timeout: float) -> Iterator[trio.CancelScope]:
        """A wait for the client's next request: ends after ``timeout``, or at shutdown."""
        with trio.CancelScope(deadline=trio.current_time() + timeout) as wait:
            if self._shutting_down:
                wait.cancel()
            self._idle_waits.add(wait)
            try:
                yield wait
            finally:
                self._idle_waits.discard(wait)
