"""A socket as ``fetch_sockets`` returns it: its details, and actions that reach it through
the adapter wherever it is connected (this server or, with a cluster adapter, another)."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .adapter import Adapter, BroadcastOptions, SocketDetails
from .broadcast import BroadcastOperator

if TYPE_CHECKING:
    from .socket import Handshake


class RemoteSocket:
    """One fetched socket: ``id``, ``handshake``, ``rooms`` (when fetched) and ``data``, and
    ``emit``, ``emit_with_ack``, ``join``, ``leave`` and ``disconnect``.

    Every action is an operation on the room named by the socket's id, so it goes through
    the adapter exactly as a broadcast would, and works the same for a socket of another
    server. ``data`` is the socket's own dict on this server, a copy for another's.
    """

    __slots__ = ("_operator", "data", "handshake", "id", "rooms")

    def __init__(self, adapter: Adapter, details: SocketDetails) -> None:
        self.id = details.id
        self.handshake: Handshake = details.handshake
        self.rooms = details.rooms
        self.data = details.data
        self._operator = BroadcastOperator(adapter, BroadcastOptions(rooms=frozenset((self.id,))))

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id}>"

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this socket's client."""
        self._operator.emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float) -> Any:
        """Send an event and wait up to ``timeout`` seconds for the client's answer (its
        first ack argument); raises :class:`~minidiscord.sockets.BroadcastAckTimeout`."""
        responses = await self._operator.timeout(timeout).emit_with_ack(event, *args)
        # No answer to wait for when the socket is gone (it was sent to no one).
        return responses[0] if responses else None

    def join(self, room: str | Iterable[str]) -> None:
        """The socket joins ``room`` (a name or several)."""
        self._operator.sockets_join(room)

    def leave(self, room: str) -> None:
        """The socket leaves ``room``."""
        self._operator.sockets_leave(room)

    def disconnect(self, close: bool = False) -> None:
        """Disconnect the socket; ``close`` ends its whole connection too."""
        self._operator.disconnect_sockets(close)
