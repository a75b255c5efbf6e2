"""One Engine.IO connection seen by Socket.IO: packet decoding and namespace dispatch."""

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ..engine import EngineSession
from ..protocol.errors import SocketIOProtocolError
from ..protocol.socketio import Decoder, Packet, PacketType
from .errors import ConnectionRefused
from .packets import control_frame
from .socket import Handshake, Socket

if TYPE_CHECKING:
    from .server import SocketServer

logger = logging.getLogger("minidiscord.sockets")


class Client:
    """The :class:`ConnectionHandler` the engine drives for each session."""

    def __init__(self, server: "SocketServer", session: EngineSession) -> None:
        self.server = server
        self.session = session
        self.sockets: dict[str, Socket] = {}
        self._decoder = Decoder(max_attachments=server.max_attachments)
        self._detached: list[Socket] = []
        if server.connect_timeout is not None:
            timeout = server.connect_timeout
            session.set_timer(trio.current_time() + timeout, lambda: self._no_connect(timeout))

    def start_soon(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task that lives as long as this connection."""
        self.session.start_soon(task, *args)

    def _no_connect(self, timeout: float) -> None:
        if not self.sockets:
            self.session.refuse("connect timeout", f"no CONNECT within {timeout} s")

    async def on_message(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.receive(data)
        except SocketIOProtocolError as exc:
            self.session.refuse("parse error", str(exc), reason="parse error")
            return
        if packet is not None:
            await self._dispatch(packet)

    async def _dispatch(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.EVENT:
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
                socket.detach("client namespace disconnect")
                await self.run_disconnect_handlers()
        else:
            self.session.refuse("parse error", f"{kind.name} from a client", reason="parse error")

    async def _run_event(self, socket: Socket, packet: Packet) -> None:
        self.server.metrics.events_received.inc()
        event, *args = packet.data
        handler = socket.namespace.handlers.get(event)
        if handler is None:
            logger.debug("%r: no handler for %r", socket, event)
            return
        try:
            result = await handler(socket, *args)
        except Exception:
            logger.exception("handler for %r failed on %r", event, socket)
            return
        if packet.id is not None and socket.connected:
            socket.send_ack(packet.id, result)

    async def _connect(self, name: str, auth: dict[str, Any] | None) -> None:
        namespace = self.server.namespaces.get(name)
        if namespace is None:
            self.server.metrics.reject("invalid namespace")
            self.session.send_frame(
                control_frame(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"})
            )
            return
        if name in self.sockets:
            logger.debug("%s: already connected to %s", self.session.sid, name)
            return
        handshake = Handshake(auth, self.session.request)
        socket = Socket(self, namespace, secrets.token_urlsafe(15), handshake)
        self.sockets[name] = socket
        namespace.add(socket)
        handler = namespace.handlers.get("connect")
        refusal: ConnectionRefused | None = None
        try:
            if handler is not None:
                await handler(socket, auth)
        except ConnectionRefused as exc:
            refusal = exc
        except Exception:
            logger.exception("connect handler failed on %r", socket)
            refusal = ConnectionRefused("Internal server error")
        if refusal is None:
            # Connected to a namespace: the connect timeout no longer applies.
            self.session.set_timer(None)
        else:
            self.server.metrics.reject("connect refused")
            logger.info("refused a connection to %s: %s", name, refusal.message)
            if socket.disconnect_reason is None:
                # It never connected: it leaves without a disconnect handler.
                socket.connected = False
                socket.namespace.remove(socket)
                self.sockets.pop(name, None)
            error: dict[str, Any] = {"message": refusal.message}
            if refusal.data is not None:
                error["data"] = refusal.data
            self.session.send_frame(control_frame(PacketType.CONNECT_ERROR, name, error))
            return
        if socket.disconnect_reason is None:
            socket.accept()

    def forget(self, socket: Socket) -> None:
        """Called by a socket leaving its namespace: its disconnect handler is now due."""
        if self.sockets.get(socket.namespace.name) is socket:
            del self.sockets[socket.namespace.name]
        self._detached.append(socket)

    async def run_disconnect_handlers(self) -> None:
        while self._detached:
            await self._detached.pop(0).run_disconnect_handler()

    async def on_close(self, reason: str) -> None:
        for socket in list(self.sockets.values()):
            socket.detach(reason)
        await self.run_disconnect_handlers()
