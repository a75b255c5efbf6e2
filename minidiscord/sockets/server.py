"""The Socket.IO server: namespaces, and one Client per Engine.IO session."""

import re
from collections.abc import Callable, Iterable
from typing import Any, overload

from ..metrics import Metrics
from .broadcast import BroadcastOperator
from .client import Client
from .connection import EngineConnection
from .dynamic import NamespacePattern, ParentNamespace
from .middleware import ConnectMiddleware
from .namespace import H, Namespace


class SocketServer:
    """The Socket.IO server: its namespaces, and a :class:`Client` for each Engine.IO
    session the engine opens (``connection_opened`` is the engine's open handler).

    ``sio.on("event")`` registers a handler on "/", ``sio.use(middleware)`` a connect
    middleware on "/", ``sio.of("/name")`` reaches another namespace and ``sio.of(pattern)``
    makes a dynamic one (:mod:`minidiscord.sockets.dynamic`); ``connect_timeout`` is how
    long a new session may go without a namespace CONNECT, ``max_attachments`` and
    ``attachment_timeout`` bound a binary packet; ``cleanup_empty_child_namespaces``
    forgets a dynamic namespace's child when its last socket leaves.
    """

    def __init__(
        self,
        *,
        connect_timeout: float | None = 45.0,
        max_attachments: int = 10,
        attachment_timeout: float = 30.0,
        metrics: Metrics | None = None,
        cleanup_empty_child_namespaces: bool = False,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        # A binary packet's attachments must all arrive within this many seconds.
        self.attachment_timeout = attachment_timeout
        self.namespaces: dict[str, Namespace] = {"/": Namespace("/", self.metrics)}
        # Dynamic namespaces' parents, asked in this order about a name not registered.
        self.parent_namespaces: list[ParentNamespace] = []
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces

    @overload
    def of(self, name: str = "/") -> Namespace: ...

    @overload
    def of(self, name: NamespacePattern) -> ParentNamespace: ...

    def of(self, name: str | NamespacePattern = "/") -> Namespace:
        """The namespace called ``name``, registered on first use; or, for a compiled
        regular expression or a predicate ``(name, auth) -> bool`` (async allowed), a new
        parent of dynamic namespaces. A name a regular expression's parent matches is made
        that parent's child, as when a client connects to it."""
        if not isinstance(name, str):
            parent = ParentNamespace(
                name,
                self.namespaces,
                self.metrics,
                cleanup_empty_children=self.cleanup_empty_child_namespaces,
            )
            self.parent_namespaces.append(parent)
            return parent
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
        namespace = self.namespaces.get(name)
        if namespace is None:
            for parent in self.parent_namespaces:
                if isinstance(parent.pattern, re.Pattern) and parent.pattern.search(name):
                    return parent.create_child(name)
            namespace = self.namespaces[name] = Namespace(name, self.metrics)
        return namespace

    def use(self, middleware: ConnectMiddleware) -> ConnectMiddleware:
        """Add a connect middleware to "/" (see :meth:`Namespace.use`)."""
        return self.of("/").use(middleware)

    def on(self, event: str, namespace: str = "/") -> Callable[[H], H]:
        return self.of(namespace).on(event)

    def emit(self, event: str, *args: Any, namespace: str = "/") -> None:
        self.of(namespace).emit(event, *args)

    def to(self, room: str | Iterable[str], namespace: str = "/") -> BroadcastOperator:
        return self.of(namespace).to(room)

    def connection_opened(self, session: EngineConnection) -> Client:
        """The engine's open handler: every new session gets a Socket.IO client."""
        return Client(self, session)
