"""The client connection (socket.io-client's ``Manager``): one Engine.IO session shared by
the namespaces, opened again with backoff when it is lost."""

import inspect
import random as _random
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import trio

from ..protocol.engineio import Frame, message_frame
from ..protocol.errors import SocketIOProtocolError
from ..protocol.socketio import DEFAULT_NAMESPACE, Decoder, Packet, PacketType, encode
from .backoff import Backoff
from .engine import EngineClient, EngineOptions
from .errors import ConnectError, Disconnected
from .handlers import AnyHandler, Handler, OnEvent, OnManagerEvent
from .manager_events import ManagerEvents
from .socket import Auth, ClientSocket, Event
from .transports import TransportClosed

# How long leaving the ``connect`` block may spend disconnecting cleanly.
CLOSE_TIMEOUT = 10.0


class Client:
    """A trio Socket.IO v4 client. Configure it and register handlers, then
    ``async with client.connect(url) as sio:``.

    Options (socket.io-client's, in snake_case):

    - ``auth``: a dict, or a function (plain or ``async``) returning one, sent with every
      namespace's CONNECT (called again at each reconnection).
    - ``transports``: ``("polling", "websocket")`` (the default: open with long-polling,
      then upgrade) or ``("websocket",)``; ``path``, ``query``, ``headers``,
      ``ssl_context``.
    - ``reconnection`` (True), ``reconnection_attempts`` (None: unlimited),
      ``reconnection_delay`` (1 s), ``reconnection_delay_max`` (5 s),
      ``randomization_factor`` (0.5): see :class:`~minidiscord.client.backoff.Backoff`.
    - ``timeout`` (20 s): how long opening one Engine.IO session may take.

    What bounds memory, whatever the server sends: a WebSocket message or polling answer
    is at most ``max_message_bytes`` (the connection fails beyond), a binary packet has at
    most ``max_attachments``; the reader handles one packet at a time, ``async`` handlers
    run at most ``max_concurrent_handlers`` at once and :meth:`ClientSocket.events`
    channels are bounded, so a flood slows reading (and the server, seeing a slow
    consumer, drops us) rather than queueing. An exception a handler raises ends the client:
    it comes out of the ``async with`` block. Outgoing, at most ``max_buffered_packets``
    wait per namespace while disconnected and frames in the writer's queue; beyond,
    ``emit`` raises :class:`~minidiscord.client.BufferFull`. Pending acknowledgements are
    as many as the application asked for; a lost connection fails them.
    """

    def __init__(
        self,
        *,
        auth: Auth = None,
        transports: Sequence[str] = ("polling", "websocket"),
        path: str = "/socket.io/",
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        max_buffered_packets: int = 1000,
        max_message_bytes: int = 16 << 20,
        max_attachments: int = 10,
        max_concurrent_handlers: int = 16,
        ssl_context: ssl.SSLContext | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.auth = auth
        self.transports = tuple(transports)
        self.path = path
        self.query = dict(query or {})
        self.headers = tuple((dict(headers or {})).items())
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.backoff = Backoff(reconnection_delay, reconnection_delay_max, randomization_factor)
        self.timeout = timeout
        self.max_buffered_packets = max_buffered_packets
        self.max_message_bytes = max_message_bytes
        self.max_attachments = max_attachments
        self.ssl_context = ssl_context
        self._random = random
        # Checks the options now rather than at the first connection.
        self._engine_options("http://localhost")
        self._handler_slots = trio.Semaphore(max_concurrent_handlers)
        self._sockets: dict[str, ClientSocket] = {}
        self._engine: EngineClient | None = None
        self._decoder = self._new_decoder()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._stopped = trio.Event()
        self._state = trio.Event()
        self._backoff_scope: trio.CancelScope | None = None
        self._manager = ManagerEvents(self._run_manager_handler)
        # Why the client stopped for good, when it was not asked to.
        self.error: ConnectError | None = None

    # Namespaces -------------------------------------------------------------------------

    def of(self, namespace: str, *, auth: Auth = None) -> ClientSocket:
        """The socket of ``namespace`` (made on first use; ``auth`` overrides the client's)."""
        if not namespace.startswith("/"):
            raise ValueError(f"a namespace starts with '/': {namespace!r}")
        socket = self._sockets.get(namespace)
        if socket is None:
            socket = self._sockets[namespace] = ClientSocket(
                self, namespace, auth if auth is not None else self.auth
            )
        elif auth is not None:
            socket.auth = auth
        return socket

    @property
    def transport(self) -> str | None:
        """The transport carrying the connection now (``polling`` or ``websocket``)."""
        return self._engine.transport_name if self._engine is not None else None

    @property
    def engine_sid(self) -> str | None:
        """The Engine.IO session id of the current connection."""
        engine = self._engine
        return engine.handshake.sid if engine is not None and engine.handshake else None

    # Running ----------------------------------------------------------------------------

    @asynccontextmanager
    async def connect(
        self, url: str, *, namespaces: Iterable[str] | None = None
    ) -> AsyncIterator["Client"]:
        """Connect to ``url`` (``http(s)://`` or ``ws(s)://``) and the ``namespaces`` (by
        default the namespace in ``url``'s path, as in ``http://host/admin``, else those
        made with :meth:`of`, or ``/``), and keep the connection, reconnecting
        as configured, until the block ends; then disconnect cleanly.

        Raises :class:`ConnectError` when a namespace is refused (the server's ``message``
        and ``data``), or when the connection cannot be made and reconnection is off or gave
        up.
        """
        if self._nursery is not None:
            raise RuntimeError("this client is already connected")
        if namespaces is not None:
            names = list(namespaces)
        else:
            in_url = url_namespace(url)
            names = [in_url] if in_url is not None else (list(self._sockets) or ["/"])
        sockets = [self.of(name) for name in names]
        for socket in sockets:
            socket.active = True
            socket.connect_error = None
        self._closing = False
        self._stopped = trio.Event()
        self.error = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._maintain, url)
                try:
                    await self._wait_connected(sockets)
                    yield self
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                        was_open = self._engine is not None
                        await self.disconnect()
                        if was_open:
                            # The connection's "close" comes once the session ended: let
                            # the maintaining task tell it before it is cancelled.
                            await self._stopped.wait()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The nurseries are ours, not the caller's: a single error comes out as itself,
            # however deep in them it was raised (the cancellations it caused aside).
            errors = _leaves(group)
            if len(errors) == 1:
                raise errors[0] from None
            raise
        finally:
            self._nursery = None

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection; no reconnection follows."""
        self._closing = True
        if self._backoff_scope is not None:
            self._backoff_scope.cancel()
        for socket in list(self._sockets.values()):
            await socket.disconnect()
        engine = self._engine
        if engine is not None:
            await engine.close()

    async def wait_closed(self) -> None:
        """Return once the client stopped for good: after :meth:`disconnect`, when the server
        disconnected every namespace, or when reconnection gave up (then see :attr:`error`)."""
        await self._stopped.wait()

    async def _wait_connected(self, sockets: list[ClientSocket]) -> None:
        while True:
            for socket in sockets:
                if not socket.active and socket.connect_error is not None:
                    raise socket.connect_error
            if all(socket.connected for socket in sockets):
                return
            if self._stopped.is_set():
                raise self.error or ConnectError("the connection closed while connecting")
            state = self._state
            await state.wait()

    def _changed(self) -> None:
        self._state.set()
        self._state = trio.Event()

    def _engine_options(self, url: str) -> EngineOptions:
        return EngineOptions(
            url=url,
            path=self.path,
            transports=self.transports,
            query=self.query,
            headers=self.headers,
            open_timeout=self.timeout,
            max_message_bytes=self.max_message_bytes,
            max_buffered_frames=self.max_buffered_packets,
            ssl_context=self.ssl_context,
        )

    def _new_decoder(self) -> Decoder:
        return Decoder(
            max_attachments=self.max_attachments, max_attachment_bytes=self.max_message_bytes
        )

    async def _maintain(self, url: str) -> None:
        """Open the connection, and open it again after each loss, with backoff."""
        attempt = 0
        try:
            while True:
                if attempt:
                    await self._emit_manager("reconnect_attempt", attempt)
                engine = EngineClient(self._engine_options(url), self._on_message, self._on_ping)
                self._decoder = self._new_decoder()
                opened = False
                refused: TransportClosed | None = None
                try:
                    async with trio.open_nursery() as nursery:
                        try:
                            await nursery.start(engine.run)
                        except TransportClosed as exc:
                            refused = exc
                        else:
                            opened = True
                            self._engine = engine
                            self._changed()
                            # As socket.io-client: the namespaces (listening first) send
                            # their CONNECT on "open", then the application hears it.
                            for socket in list(self._sockets.values()):
                                if socket.active and not self._closing:
                                    self._send_packet(await socket._connect_packet())
                            await self._emit_manager("open")
                            if attempt:
                                await self._emit_manager("reconnect", attempt)
                            attempt = 0
                finally:
                    self._engine = None
                if refused is not None:
                    failure = ConnectError(f"could not connect to {url}: {refused}")
                    self.error = failure
                    for socket in list(self._sockets.values()):
                        if socket.active and not socket.connected:
                            await socket._failed(failure)
                    await self._emit_manager("error", failure)
                    if attempt:
                        await self._emit_manager("reconnect_error", failure)
                if opened:
                    reason = engine.close_reason or "transport close"
                    self.error = ConnectError(f"connection lost: {engine.close_error or reason}")
                    if reason == "transport error":
                        # As engine.io-client: a transport that failed (rather than closed)
                        # is an error first, then the close the namespaces hear.
                        await self._emit_manager("error", self.error)
                    for socket in list(self._sockets.values()):
                        await socket._closed(reason)
                    await self._emit_manager("close", reason)
                if self._closing or not any(s.active for s in self._sockets.values()):
                    if self._closing or opened:
                        self.error = None
                    return
                limit = self.reconnection_attempts
                if not self.reconnection or (limit is not None and attempt >= limit):
                    if self.reconnection:
                        self.error = ConnectError(f"gave up after {attempt} reconnection attempts")
                        await self._emit_manager("reconnect_failed")
                    error = self.error or ConnectError("connection lost")
                    for socket in self._sockets.values():
                        socket._abandon(error)
                    return
                delay = self.backoff.duration(attempt, self._random)
                attempt += 1
                with trio.CancelScope() as self._backoff_scope:
                    await trio.sleep(delay)
                self._backoff_scope = None
                if self._closing or not any(s.active for s in self._sockets.values()):
                    return
        finally:
            self._stopped.set()
            self._changed()

    # What the namespaces use --------------------------------------------------------------

    def _send_packet(self, packet: Packet) -> None:
        engine = self._engine
        if engine is None:
            raise Disconnected("not connected")
        # Only events count against the bound: acks, CONNECT and DISCONNECT always go out.
        engine.send(
            [message_frame(part) for part in encode(packet)],
            bounded=packet.type is PacketType.EVENT,
        )

    async def _on_message(self, frame: Frame) -> None:
        try:
            packet = self._decoder.receive(frame)
        except SocketIOProtocolError as exc:
            raise TransportClosed("parse error", str(exc)) from None
        if packet is None:
            return
        socket = self._sockets.get(packet.namespace)
        if socket is not None:
            await socket._on_packet(packet)
        # After the namespace, as in socket.io-client (whose sockets listen first).
        await self._emit_manager("packet", packet)

    async def _on_ping(self) -> None:
        await self._emit_manager("ping")

    def _socket_deactivated(self) -> None:
        """A namespace is done for good; with none left the connection has no use."""
        if not any(socket.active for socket in self._sockets.values()):
            if self._backoff_scope is not None:
                self._backoff_scope.cancel()
            engine = self._engine
            if engine is not None and self._nursery is not None:
                # Not awaited here: this runs in the session's reader, which the close
                # may need (to finish a pending poll or the WebSocket closing handshake).
                self._nursery.start_soon(engine.close)

    async def _connect_namespace(self, socket: ClientSocket) -> None:
        if self._nursery is None or self._stopped.is_set():
            raise Disconnected("the client is not running")
        socket.active = True
        socket.connect_error = None
        if self._engine is not None and not socket.connected:
            self._send_packet(await socket._connect_packet())
        await self._wait_connected([socket])

    async def _run_handler(
        self,
        socket: ClientSocket | None,
        handler: Handler,
        args: tuple[Any, ...],
        ack_id: int | None,
    ) -> None:
        if inspect.iscoroutinefunction(handler):
            assert self._nursery is not None
            await self._handler_slots.acquire()
            self._nursery.start_soon(self._handler_task, socket, handler, args, ack_id)
            return
        result = handler(*args)
        if socket is not None and ack_id is not None:
            socket._ack(ack_id, result)

    async def _handler_task(
        self,
        socket: ClientSocket | None,
        handler: Handler,
        args: tuple[Any, ...],
        ack_id: int | None,
    ) -> None:
        try:
            result = await handler(*args)
        finally:
            self._handler_slots.release()
        if socket is not None and ack_id is not None:
            socket._ack(ack_id, result)

    # The connection's own events (socket.io-client's ``socket.io.on(...)``) ---------------

    @property
    def on_manager(self) -> OnManagerEvent:
        """Register the handler of one of the connection's events (one per event; a new one
        replaces it), as a decorator (``on_manager(event)``) or directly
        (``on_manager(event, handler)``); plain functions run inline, ``async`` ones as
        tasks, as :meth:`ClientSocket.on`'s do. As socket.io-client's Manager emits them:

        - ``open()``: an Engine.IO session opened (the namespaces' CONNECTs are sent);
        - ``close(reason)``: the open session ended (``transport close``, ``transport
          error``, ``ping timeout``, ``parse error``, or ``forced close`` when the client
          closed it), after the namespaces' ``disconnect``;
        - ``ping()``: the server's heartbeat came (and was answered);
        - ``error(error)``: opening a session failed (after the namespaces'
          ``connect_error``), or the open one's transport failed (before their
          ``disconnect``); a :class:`ConnectError`;
        - ``packet(packet)``: each Socket.IO packet received, whatever its namespace (a
          :class:`~minidiscord.protocol.socketio.Packet`), after its namespace had it;
        - ``reconnect_attempt(attempt)``: reconnection attempt ``attempt`` (from 1) starts,
          after its backoff delay;
        - ``reconnect(attempt)``: that attempt opened the connection (after ``open``);
        - ``reconnect_error(error)``: that attempt failed (after ``error``);
        - ``reconnect_failed()``: ``reconnection_attempts`` were made, the client gives up.

        These are the connection's, not a namespace's, so they never clash with an event
        the server emits under the same name.
        """
        return self._manager.on

    def off_manager(self, event: str) -> None:
        """Remove the handler of one of the connection's events."""
        self._manager.off(event)

    def manager_events(
        self, *names: str, buffer: int = 64
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Event]]:
        """The connection's events (those named, or all of them) as :class:`Event` with
        ``namespace`` None, from a channel while the block lasts: what :meth:`on_manager`
        handlers get, for those who read events as :meth:`events` gives the namespace's.
        ``packet`` waits for room in a full channel (slowing the connection, as the
        server's events do); the others are dropped from a full one, as ``disconnect`` is.
        """
        return self._manager.events(names, buffer)

    async def _emit_manager(self, event: str, *args: Any) -> None:
        await self._manager.emit(event, *args)

    async def _run_manager_handler(self, handler: Handler, args: tuple[Any, ...]) -> None:
        await self._run_handler(None, handler, args, None)

    # The default namespace, directly on the client ---------------------------------------

    @property
    def id(self) -> str | None:
        """The default namespace's socket id."""
        return self.of(DEFAULT_NAMESPACE).id

    @property
    def connected(self) -> bool:
        """Whether the default namespace is connected."""
        return self.of(DEFAULT_NAMESPACE).connected

    @property
    def recovered(self) -> bool:
        """Whether the server restored the default namespace's session on the last connect."""
        return self.of(DEFAULT_NAMESPACE).recovered

    @property
    def on(self) -> OnEvent:
        """:meth:`ClientSocket.on` of the default namespace (a decorator without ``handler``)."""
        return self.of(DEFAULT_NAMESPACE).on

    def off(self, event: str) -> None:
        """:meth:`ClientSocket.off` of the default namespace."""
        self.of(DEFAULT_NAMESPACE).off(event)

    def on_any(self, handler: AnyHandler) -> AnyHandler:
        """:meth:`ClientSocket.on_any` of the default namespace."""
        return self.of(DEFAULT_NAMESPACE).on_any(handler)

    def off_any(self, handler: AnyHandler | None = None) -> None:
        """:meth:`ClientSocket.off_any` of the default namespace."""
        self.of(DEFAULT_NAMESPACE).off_any(handler)

    def on_any_outgoing(self, handler: AnyHandler) -> AnyHandler:
        """:meth:`ClientSocket.on_any_outgoing` of the default namespace."""
        return self.of(DEFAULT_NAMESPACE).on_any_outgoing(handler)

    def off_any_outgoing(self, handler: AnyHandler | None = None) -> None:
        """:meth:`ClientSocket.off_any_outgoing` of the default namespace."""
        self.of(DEFAULT_NAMESPACE).off_any_outgoing(handler)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """:meth:`ClientSocket.emit` on the default namespace."""
        self.of(DEFAULT_NAMESPACE).emit(event, *args, callback=callback)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """:meth:`ClientSocket.call` on the default namespace."""
        return await self.of(DEFAULT_NAMESPACE).call(event, *args, timeout=timeout)

    def events(
        self, *names: str, buffer: int = 64
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[Event]]:
        """:meth:`ClientSocket.events` of the default namespace."""
        return self.of(DEFAULT_NAMESPACE).events(*names, buffer=buffer)

    async def wait_for(self, event: str, timeout: float | None = None) -> tuple[Any, ...]:
        """:meth:`ClientSocket.wait_for` on the default namespace."""
        return await self.of(DEFAULT_NAMESPACE).wait_for(event, timeout)


def connect(
    url: str, *, namespaces: Iterable[str] | None = None, **options: Any
) -> AbstractAsyncContextManager[Client]:
    """``async with connect(url, auth=..., namespaces=[...]) as sio:``: a :class:`Client`
    made with ``options``, connected for the block. Register handlers for events the server
    sends right on connect with :class:`Client` before connecting, or read them with
    ``sio.events()``/``sio.wait_for()`` entered before they can arrive."""
    return Client(**options).connect(url, namespaces=namespaces)


def url_namespace(url: str) -> str | None:
    """The namespace ``url``'s path names (``http://host/admin`` names ``/admin``), or None
    for no path or ``/``. The Engine.IO endpoint is the ``path`` option, not this."""
    path = unquote(urlsplit(url).path)
    # socket.io-client's io() takes the path as it is, a trailing "/" included.
    return path if path not in ("", "/") else None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` and the groups within it, but the cancellations."""
    leaves: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            leaves.extend(_leaves(error))
        elif not isinstance(error, trio.Cancelled):
            leaves.append(error)
    return leaves
