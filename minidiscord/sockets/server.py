"""The Socket.IO server: namespaces, and one Client per Engine.IO session."""

from collections.abc import Callable, Iterable
from typing import Any

from ..metrics import Metrics
from .adapter import AdapterFactory
from .broadcast import BroadcastOperator
from .client import Client
from .connection import EngineConnection
from .memory_adapter import InMemoryAdapter
from .namespace import H, Namespace
from .operators import Operators


class SocketServer(Operators):
    """The Socket.IO server: its namespaces, and a :class:`Client` for each Engine.IO
    session the engine opens (``connection_opened`` is the engine's open handler).

    ``sio.on("event")`` registers a handler on "/", ``sio.of("/name")`` reaches another
    namespace; ``connect_timeout`` is how long a new session may go without a namespace
    CONNECT, ``max_attachments`` and ``attachment_timeout`` bound a binary packet.

    ``adapter`` makes each namespace's :class:`~minidiscord.sockets.Adapter` (given the
    namespace; :class:`~minidiscord.sockets.InMemoryAdapter` by default). The operators
    (``to``, ``volatile``, ``timeout(...).emit_with_ack``, ``fetch_sockets``,
    ``close_room``...) act on "/"; ``sio.of(name)`` has the same for another namespace.
    """

    def __init__(
        self,
        *,
        connect_timeout: float | None = 45.0,
        max_attachments: int = 10,
        attachment_timeout: float = 30.0,
        metrics: Metrics | None = None,
        adapter: AdapterFactory = InMemoryAdapter,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        # A binary packet's attachments must all arrive within this many seconds.
        self.attachment_timeout = attachment_timeout
        self.adapter_factory = adapter
        self.namespaces: dict[str, Namespace] = {
            "/": Namespace("/", self.metrics, adapter_factory=adapter)
        }

    def of(self, name: str = "/") -> Namespace:
        """The namespace called ``name``, registered on first use."""
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
        namespace = self.namespaces.get(name)
        if namespace is None:
            namespace = self.namespaces[name] = Namespace(
                name, self.metrics, adapter_factory=self.adapter_factory
            )
        return namespace

    def on(self, event: str, namespace: str = "/") -> Callable[[H], H]:
        return self.of(namespace).on(event)

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.of("/").adapter)

    def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        self.of(namespace).emit(event, *args)

    def to(self, room: str | Iterable[str], namespace: str = "/") -> BroadcastOperator:
        return self.of(namespace).to(room)

    in_ = to

    def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to the other servers' "/" (see :meth:`Namespace.server_side_emit`)."""
        self.of("/").server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Send to the other servers' "/" and wait for their answers."""
        return await self.of("/").server_side_emit_with_ack(event, *args, timeout=timeout)

    def connection_opened(self, session: EngineConnection) -> Client:
        """The engine's open handler: every new session gets a Socket.IO client."""
        return Client(self, session)
