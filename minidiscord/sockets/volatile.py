"""``socket.volatile``: emits to one client that are dropped, not queued, when it cannot take
them now (as a volatile broadcast is for each of its recipients)."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .socket import Socket


class VolatileEmitter:
    """``socket.volatile.emit(event, *args)``: sent only if the socket is
    :attr:`~minidiscord.sockets.Socket.writable` now (see there for what "now" means)."""

    __slots__ = ("_socket",)

    def __init__(self, socket: "Socket") -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> bool:
        """Send the event if the client can take it now; whether it was sent."""
        socket = self._socket
        if not socket.writable:
            return False
        # Not kept for connection state recovery: a volatile event may be lost anyway.
        socket.emit_volatile(event, *args)
        return True
