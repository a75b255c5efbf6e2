"""One client's connection to one namespace: emits, acks, rooms and disconnection."""

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from ..engine.reasons import CloseReason
from ..protocol.engineio import Frame
from ..protocol.socketio import Packet, PacketType
from .adapter import BroadcastOptions
from .broadcast import BroadcastOperator
from .catchall import CatchAll
from .connection import BroadcastQueue, RequestView
from .errors import AckTimeout
from .handlers import OnEvent
from .middleware import PacketMiddleware
from .namespace import H, Handler
from .packets import ack_frames, control_frame, event_frames
from .reasons import DisconnectReason, NamespaceLeft
from .recovery import RECOVERABLE_REASONS, Session
from .volatile import VolatileEmitter

if TYPE_CHECKING:
    from .client import Client
    from .namespace import Namespace

logger = logging.getLogger("minidiscord.sockets")

AckCallback = Callable[..., Any]


class Handshake:
    """What the client presented when it connected to the namespace."""

    __slots__ = ("_request", "auth")

    def __init__(self, auth: dict[str, Any] | None, request: RequestView) -> None:
        self.auth = auth
        self._request = request

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers of the request that opened the connection."""
        return self._request.headers

    @property
    def address(self) -> str:
        """The client's "ip:port" (behind a trusted proxy, the client it named)."""
        return self._request.address

    @property
    def address_key(self) -> str:
        """The key per-address limits count the client by (an IPv6 client by its /64)."""
        return self._request.address_key

    @property
    def query(self) -> dict[str, str]:
        """The query parameters of the request that opened the connection."""
        return self._request.query


@dataclass(slots=True)
class _PendingAck:
    callback: AckCallback
    # With a timeout the callback takes an error first, as in JavaScript.
    error_first: bool


