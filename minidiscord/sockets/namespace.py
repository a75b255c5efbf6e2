"""A namespace: its event handlers, its sockets and its rooms."""

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, TypeVar

from ..metrics import Metrics
from .adapter import AdapterFactory
from .broadcast import BroadcastOperator
from .handlers import OnEvent
from .memory_adapter import InMemoryAdapter
from .middleware import ConnectMiddleware
from .operators import Operators
from .serverside import S, ServerSideEvents

if TYPE_CHECKING:
    from .recovery import Recovery
    from .socket import Socket

logger = logging.getLogger("minidiscord.sockets")

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)


class Namespace(Operators):
    """One Socket.IO namespace ("/" by default): the handlers of its events, the sockets
    connected to it and, through its adapter, its rooms.

    Handlers are coroutines taking the :class:`~minidiscord.sockets.Socket` first:
    ``connect(socket, auth)`` may raise :class:`~minidiscord.sockets.ConnectionRefused` to
    refuse the client (it gets ``CONNECT_ERROR``); ``disconnect(socket, reason)`` runs once
    per connected socket; any other event's handler gets the client's arguments, and what it
    returns is the acknowledgement when the client asked for one. ``emit``, ``to`` and the
    other operators (:class:`~minidiscord.sockets.operators.Operators`) broadcast without
    waiting for any client; every room and broadcast goes through ``adapter`` (made by
    ``adapter_factory``, :class:`~minidiscord.sockets.InMemoryAdapter` by default).
    ``use`` adds a connect middleware; ``disconnecting(socket, reason)`` runs before
    ``disconnect``, while the socket's rooms are still known; ``error(socket, error)`` gets
    what a packet middleware raised. ``recovery``: connection state recovery's options
    (set by the server; None when it is off).
    """

    recovery: "Recovery | None" = None

    def __init__(
        self,
        name: str,
        metrics: Metrics | None = None,
        *,
        adapter_factory: AdapterFactory = InMemoryAdapter,
    ) -> None:
        self.name = name
        self.metrics = metrics or Metrics()
        self.sockets: dict[str, Socket] = {}
        # A child of a dynamic namespace reads its parent's handlers through this mapping.
        self.handlers: MutableMapping[str, Handler] = {}
        self.middlewares: list[ConnectMiddleware] = []
        # Events applied in the connection's reader when nothing waits (answer_in_reader).
        self.answered_in_reader: set[str] = set()
        # The sockets with an outgoing catch-all listener: a broadcast asks only when some do.
        self.watching_outgoing: set[Socket] = set()
        # One counter for every ack id in the namespace, a socket's own emits and
        # broadcasts alike, so a broadcast's id never collides with a socket's pending one.
        self.ack_ids = itertools.count()
        self.server_side = ServerSideEvents()
        self.adapter = adapter_factory(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    @property
    def on(self) -> OnEvent:
        """Register the handler of an event (``connect`` and ``disconnect`` included), as a
        decorator that returns the handler; its shape is checked against the event's
        (:mod:`minidiscord.sockets.handlers`)."""
        return self._on

    def _on(self, event: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.handlers[event] = handler
            return handler

        return register

    def answer_in_reader(self, *events: str) -> None:
        """Promise that the handlers of ``events`` never wait for a later packet of their own
        client (an ack of theirs, their next event): when nothing of that connection waits
        its turn, such an event is then applied in the task that reads the connection,
        which saves waking a worker per event (:mod:`minidiscord.sockets.inbox`). Nothing
        of that client is read while such a handler runs, its pongs included: what it
        waits for must be bounded well within the ping timeout (the chat's store calls
        are, in seconds), and a handler that breaks the promise waits until its own wait
        times out. Nor is such a handler shielded as the worker is: the connection's end
        may cut it at an await (where the engine's own task reads, as on the native front
        end: at once when the connection is dropped, after the flush of a clean close), so
        what it must not lose once begun it makes uncancellable itself; and the close
        handler's bound does not cut it, so it may end after the disconnect handlers ran.
        Sockets with their own handler of an event, or packet middlewares, take turns in
        the worker as any other."""
        self.answered_in_reader.update(events)

    def use(self, middleware: ConnectMiddleware) -> ConnectMiddleware:
        """Add a connect middleware (see :mod:`minidiscord.sockets.middleware`), run after
        those already added; returns it, so it also works as a decorator."""
        self.middlewares.append(middleware)
        return middleware

    def middleware_chain(self) -> Sequence[ConnectMiddleware]:
        """The connect middlewares a client goes through, in order."""
        return self.middlewares

    # Broadcasting (the operators: operators.py) -----------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter)

    # Between servers --------------------------------------------------------------------

    def on_server_side(self, event: str) -> Callable[[S], S]:
        """Register the handler of an event other servers send with ``server_side_emit``:
        ``handler(*args)``, its return value the answer to one sent with an ack."""
        return self.server_side.on(event)

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to this namespace on the other servers (never to clients)."""
        self.adapter.server_side_emit(event, args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send to the other servers and wait for every one's answer (``[]`` alone);
        raises :class:`~minidiscord.sockets.ServerSideEmitTimeout` after ``timeout``."""
        return await self.adapter.server_side_emit_with_ack(event, args, timeout)

    # Membership -------------------------------------------------------------------------

    @property
    def rooms(self) -> Mapping[str, AbstractSet[str]]:
        """This server's rooms, each with its members' socket ids (read-only)."""
        return self.adapter.rooms

    def add(self, socket: "Socket") -> None:
        """A socket joined the namespace: keep it, in its rooms (for the server's client)."""
        self.sockets[socket.id] = socket
        self.adapter.add_all(socket.id, socket.entering())

    def remove(self, socket: "Socket") -> None:
        """A socket left the namespace: forget it and its rooms."""
        self.adapter.del_all(socket.id)
        self.sockets.pop(socket.id, None)

    async def trigger_disconnect(self, socket: "Socket", reason: str) -> None:
        """Run the namespace's ``disconnect`` handler; a failing one is logged."""
        handler = self.handlers.get("disconnect")
        if handler is None:
            return
        try:
            await handler(socket, reason)
        except Exception:
            logger.exception("disconnect handler failed for %r", socket)
