"""Middlewares: the namespace's chain on each CONNECT, and a socket's chain on each event.

A **connect middleware** is ``async def middleware(socket, auth) -> None``, registered with
``namespace.use`` (``sio.use`` for "/"). The chain runs in order before the socket joins the
namespace and before the ``connect`` handler; a middleware refuses by raising
:class:`~minidiscord.sockets.ConnectionRefused` (``message``, and ``data`` for the client),
which the client receives as ``CONNECT_ERROR {"message": ..., "data": ...}`` as the reference
server sends it. Any other exception is a bug: it is logged and the client is refused with
a generic message, and the server goes on.

A **packet middleware** is ``async def middleware(event, args) -> None``, registered with
``socket.use``; the chain runs in order on each event the client sends, before its handler.
``args`` is the event's argument list, which a middleware may change in place. Raising
stops the event (no handler, no ack) and hands the exception to the socket's ``error``
handlers (``namespace.on("error")`` and ``socket.on("error")``: ``(socket, error)``).
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConnectionRefused

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

ConnectMiddleware = Callable[["Socket", dict[str, Any] | None], Awaitable[None]]
"""``async def middleware(socket, auth)``: return to let the client in, raise
:class:`~minidiscord.sockets.ConnectionRefused` to refuse it."""

PacketMiddleware = Callable[[str, list[Any]], Awaitable[None]]
"""``async def middleware(event, args)``: return to let the event through, raise to stop it."""

# What a client refused by a middleware's bug is told: nothing about the server's insides.
INTERNAL_ERROR = "Internal server error"


async def admit(
    chain: Sequence[ConnectMiddleware], socket: "Socket", auth: dict[str, Any] | None
) -> ConnectionRefused | None:
    """Run the connect middlewares in order; the refusal of the first that refuses."""
    for middleware in chain:
        try:
            await middleware(socket, auth)
        except ConnectionRefused as refusal:
            return refusal
        except Exception:
            logger.exception("connect middleware %r failed on %r", middleware, socket)
            return ConnectionRefused(INTERNAL_ERROR)
    return None


async def screen(
    chain: Sequence[PacketMiddleware], event: str, args: list[Any]
) -> Exception | None:
    """Run the packet middlewares in order; the exception of the first that stops the
    event, or None when it may go on to its handler."""
    for middleware in chain:
        try:
            await middleware(event, args)
        except Exception as error:
            return error
    return None
