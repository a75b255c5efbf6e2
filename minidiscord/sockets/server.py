"""The Socket.IO server: namespaces, and one Client per Engine.IO session."""

from collections.abc import Callable, Iterable
from typing import Any

from ..metrics import Metrics
from .broadcast import BroadcastOperator
from .client import Client
from .connection import EngineConnection
from .namespace import H, Namespace


class SocketServer:
    """The Socket.IO server: its namespaces, and a :class:`Client` for each Engine.IO
    session the engine opens (``connection_opened`` is the engine's open handler).

    ``sio.on("event")`` registers a handler on "/", ``sio.of("/name")`` reaches another
    namespace; ``connect_timeout`` is how long a new session may go without a namespace
    CONNECT, ``max_attachments`` and ``attachment_timeout`` bound a binary packet.
    """

    def __init__(
        self,
        *,
        connect_timeout: float | None = 45.0,
        max_attachments: int = 10,
        attachment_timeout: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        # A binary packet's attachments must all arrive within this many seconds.
        self.attachment_timeout = attachment_timeout
        self.namespaces: dict[str, Namespace] = {"/": Namespace("/", self.metrics)}

    def of(self, name: str = "/") -> Namespace:
        """The namespace called ``name``, registered on first use."""
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
        namespace = self.namespaces.get(name)
        if namespace is None:
            namespace = self.namespaces[name] = Namespace(name, self.metrics)
        return namespace

    def on(self, event: str, namespace: str = "/") -> Callable[[H], H]:
        return self.of(namespace).on(event)

    def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        self.of(namespace).emit(event, *args)

    def to(self, room: str | Iterable[str], namespace: str = "/") -> BroadcastOperator:
        return self.of(namespace).to(room)

    def connection_opened(self, session: EngineConnection) -> Client:
        """The engine's open handler: every new session gets a Socket.IO client."""
        return Client(self, session)
