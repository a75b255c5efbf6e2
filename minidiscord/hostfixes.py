"""Adjustments to the ASGI host (hypercorn's trio worker) that ASGI gives an app no say in.

- hypercorn 0.17-0.18 lets an exception from one connection's protocol handling escape
  that connection's task and end the whole server: a client that sends bytes right after
  a WebSocket upgrade request, before the handshake answer, takes every other client
  down with it. Each connection's handler is wrapped so that its failure ends that
  connection only.
- hypercorn accepts permessage-deflate whenever a client offers it (browsers and node's
  ws always do). Compression runs per recipient, so a broadcast would be compressed once
  per member, and each connection would hold a zlib state of hundreds of KB. The
  reference Socket.IO server leaves it off by default; so do we.
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("minidiscord.host")

_INSTALLED_MARK = "_minidiscord_contained"


def contain_connection_errors() -> None:
    """Make a failing hypercorn connection handler end that connection, not the server."""
    try:
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:  # another ASGI host: nothing to mend
        return
    run: Callable[[Any], Awaitable[None]] = TCPServer.run
    if getattr(run, _INSTALLED_MARK, False):
        return

    @functools.wraps(run)
    async def contained_run(self: Any) -> None:
        try:
            await run(self)
        except Exception as exc:
            # The peer broke the HTTP exchange (h11 raises from the host's own sends);
            # its connection is already closed by the host's finally clause.
            logger.info("dropped a connection the HTTP layer could not handle: %r", exc)

    setattr(contained_run, _INSTALLED_MARK, True)
    TCPServer.run = contained_run  # type: ignore[method-assign]


def is_host_protocol_error(exc: BaseException) -> bool:
    """True for the error the host raises when the app sends on an exchange it already ended."""
    try:
        import h11
    except ImportError:
        return False
    return isinstance(exc, h11.LocalProtocolError)


def refuse_websocket_compression() -> None:
    """Make hypercorn ignore the permessage-deflate offers of WebSocket clients."""
    try:
        from hypercorn.protocol.ws_stream import Handshake
    except ImportError:
        return
    init: Callable[..., None] = Handshake.__init__
    if getattr(init, _INSTALLED_MARK, False):
        return

    @functools.wraps(init)
    def init_without_extensions(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.extensions = None

    setattr(init_without_extensions, _INSTALLED_MARK, True)
    Handshake.__init__ = init_without_extensions  # type: ignore[method-assign]
