"""One Engine.IO connection seen by Socket.IO: packet decoding and namespace dispatch."""

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ..engine.reasons import CloseReason
from ..protocol.errors import SocketIOProtocolError
from ..protocol.socketio import Decoder, Packet, PacketType
from .acks import event_begins, event_ends
from .connection import EngineConnection
from .dynamic import connecting, find_child
from .errors import ConnectionRefused
from .inbox import Inbox
from .middleware import INTERNAL_ERROR, admit, screen
from .packets import control_frame
from .reasons import NamespaceLeft, SocketsRejectLabel
from .restore import recover
from .socket import Handshake, Socket

if TYPE_CHECKING:
    from .server import SocketServer

logger = logging.getLogger("minidiscord.sockets")

# Packets applied one at a time in arrival order, after the handlers of those before them.
_TAKE_TURNS = frozenset((PacketType.EVENT, PacketType.CONNECT, PacketType.DISCONNECT))
# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_EVENT = PacketType.EVENT


class Client:
    """The :class:`ConnectionHandler` the engine drives for each session."""

    def __init__(self, server: "SocketServer", session: EngineConnection) -> None:
        self.server = server
        self.session = session
        self.sockets: dict[str, Socket] = {}
        self._decoder = Decoder(
            max_attachments=server.max_attachments,
            max_attachment_bytes=session.max_payload,
        )
        self._detached: list[Socket] = []
        # The session's one timer serves two deadlines: the first CONNECT (counted from
        # when the client was sent its handshake: on_handshake_sent), and the end of a
        # binary packet's attachments.
        self._connect_deadline: float | None = None
        self._attachments_deadline: float | None = None
        # The connection ended (on_close began): a CONNECT still in its middlewares is void.
        self._closed = False
        # EVENT, CONNECT and DISCONNECT wait their turn there; ACKs never wait (a handler
        # may be awaiting one).
        self._inbox = Inbox(self._dispatch, self.start_soon, session.max_payload)
        # Bytes received of the packet being decoded (its attachments included).
        self._received = 0

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task that lives as long as this connection."""
        self.session.start_soon(task, *args)

    def _set_timer(self) -> None:
        deadlines = [
            d for d in (self._connect_deadline, self._attachments_deadline) if d is not None
        ]
        self.session.set_timer(min(deadlines) if deadlines else None, self._timer_fired)

    def _timer_fired(self) -> None:
        now = trio.current_time()
        if self._connect_deadline is not None and now >= self._connect_deadline:
            self.session.refuse(
                SocketsRejectLabel.CONNECT_TIMEOUT,
                f"no CONNECT within {self.server.connect_timeout} s",
            )
        elif self._attachments_deadline is not None and now >= self._attachments_deadline:
            self.session.refuse(
                SocketsRejectLabel.INCOMPLETE_ATTACHMENTS,
                f"binary attachments not complete within {self.server.attachment_timeout} s",
                reason=CloseReason.PARSE_ERROR,
            )
        else:
            self._set_timer()

    def on_handshake_sent(self) -> None:
        """The connect timeout counts from when the client could first send CONNECT (a
        busy server may take a while to write the handshake; until then the session's
        heartbeat bounds it)."""
        timeout = self.server.connect_timeout
        if timeout is not None and not self.session.established:
            self._connect_deadline = trio.current_time() + timeout
            self._set_timer()

    def on_throttled(self, retry_after: float) -> None:
        """Tell the client its packets are being dropped (the engine's inbound budget)."""
        notice = {"event": "*", "retryAfter": math.ceil(retry_after * 1000)}
        for socket in self.sockets.values():
            if socket.connected:
                socket.emit("rate-limited", notice)

    async def on_message(self, data: str | bytes) -> None:
        decoder = self._decoder
        self._received += len(data)
        try:
            packet = decoder.receive(data)
        except SocketIOProtocolError as exc:
            self.session.refuse(
                SocketsRejectLabel.PARSE_ERROR, str(exc), reason=CloseReason.PARSE_ERROR
            )
            return
        if decoder.awaiting_attachments != (self._attachments_deadline is not None):
            self._attachments_deadline = (
                trio.current_time() + self.server.attachment_timeout
                if decoder.awaiting_attachments
                else None
            )
            self._set_timer()
        if packet is None:
            return
        size, self._received = self._received, 0
        if packet.type in _TAKE_TURNS:
            if packet.type is _EVENT and self._in_reader(packet):
                await self._inbox.apply_or_put(packet, size)
            else:
                await self._inbox.put(packet, size)
        else:
            # An ACK is applied as it is read: the handler awaiting it may be the one
            # the inbox is running. Anything else is refused at once.
            await self._dispatch(packet)

    def _in_reader(self, packet: Packet) -> bool:
        """An EVENT whose handler promised never to wait for this client
        (:meth:`Socket.answers_in_reader`)."""
        socket = self.sockets.get(packet.namespace)
        return socket is not None and socket.answers_in_reader(packet.data[0])

    async def _dispatch(self, packet: Packet) -> None:
        kind = packet.type
        if kind is _EVENT:
            socket = self.sockets.get(packet.namespace)
            if socket is not None and socket.connected:
                await self._run_event(socket, packet)
        elif kind is PacketType.ACK:
            socket = self.sockets.get(packet.namespace)
            if socket is not None and packet.id is not None:
                socket.handle_ack(packet.id, packet.data)
        elif kind is PacketType.CONNECT:
            await self._connect(packet.namespace, packet.data)
        elif kind is PacketType.DISCONNECT:
            socket = self.sockets.get(packet.namespace)
            if socket is not None:
                socket.detach(NamespaceLeft.CLIENT_DISCONNECT)
                await self.run_disconnect_handlers()
        else:
            self.session.refuse(
                SocketsRejectLabel.PARSE_ERROR,
                f"{kind.name} from a client",
                reason=CloseReason.PARSE_ERROR,
            )

    async def _run_event(self, socket: Socket, packet: Packet) -> None:
        self.server.metrics.events_received.inc()
        event, *args = packet.data
        if event == "error":
            # The decoder refuses the other reserved names; "error" names the handlers of
            # what a packet middleware raised, which no client may run with its own
            # arguments (the reference lets it: a known overload there).
            logger.debug("%r: the client sent an 'error' event", socket)
            return
        socket.notify_incoming(event, args)
        middlewares = socket.packet_middlewares
        if middlewares:
            error = await screen(middlewares, event, args)
            if error is not None:
                if not await socket.trigger("error", error):
                    logger.info("%r: a packet middleware stopped %r: %r", socket, event, error)
                return
            if not socket.connected:
                return
        handler = socket.handler_for(event)
        if handler is None:
            logger.debug("%r: no handler for %r", socket, event)
            return
        token = event_begins(packet.id is not None)
        try:
            result = await handler(socket, *args)
        except Exception:
            logger.exception("handler for %r failed on %r", event, socket)
            return
        finally:
            event_ends(token)
        if packet.id is not None and socket.connected:
            socket.send_ack(packet.id, result)

    async def _connect(self, name: str, auth: dict[str, Any] | None) -> None:
        namespace = self.server.namespaces.get(name)
        if namespace is None and self.server.parent_namespaces:
            namespace = await find_child(
                self.server.parent_namespaces, self.server.namespaces, name, auth
            )
        if namespace is None:
            self.server.metrics.reject(SocketsRejectLabel.INVALID_NAMESPACE)
            self.session.send_frame(
                control_frame(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"})
            )
            return
        if name in self.sockets:
            logger.debug("%s: already connected to %s", self.session.sid, name)
            return
        handshake = Handshake(auth, self.session.request)
        # The client has sent its CONNECT: however long the application takes to answer
        # it (a busy server, a slow store), that is not the client's delay.
        paused_deadline, self._connect_deadline = self._connect_deadline, None
        if paused_deadline is not None:
            self._set_timer()
        recovery = namespace.recovery
        socket = None
        if recovery is not None:
            socket = await recover(self, namespace, handshake)
            if self._closed:
                return
        if socket is None:
            socket = Socket(self, namespace, secrets.token_urlsafe(15), handshake)
            if recovery is not None:
                socket.pid = secrets.token_urlsafe(15)
        if socket.recovered and recovery is not None and recovery.skip_middlewares:
            refusal = None
        else:
            # The middlewares see the socket before it joins the namespace, as in the
            # reference.
            with connecting(namespace):
                refusal = await admit(namespace.middleware_chain(), socket, auth)
        if self._closed:
            socket.leave_namespace()
            return
        if refusal is None:
            self.sockets[name] = socket
            namespace.add(socket)
            refusal = await self._run_connect_handler(socket, auth)
        if refusal is None:
            # Connected to a namespace: the session is no longer half-open.
            self.session.establish()
        else:
            if paused_deadline is not None and not self.session.established:
                # Refused: the time left runs on, with a moment to read the refusal.
                self._connect_deadline = max(paused_deadline, trio.current_time() + 1.0)
                self._set_timer()
            self.server.metrics.reject(SocketsRejectLabel.CONNECT_REFUSED)
            logger.info("refused a connection to %s: %s", name, refusal.message)
            if socket.disconnect_reason is None:
                # It never connected: it leaves without a disconnect handler.
                socket.connected = False
                socket.leave_namespace()
                if self.sockets.get(name) is socket:
                    del self.sockets[name]
            error: dict[str, Any] = {"message": refusal.message}
            if refusal.data is not None:
                error["data"] = refusal.data
            self.session.send_frame(control_frame(PacketType.CONNECT_ERROR, name, error))
            return
        if socket.disconnect_reason is None:
            socket.accept()

    async def _run_connect_handler(
        self, socket: Socket, auth: dict[str, Any] | None
    ) -> ConnectionRefused | None:
        handler = socket.namespace.handlers.get("connect")
        if handler is None:
            return None
        try:
            await handler(socket, auth)
        except ConnectionRefused as exc:
            return exc
        except Exception:
            logger.exception("connect handler failed on %r", socket)
            return ConnectionRefused(INTERNAL_ERROR)
        return None

    def forget(self, socket: Socket) -> None:
        """Called by a socket leaving its namespace: its disconnect handler is now due."""
        if self.sockets.get(socket.namespace.name) is socket:
            del self.sockets[socket.namespace.name]
        self._detached.append(socket)

    async def run_disconnect_handlers(self) -> None:
        while self._detached:
            await self._detached.pop(0).run_disconnect_handler()

    async def on_close(self, reason: CloseReason) -> None:
        self._closed = True
        # Packets read before the close are applied first, in order: a DISCONNECT among
        # them is the client's own reason, an EVENT is not lost to a close right behind it.
        await self._inbox.finish()
        for socket in list(self.sockets.values()):
            socket.detach(reason)
        try:
            await self.run_disconnect_handlers()
        finally:
            # Handlers cut short (the close handler is bounded) must not leave sockets
            # kept for their disconnecting handlers in the namespace.
            for socket in self._detached:
                socket.leave_namespace()
