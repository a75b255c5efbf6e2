"""One namespace of a client connection (socket.io-client's ``Socket``): handlers, emits,
acks, the send buffer and the state connection state recovery needs."""

import inspect
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import trio

from ..protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from .errors import BufferFull, CallTimeout, ConnectError, Disconnected
from .handlers import AnyHandler, Handler, OnEvent

if TYPE_CHECKING:
    from .client import Client

logger = logging.getLogger("minidiscord.client")

AuthData: TypeAlias = dict[str, Any]
Auth: TypeAlias = AuthData | Callable[[], AuthData | Awaitable[AuthData]] | None
"""What a namespace sends as its auth payload on each connect: a dict, a function
returning one (``async`` allowed, asked again on every reconnection), or None."""

# Events the client raises itself; the server cannot send them and they are never acked.
LOCAL_EVENTS = frozenset({"connect", "connect_error", "disconnect"})


@dataclass(frozen=True, slots=True)
class Event:
    """One event as :meth:`ClientSocket.events` delivers it: the server's events, and the
    client's own ``connect``, ``disconnect`` (args: the reason) and ``connect_error``
    (args: the :class:`ConnectError`); or, from :meth:`Client.manager_events
    <minidiscord.client.Client.manager_events>`, one of the connection's, with
    ``namespace`` None (it belongs to no namespace)."""

    name: str
    args: tuple[Any, ...]
    namespace: str | None = "/"


@dataclass(slots=True)
class _PendingAck:
    callback: Callable[..., Any] | None = None
    done: trio.Event = field(default_factory=trio.Event)
    result: list[Any] = field(default_factory=list)
    error: Exception | None = None
    # False while the EVENT waits in the send buffer: a reconnection then still sends it.
    sent: bool = False


