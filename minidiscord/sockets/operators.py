"""The broadcast operators as a namespace (and the server, for "/") offers them: each starts
a :class:`~minidiscord.sockets.BroadcastOperator` over every socket of the namespace."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .broadcast import BroadcastOperator

if TYPE_CHECKING:
    from .remote import RemoteSocket


class Operators:
    """``to``/``in_``/``except_``, ``volatile``, ``local``, ``timeout``, ``emit``,
    ``emit_with_ack``, ``fetch_sockets``, ``sockets_join``, ``sockets_leave``,
    ``disconnect_sockets`` and ``close_room``, for a class that says which namespace's
    sockets they start from (:meth:`_operator`)."""

    __slots__ = ()

    def _operator(self) -> BroadcastOperator:
        raise NotImplementedError

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The sockets in ``room`` (a name or several)."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Every socket but those in ``room`` (a name or several)."""
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """Every socket, dropping the packet for a client that cannot take it now."""
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        """This server's sockets only."""
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Every socket, waiting ``seconds`` for acknowledgements (``emit_with_ack``)."""
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to every socket; never waits on a client."""
        self._operator().emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float) -> list[Any]:
        """Send to every socket and gather their acknowledgements (see
        :meth:`BroadcastOperator.emit_with_ack`)."""
        return await self._operator().timeout(timeout).emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list["RemoteSocket"]:
        """Every socket, of every server."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, room: str | Iterable[str]) -> None:
        """Every socket joins ``room``."""
        self._operator().sockets_join(room)

    def sockets_leave(self, room: str | Iterable[str]) -> None:
        """Every socket leaves ``room``."""
        self._operator().sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket; ``close`` ends their whole connections too."""
        self._operator().disconnect_sockets(close)

    def close_room(self, room: str) -> None:
        """Every socket in ``room`` leaves it, so the room no longer exists."""
        self._operator().in_(room).sockets_leave(room)
