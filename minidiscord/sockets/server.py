"""The Socket.IO server: namespaces, one Client per Engine.IO session, and the engine and
ASGI app that serve them."""

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, Unpack, overload

from ..asgi_io import ASGIApp, Receive, Scope, Send
from ..metrics import Metrics
from .adapter import AdapterFactory
from .asgi import EngineLimits, ServedByEngine, engine_app
from .broadcast import BroadcastOperator
from .client import Client
from .connection import EngineConnection
from .dynamic import NamespacePattern, ParentNamespace
from .handlers import C, D, E, R
from .lifecycle import AdapterTasks
from .memory_adapter import InMemoryAdapter
from .middleware import ConnectMiddleware
from .namespace import H, Namespace
from .operators import Operators
from .recovery import Recovery


class SocketServer(ServedByEngine, Operators):
    """The Socket.IO server, and an ASGI app by itself: ``app = SocketServer()`` runs under
    any ASGI host with lifespan (``hypercorn --worker-class trio module:app``) or on the
    native front end (:func:`minidiscord.serve`).

    ``sio.on("event")`` registers a handler on "/", ``sio.use(middleware)`` a connect
    middleware on "/", ``sio.of("/name")`` reaches another namespace and ``sio.of(pattern)``
    makes a dynamic one (:mod:`minidiscord.sockets.dynamic`). It owns its Engine.IO server
    (:attr:`engine`), which the ASGI lifespan starts and stops, and a :class:`Client` for
    each session the engine opens.

    The options are the reference server's, with its defaults: ``path`` it serves at;
    ``ping_interval`` and ``ping_timeout`` (seconds) of the heartbeat;
    ``max_http_buffer_size``, the most one message may carry; ``cors_allowed_origins``,
    the browser origins besides the server's own that may use it ("*" for any; clients
    that are not browsers send no origin and are always served); ``transports``;
    ``upgrade_timeout`` (seconds) to finish a WebSocket upgrade; ``connect_timeout``
    (seconds) a session may go without joining a namespace. Requests for other paths go
    to ``other_asgi_app``, or are answered 404. ``max_attachments`` and
    ``attachment_timeout`` bound a binary packet; ``limits`` are the engine's own
    (:class:`~minidiscord.sockets.EngineLimits`); ``cleanup_empty_child_namespaces``
    forgets a dynamic namespace's child when its last socket leaves.

    ``adapter`` makes each namespace's :class:`~minidiscord.sockets.Adapter` (given the
    namespace; :class:`~minidiscord.sockets.InMemoryAdapter` by default), dynamic
    namespaces' children included. The operators (``to``, ``volatile``,
    ``timeout(...).emit_with_ack``, ``fetch_sockets``, ``close_room``...) act on "/";
    ``sio.of(name)`` has the same for another namespace.

    The ASGI lifespan runs the adapters (``adapters``, :mod:`minidiscord.sockets.lifecycle`);
    an app that runs the engine itself rather than through this server's lifespan runs
    ``adapters.run`` beside it.

    ``connection_state_recovery`` turns connection state recovery on with its options
    (:class:`~minidiscord.sockets.Recovery`; off by default, as in the reference): a client
    that lost its connection and reconnects within the window gets back its socket id,
    rooms and data and the packets it missed (:mod:`minidiscord.sockets.recovery`).
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_http_buffer_size: int = 1_000_000,
        cors_allowed_origins: str | Iterable[str] = (),
        transports: Iterable[str] = ("polling", "websocket"),
        upgrade_timeout: float = 10.0,
        connect_timeout: float | None = 45.0,
        max_attachments: int = 10,
        attachment_timeout: float = 30.0,
        other_asgi_app: ASGIApp | None = None,
        metrics: Metrics | None = None,
        cleanup_empty_child_namespaces: bool = False,
        adapter: AdapterFactory = InMemoryAdapter,
        connection_state_recovery: Recovery | None = None,
        **limits: Unpack[EngineLimits],
    ) -> None:
        self.metrics = metrics or Metrics()
        self.app = engine_app(
            self.connection_opened,
            self.metrics,
            path=path,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=max_http_buffer_size,
            cors_allowed_origins=cors_allowed_origins,
            transports=transports,
            upgrade_timeout=upgrade_timeout,
            other_asgi_app=other_asgi_app,
            limits=limits,
        )
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        # A binary packet's attachments must all arrive within this many seconds.
        self.attachment_timeout = attachment_timeout
        self.namespaces: dict[str, Namespace] = {}
        # Every namespace's adapter is made through it, so that it runs with the lifespan.
        self.adapters = AdapterTasks(adapter, self.namespaces)
        self.adapter_factory: AdapterFactory = self.adapters.make
        self.recovery = connection_state_recovery
        root = Namespace("/", self.metrics, adapter_factory=self.adapter_factory)
        root.recovery = connection_state_recovery
        self.namespaces["/"] = root
        # Dynamic namespaces' parents, asked in this order about a name not registered.
        self.parent_namespaces: list[ParentNamespace] = []
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # The adapters run for as long as the engine does (see :mod:`.lifecycle`).
            await self.adapters.around_lifespan(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

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
                adapter_factory=self.adapter_factory,
                cleanup_empty_children=self.cleanup_empty_child_namespaces,
            )
            # Its children take it from the parent.
            parent.recovery = self.recovery
            self.parent_namespaces.append(parent)
            return parent
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
        namespace = self.namespaces.get(name)
        if namespace is None:
            for parent in self.parent_namespaces:
                if isinstance(parent.pattern, re.Pattern) and parent.pattern.search(name):
                    return parent.create_child(name)
            namespace = self.namespaces[name] = Namespace(
                name, self.metrics, adapter_factory=self.adapter_factory
            )
            namespace.recovery = self.recovery
        return namespace

    def use(self, middleware: ConnectMiddleware) -> ConnectMiddleware:
        """Add a connect middleware to "/" (see :meth:`Namespace.use`)."""
        return self.of("/").use(middleware)

    @overload
    def on(self, event: Literal["connect"], namespace: str = "/") -> Callable[[C], C]: ...

    @overload
    def on(
        self, event: Literal["disconnect", "disconnecting"], namespace: str = "/"
    ) -> Callable[[D], D]: ...

    @overload
    def on(self, event: Literal["error"], namespace: str = "/") -> Callable[[R], R]: ...

    @overload
    def on(self, event: str, namespace: str = "/") -> Callable[[E], E]: ...

    def on(self, event: str, namespace: str = "/") -> Callable[[H], H]:
        """Register the handler of an event on ``namespace`` ("/" by default; see
        :meth:`Namespace.on`)."""
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