class ClientSocket:
    """The client's side of one namespace. Get it from :meth:`Client.of`.

    ``emit`` queues a packet (into the send buffer while disconnected, at most
    ``max_buffered_packets``); ``await call(...)`` waits for the server's acknowledgement.
    Handlers registered with :meth:`on` receive the event's arguments; the value a handler
    returns is the acknowledgement when the server asked for one (a tuple for several
    arguments), as on the server side.
    """

    def __init__(self, client: "Client", namespace: str, auth: Auth) -> None:
        self.client = client
        self.namespace = namespace
        self.auth = auth
        self.id: str | None = None
        self.connected = False
        # Whether the server restored this socket's session on the last connect.
        self.recovered = False
        # Whether the socket wants to be connected (and so reconnects); the server's
        # disconnect, a refusal or our own disconnect turn it off.
        self.active = False
        self.connect_error: ConnectError | None = None
        self._handlers: dict[str, Handler] = {}
        self._any: list[AnyHandler] = []
        self._any_outgoing: list[AnyHandler] = []
        self._acks: dict[int, _PendingAck] = {}
        self._ack_ids = itertools.count()
        self._send_buffer: deque[Packet] = deque()
        self._subscriptions: list[tuple[frozenset[str], trio.MemorySendChannel[Event]]] = []
        # Connection state recovery, as socket.io-client keeps it.
        self._pid: str | None = None
        self._last_offset: str | None = None

    def __repr__(self) -> str:
        return f"<ClientSocket {self.namespace} id={self.id} connected={self.connected}>"

    # Handlers ---------------------------------------------------------------------------

    @property
    def on(self) -> OnEvent:
        """Register the handler of ``event`` (one per event; a new one replaces it), as a
        decorator (``on(event)``) or directly (``on(event, handler)``); either hands the
        handler back. ``connect``, ``disconnect`` and ``connect_error`` included.

        Plain functions run in the reader, in order; ``async`` ones run as tasks, at most
        ``max_concurrent_handlers`` at a time (the reader waits for a free slot). The
        client's own events have fixed shapes (:mod:`minidiscord.client.handlers`).
        """
        return self._on

    def _on(self, event: str, handler: Handler | None = None) -> Any:
        def register(function: Handler) -> Handler:
            self._handlers[event] = function
            return function

        return register if handler is None else register(handler)

    def off(self, event: str) -> None:
        """Remove the handler of ``event``."""
        self._handlers.pop(event, None)

    def on_any(self, handler: AnyHandler) -> AnyHandler:
        """Call ``handler(event, *args)`` for every event the server sends (before the
        event's own handler)."""
        self._any.append(handler)
        return handler

    def off_any(self, handler: AnyHandler | None = None) -> None:
        """Remove one catch-all handler, or all of them."""
        _remove(self._any, handler)

    def on_any_outgoing(self, handler: AnyHandler) -> AnyHandler:
        """Call ``handler(event, *args)`` for every event this socket sends, as it goes out."""
        self._any_outgoing.append(handler)
        return handler

    def off_any_outgoing(self, handler: AnyHandler | None = None) -> None:
        """Remove one outgoing catch-all handler, or all of them."""
        _remove(self._any_outgoing, handler)

    @asynccontextmanager
    async def events(
        self, *names: str, buffer: int = 64
    ) -> AsyncIterator[trio.MemoryReceiveChannel[Event]]:
        """Receive events (those named, or all) as :class:`Event` from a channel, while the
        block lasts. The channel holds ``buffer`` events; when it is full the reader waits
        for the block to take one, which slows the connection instead of growing memory
        (the client's own ``connect``, ``disconnect`` and ``connect_error`` are dropped
        from a full channel instead: they come when nobody may be reading any more)."""
        send, receive = trio.open_memory_channel[Event](buffer)
        entry = (frozenset(names), send)
        self._subscriptions.append(entry)
        try:
            async with receive:
                yield receive
        finally:
            self._subscriptions.remove(entry)
            send.close()

    async def wait_for(self, event: str, timeout: float | None = None) -> tuple[Any, ...]:
        """The arguments of the next ``event``; ``timeout`` raises :class:`trio.TooSlowError`."""
        with trio.fail_after(timeout) if timeout is not None else _no_timeout():
            async with self.events(event, buffer=1) as received:
                return (await received.receive()).args

    # Sending ----------------------------------------------------------------------------

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send ``event`` with ``args`` (``bytes`` anywhere travel as binary). With
        ``callback``, the server's acknowledgement arguments are passed to it."""
        self._emit(event, args, _PendingAck(callback) if callback is not None else None)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Emit ``event`` and return the server's acknowledgement arguments.

        Raises :class:`CallTimeout` after ``timeout`` seconds, and :class:`Disconnected` if
        the connection ends after the event went out (before it went out, the event waits
        in the send buffer for the reconnection).
        """
        pending = _PendingAck()
        ack_id = self._emit(event, args, pending)
        assert ack_id is not None
        try:
            with trio.fail_after(timeout) if timeout is not None else _no_timeout():
                await pending.done.wait()
        except trio.TooSlowError:
            self._acks.pop(ack_id, None)
            self._unbuffer(ack_id)
            raise CallTimeout(f"no acknowledgement of {event!r} within {timeout} s") from None
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _emit(self, event: str, args: tuple[Any, ...], pending: _PendingAck | None) -> int | None:
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if not self.active:
            raise Disconnected(f"{self.namespace} is not connected")
        ack_id = None
        if pending is not None:
            ack_id = next(self._ack_ids)
        packet = Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id)
        if self.connected:
            self._send(packet)
            if pending is not None:
                pending.sent = True
        else:
            if len(self._send_buffer) >= self.client.max_buffered_packets:
                raise BufferFull(
                    f"{self.client.max_buffered_packets} packets already wait for "
                    f"{self.namespace} to connect"
                )
            self._send_buffer.append(packet)
        if pending is not None and ack_id is not None:
            self._acks[ack_id] = pending
        return ack_id

    def _send(self, packet: Packet) -> None:
        if packet.type is PacketType.EVENT:
            for listener in list(self._any_outgoing):
                listener(*packet.data)
        self.client._send_packet(packet)

    def _unbuffer(self, ack_id: int) -> None:
        for packet in self._send_buffer:
            if packet.id == ack_id:
                self._send_buffer.remove(packet)
                return

    async def disconnect(self) -> None:
        """Leave this namespace (the connection closes when no namespace is left)."""
        if self.connected:
            # A connection already gone has nothing to tell: the namespace is left anyway.
            with suppress(Disconnected):
                self.client._send_packet(Packet(PacketType.DISCONNECT, self.namespace))
        was_active = self.active
        self.active = False
        self._send_buffer.clear()
        if self.connected:
            await self._closed("io client disconnect")
        if was_active:
            self.client._socket_deactivated()

    async def connect(self) -> None:
        """Connect this namespace on the client's open connection (namespaces given to
        :meth:`Client.connect` are connected already); raises :class:`ConnectError`."""
        await self.client._connect_namespace(self)

    # What the client's connection tells the socket --------------------------------------

    async def _connect_packet(self) -> Packet:
        auth = self.auth() if callable(self.auth) else self.auth
        if inspect.isawaitable(auth):
            auth = await auth
        if auth is not None and not isinstance(auth, dict):
            raise TypeError(f"auth must be a dict, got {type(auth).__name__}")
        data: dict[str, Any] | None = auth
        if self._pid is not None:
            # Asking the server to recover the session: the last offset seen, with auth.
            data = {"pid": self._pid, "offset": self._last_offset, **(auth or {})}
        return Packet(PacketType.CONNECT, self.namespace, data)

    async def _on_packet(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.EVENT:
            await self._on_event(packet)
        elif kind is PacketType.ACK:
            self._on_ack(packet)
        elif kind is PacketType.CONNECT:
            await self._on_connect(packet.data or {})
        elif kind is PacketType.CONNECT_ERROR:
            await self._on_connect_error(packet.data)
        elif kind is PacketType.DISCONNECT:
            self.active = False
            await self._closed("io server disconnect")
            self.client._socket_deactivated()

    async def _on_connect(self, data: dict[str, Any]) -> None:
        sid, pid = data.get("sid"), data.get("pid")
        if not isinstance(sid, str):
            logger.warning("%s: CONNECT without a sid: %r", self.namespace, data)
            return
        self.id = sid
        self.recovered = pid is not None and pid == self._pid
        self._pid = pid if isinstance(pid, str) else None
        self.connected = True
        self.connect_error = None
        buffered, self._send_buffer = self._send_buffer, deque()
        for packet in buffered:
            self._send(packet)
            if packet.id is not None and packet.id in self._acks:
                self._acks[packet.id].sent = True
        self.client._changed()
        await self._dispatch_local("connect")

    async def _on_connect_error(self, data: Any) -> None:
        if isinstance(data, dict):
            error = ConnectError(
                str(data.get("message", "")), data.get("data"), namespace=self.namespace
            )
        else:
            error = ConnectError(str(data), namespace=self.namespace)
        # As socket.io-client: a refused socket does not retry by itself.
        self.active = False
        await self._failed(error)
        self.client._socket_deactivated()

    async def _failed(self, error: ConnectError) -> None:
        self.connect_error = error
        self.client._changed()
        await self._dispatch_local("connect_error", error)

    async def _closed(self, reason: str) -> None:
        """The socket lost its connection (for good if it is no longer ``active``)."""
        if not self.connected:
            return
        self.connected = False
        self.id = None
        for ack_id, pending in list(self._acks.items()):
            if pending.sent or not self.active:
                # Sent on the lost connection: its answer can never come.
                del self._acks[ack_id]
                pending.error = Disconnected(f"disconnected ({reason}) before the acknowledgement")
                pending.done.set()
        if not self.active:
            self._send_buffer.clear()
        self.client._changed()
        await self._dispatch_local("disconnect", reason)

    def _abandon(self, error: Exception) -> None:
        """The client stopped for good: nothing buffered will be sent, no answer will come."""
        self.active = False
        if isinstance(error, ConnectError):
            self.connect_error = error
        self._send_buffer.clear()
        for pending in self._acks.values():
            pending.error = error
            pending.done.set()
        self._acks.clear()

    def _on_ack(self, packet: Packet) -> None:
        pending = self._acks.pop(packet.id, None) if packet.id is not None else None
        if pending is None:
            logger.debug("%s: acknowledgement %s of nothing", self.namespace, packet.id)
            return
        pending.result = list(packet.data)
        pending.done.set()
        if pending.callback is not None:
            pending.callback(*pending.result)

    async def _on_event(self, packet: Packet) -> None:
        event, *args = packet.data
        if self._pid is not None and args and isinstance(args[-1], str):
            # With recovery on, the server appends each event's offset; like
            # socket.io-client we keep the last one and leave the arguments as they came.
            self._last_offset = args[-1]
        for listener in list(self._any):
            listener(event, *args)
        await self._publish(Event(event, tuple(args), self.namespace))
        handler = self._handlers.get(event)
        if handler is not None:
            await self.client._run_handler(self, handler, tuple(args), packet.id)

    async def _dispatch_local(self, event: str, *args: Any) -> None:
        # Not waiting on a full channel: these come while closing or reconnecting, when
        # nobody may be reading any more.
        self._publish_nowait(Event(event, args, self.namespace))
        handler = self._handlers.get(event)
        if handler is not None:
            await self.client._run_handler(self, handler, args, None)

    async def _publish(self, event: Event) -> None:
        for names, channel in list(self._subscriptions):
            if not names or event.name in names:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await channel.send(event)

    def _publish_nowait(self, event: Event) -> None:
        for names, channel in list(self._subscriptions):
            if not names or event.name in names:
                try:
                    channel.send_nowait(event)
                except trio.WouldBlock:
                    logger.debug("%s: %s dropped from a full events channel", self, event.name)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

    def _ack(self, ack_id: int, result: Any) -> None:
        if not self.connected:
            return
        if result is None:
            args: list[Any] = []
        elif isinstance(result, tuple):
            args = list(result)
        else:
            args = [result]
        self.client._send_packet(Packet(PacketType.ACK, self.namespace, args, ack_id))


def _remove(listeners: list[AnyHandler], handler: AnyHandler | None) -> None:
    if handler is None:
        listeners.clear()
    elif handler in listeners:
        listeners.remove(handler)


def _no_timeout() -> trio.CancelScope:
    return trio.CancelScope()