class Socket(CatchAll):
    """One client connected to one namespace: the object every handler gets first.

    ``emit`` sends to this client (with an ack callback and an optional timeout, or
    ``await call(...)`` for the answer); ``join``/``leave`` move it between rooms;
    ``to(room)`` and ``broadcast`` reach others; ``data`` is the application's per-socket
    state; ``handshake`` holds the client's auth, address, headers and query;
    ``disconnect()`` ends it from the server side (``close=True`` ends the whole connection).

    ``on(event)`` gives this socket a handler of its own (typically from the ``connect``
    handler), with the same shape as a namespace's: for an event from the client, the
    socket's own handler is used instead of the namespace's; ``disconnecting``,
    ``disconnect`` and ``error`` run the namespace's handler, then the socket's. ``use``
    adds a packet middleware; ``on_any`` and ``on_any_outgoing`` add catch-all listeners
    (see :mod:`minidiscord.sockets.middleware` and :mod:`minidiscord.sockets.catchall`).

    With connection state recovery on (:mod:`minidiscord.sockets.recovery`), ``pid`` is the
    private id of its session, and ``recovered`` is true for a socket given back to a client
    that reconnected in time (same id, rooms and ``data``; the packets it missed are sent
    right after the CONNECT answer).
    """

    # Made on first use: most sockets have no handlers or middlewares of their own.
    _handlers: dict[str, Handler] | None = None
    _packet_middlewares: list[PacketMiddleware] | None = None
    # Detached, but still in the namespace and its rooms until ``disconnecting`` has run.
    _leaving = False
    # Connection state recovery: the session's private id (None when recovery is off).
    pid: str | None = None
    recovered = False
    # The connection's queue, where an adapter may put a broadcast's frame together with
    # other recipients' (EngineConnection.broadcast_queue): set from the CONNECT answer
    # until the socket is detached. None meanwhile: frames go through deliver_frame, to
    # wait in the connect buffer, or to be dropped while the socket is leaving.
    broadcast_queue: BroadcastQueue | None = None

    def __init__(
        self, client: "Client", namespace: "Namespace", sid: str, handshake: Handshake
    ) -> None:
        self.id = sid
        self.client = client
        self.namespace = namespace
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        self.connected = False
        self.disconnect_reason: DisconnectReason | None = None
        self._session_send = client.session.send_frame
        self._session_send_direct = client.session.send_frame_direct
        # Frames emitted while the connect handler runs wait here, so that the client
        # sees the CONNECT answer first (as it would from the reference server).
        self._connect_buffer: list[Frame] | None = []
        self._acks: dict[int, _PendingAck] = {}
        self._disconnect_handled = False
        # Rooms joined before the socket is in its namespace (by connect middlewares).
        self._early_rooms: set[str] | None = set()

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.namespace.name}>"

    # Delivery ---------------------------------------------------------------------------

    def deliver_frame(self, frame: Frame) -> None:
        """For an adapter: one already-encoded frame of a broadcast for this client, left
        for the next round of direct writes when nothing is queued for it and its transport
        allows, otherwise queued for its writer (a broadcast to many puts the frame into
        their :attr:`broadcast_queue` in one loop instead, when they have one)."""
        buffer = self._connect_buffer
        if buffer is None:
            self._session_send_direct(frame)
        else:
            buffer.append(frame)

    def deliver(self, frames: Iterable[Frame]) -> None:
        """For an adapter, and this socket's acks: already-encoded frames for this client,
        in order, as :meth:`deliver_frame` leaves each."""
        self._queue(frames, self._session_send_direct)

    def _queue(self, frames: Iterable[Frame], send: Callable[[Frame], None]) -> None:
        """``frames`` to ``send``, or to the connect buffer while the connect handler runs."""
        buffer = self._connect_buffer
        if buffer is None:
            for frame in frames:
                send(frame)
        else:
            buffer.extend(frames)

    @property
    def writable(self) -> bool:
        """Whether the client can take a frame now, which is when a volatile packet is sent
        rather than dropped: the namespace CONNECT is answered, nothing is queued for the
        client and its transport is waiting for frames (over WebSocket, the writer is idle;
        over long-polling, a GET is waiting; never while the client has paused polling to
        upgrade, nor once the connection is closing, nor once this socket is disconnected)."""
        return (
            self._connect_buffer is None
            and self.disconnect_reason is None
            and self.client.session.writable
        )

    def emit_volatile(self, event: str, *args: Any) -> None:
        """Send an event that is never kept for connection state recovery (see
        :attr:`volatile`, which checks :attr:`writable` first)."""
        self._emit(event, args, None, None, volatile=True)

    @property
    def volatile(self) -> VolatileEmitter:
        """``socket.volatile.emit(...)``: to this client, dropped if it cannot take it now."""
        return VolatileEmitter(self)

    def accept(self) -> None:
        """Answer the client's CONNECT, then send what was emitted meanwhile."""
        buffer, self._connect_buffer = self._connect_buffer, None
        self.connected = True
        answer = {"sid": self.id} if self.pid is None else {"sid": self.id, "pid": self.pid}
        self._session_send(control_frame(PacketType.CONNECT, self.namespace.name, answer))
        for frame in buffer or ():
            self._session_send(frame)
        self.broadcast_queue = self.client.session.broadcast_queue

    # Emitting ---------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        callback: AckCallback | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send an event to this client; never blocks.

        With ``callback`` the client is asked to acknowledge: ``callback(*ack_args)``; with
        ``timeout`` too, ``callback(None, *ack_args)`` or ``callback(AckTimeout())``.
        """
        self._emit(event, args, callback, timeout)

    def _emit(
        self,
        event: str,
        args: tuple[Any, ...],
        callback: AckCallback | None,
        timeout: float | None,
        *,
        volatile: bool = False,
    ) -> int | None:
        ack_id = None
        if (
            callback is None
            and not volatile
            and self.namespace.recovery is not None
            and self._early_rooms is None
            and self.disconnect_reason is None
        ):
            # As the reference: through the adapter to the room of its id, so that the
            # event carries an offset and is kept for the client should it reconnect.
            packet = Packet(PacketType.EVENT, self.namespace.name, [event, *args])
            self.namespace.adapter.broadcast(packet, BroadcastOptions(rooms=frozenset((self.id,))))
            return None
        if callback is not None:
            ack_id = next(self.namespace.ack_ids)
            self._acks[ack_id] = _PendingAck(callback, error_first=timeout is not None)
            if timeout is not None:
                self.client.start_soon(self._expire_ack, ack_id, timeout)
        if self._any_outgoing:
            self.notify_outgoing(event, args)
        frames = event_frames(self.namespace.name, event, args, ack_id)
        # Its own emits wake its writer rather than wait for the round of direct writes: a
        # volatile emit behind them is then dropped while they wait (docs/architecture.md).
        self._queue(frames, self._session_send)
        self.namespace.metrics.frames_delivered.inc(len(frames))
        return ack_id

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Emit and wait for the acknowledgement; raises :class:`AckTimeout`."""
        done = trio.Event()
        result: list[Any] = []

        def acknowledged(*ack_args: Any) -> None:
            result.extend(ack_args)
            done.set()

        ack_id = self._emit(event, args, acknowledged, None)
        assert ack_id is not None
        deadline = trio.fail_after(timeout) if timeout is not None else nullcontext()
        try:
            with deadline:
                await done.wait()
        except trio.TooSlowError:
            self._acks.pop(ack_id, None)
            raise AckTimeout(f"no ack for {event!r} within {timeout} s") from None
        return result

    async def _expire_ack(self, ack_id: int, timeout: float) -> None:
        await trio.sleep(timeout)
        pending = self._acks.pop(ack_id, None)
        if pending is not None:
            _run_callback(pending.callback, AckTimeout(f"no ack within {timeout} s"))

    def expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        """For an adapter: ack ``ack_id`` of a broadcast sent to this socket is answered
        with ``callback(*ack_args)``."""
        self._acks[ack_id] = _PendingAck(callback, error_first=False)

    def forget_ack(self, ack_id: int) -> None:
        """For an adapter: no one waits for ack ``ack_id`` any more."""
        self._acks.pop(ack_id, None)

    def handle_ack(self, ack_id: int, args: list[Any]) -> None:
        """The client acknowledged one of this socket's emits: call its callback (for
        the server's client; an unknown id is ignored)."""
        pending = self._acks.pop(ack_id, None)
        if pending is None:
            logger.debug("%r: ack %d is not pending", self, ack_id)
            return
        if pending.error_first:
            _run_callback(pending.callback, None, *args)
        else:
            _run_callback(pending.callback, *args)

    def send_ack(self, ack_id: int, result: Any) -> None:
        """Send a handler's return value as the acknowledgement ``ack_id`` (None: no
        arguments; a tuple: several)."""
        if result is None:
            args: list[Any] = []
        elif isinstance(result, tuple):
            args = list(result)
        else:
            args = [result]
        frames = ack_frames(self.namespace.name, ack_id, args)
        # In the next round of direct writes when its transport allows, as a broadcast: a
        # chat sender's ack then goes out in one write with its own copy of its message,
        # and its writer is not woken for it.
        self.deliver(frames)
        self.namespace.metrics.frames_delivered.inc(len(frames))

    # Rooms ------------------------------------------------------------------------------

    @property
    def rooms(self) -> frozenset[str]:
        """The rooms this socket is in (its own id's included), as its adapter knows them;
        in the connect middlewares, those they joined."""
        early = self._early_rooms
        if early is not None:
            return frozenset(early)
        return frozenset(self.namespace.adapter.socket_rooms(self.id))

    def join(self, room: str | Iterable[str]) -> None:
        """Join a room, or several."""
        rooms = (room,) if isinstance(room, str) else room
        early = self._early_rooms
        if early is not None:
            early.update(rooms)
        else:
            self.namespace.adapter.add_all(self.id, rooms)

    def leave(self, room: str) -> None:
        """Leave a room."""
        early = self._early_rooms
        if early is not None:
            early.discard(room)
        else:
            self.namespace.adapter.del_(self.id, room)

    def entering(self) -> list[str]:
        """For the namespace adding this socket: the rooms it joins now, its own id's and
        those its connect middlewares joined (an adapter knows only sockets of its
        namespace, which the socket is not in while its middlewares run)."""
        early, self._early_rooms = self._early_rooms, None
        return [self.id, *(early or ())]

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to a room (or rooms), without this socket."""
        return self.broadcast.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to everyone but this socket and those in ``room`` (a name or several)."""
        return self.broadcast.except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket (add ``volatile``, ``local``,
        ``timeout`` and the rest as on any :class:`BroadcastOperator`)."""
        return BroadcastOperator(
            self.namespace.adapter, BroadcastOptions(except_=frozenset((self.id,)))
        )

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``task(*args)`` alongside the handlers; it is cancelled when the client's
        connection closes."""
        self.client.start_soon(task, *args)

    # Handlers and middlewares of this socket ---------------------------------------------

    @property
    def on(self) -> OnEvent:
        """Register this socket's own handler of an event (see the class docstring), with
        the same shapes as :meth:`Namespace.on <minidiscord.sockets.Namespace.on>`."""
        return self._on

    def _on(self, event: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            if self._handlers is None:
                self._handlers = {}
            self._handlers[event] = handler
            return handler

        return register

    def answers_in_reader(self, event: str) -> bool:
        """Whether ``event`` from the client may be applied in its connection's reader
        (:meth:`Namespace.answer_in_reader`): the namespace's handler promised, and this
        socket has neither its own handler of it nor packet middlewares (which promised
        nothing)."""
        own = self._handlers
        return (
            event in self.namespace.answered_in_reader
            and not self._packet_middlewares
            and not (own and event in own)
        )

    def handler_for(self, event: str) -> Handler | None:
        """The handler of an event from the client: this socket's own, else the
        namespace's."""
        own = self._handlers
        if own:
            handler = own.get(event)
            if handler is not None:
                return handler
        return self.namespace.handlers.get(event)

    async def trigger(self, event: str, *args: Any) -> bool:
        """Run the namespace's handler of a lifecycle event (``disconnecting``, ``error``),
        then this socket's own; a failing handler is logged. False when there was none."""
        own = self._handlers.get(event) if self._handlers else None
        handlers = [self.namespace.handlers.get(event), own]
        ran = False
        for handler in handlers:
            if handler is None:
                continue
            ran = True
            try:
                await handler(self, *args)
            except Exception:
                logger.exception("%s handler failed for %r", event, self)
        return ran

    def use(self, middleware: PacketMiddleware) -> PacketMiddleware:
        """Add a packet middleware, run after those already added, on each event from the
        client; returns it, so it also works as a decorator."""
        if self._packet_middlewares is None:
            self._packet_middlewares = []
        self._packet_middlewares.append(middleware)
        return middleware

    @property
    def packet_middlewares(self) -> Sequence[PacketMiddleware]:
        """The packet middlewares, in calling order."""
        return self._packet_middlewares or ()

    def _outgoing_changed(self) -> None:
        watching = self.namespace.watching_outgoing
        if self._any_outgoing and self.disconnect_reason is None:
            watching.add(self)
        else:
            watching.discard(self)

    # Disconnection ----------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> None:
        """Disconnect this socket from the server side; ``close`` ends the whole connection."""
        if self.disconnect_reason is not None:
            return
        if self.connected:
            self.deliver_frame(control_frame(PacketType.DISCONNECT, self.namespace.name))
        self.detach(NamespaceLeft.SERVER_DISCONNECT)
        if close:
            self.client.session.close(CloseReason.FORCED_CLOSE)
        self.client.start_soon(self.client.run_disconnect_handlers)

    def detach(self, reason: DisconnectReason) -> None:
        """Leave the namespace and every room now; the disconnect handler runs later, once."""
        if self.disconnect_reason is not None:
            return
        if self.connected and self.pid is not None and reason in RECOVERABLE_REASONS:
            # Its data is the same dict: what the disconnect handlers still change is kept.
            self.namespace.adapter.persist_session(
                Session(self.id, self.pid, self.rooms, self.data)
            )
        self.disconnect_reason = reason
        self.connected = False
        self.broadcast_queue = None
        if self.handler_for("disconnecting") is None:
            self.leave_namespace()
        else:
            # Its rooms stay known to the disconnecting handlers, as in the reference;
            # nothing more is sent to the client meanwhile, nor shown to its outgoing
            # listeners by broadcasts.
            self._leaving = True
            self._session_send = self._session_send_direct = _discard
            self.namespace.watching_outgoing.discard(self)
        self.client.forget(self)

    def leave_namespace(self) -> None:
        """Leave the namespace, every room and the catch-all watch list (idempotent)."""
        self._leaving = False
        self._early_rooms = None
        self.namespace.remove(self)
        self.namespace.watching_outgoing.discard(self)

    async def run_disconnect_handler(self) -> None:
        """Run the ``disconnect`` handlers once the socket has left (for the server's
        client; a second call does nothing)."""
        if self._disconnect_handled or self.disconnect_reason is None:
            return
        self._disconnect_handled = True
        reason = self.disconnect_reason
        if self._leaving:
            try:
                await self.trigger("disconnecting", reason)
            finally:
                self.leave_namespace()
        await self.namespace.trigger_disconnect(self, reason)
        own = self._handlers.get("disconnect") if self._handlers else None
        if own is not None:
            try:
                await own(self, reason)
            except Exception:
                logger.exception("disconnect handler failed for %r", self)


def _discard(frame: Frame) -> None:
    pass


def _run_callback(callback: AckCallback, *args: Any) -> None:
    try:
        callback(*args)
    except Exception:
        logger.exception("ack callback %r failed", callback)
