"""One WebSocket connection as an ASGI ``websocket`` exchange, on wsproto.

Writing: whoever has bytes for the client (the app's writer, or the reader answering a
ping) adds them to the connection's pending bytes; if no write is in progress it writes
everything pending in one ``send_all``, otherwise the task already writing takes them on
its next round. The engine hands over every frame it has queued for the client in one
``minidiscord.websocket.send_many`` message (an ASGI extension this front end offers), so
a burst of frames costs one system call and no task switch beyond the writer's own wake-up.
A sender waits only when ``write_buffer`` bytes are pending behind a write in progress: the
client is not reading, and the engine's bounded outbox then finds the slow consumer.

Direct sends (``minidiscord.websocket.direct_send``, offered on a plain TCP stream only):
while the connection is open, nothing is pending and no write is in progress, the app may
have messages written at once from any task (:meth:`WebSocketConnection.send_now`: one
non-blocking ``send(2)`` for all of them, no await). What the socket does not take becomes
the pending bytes, and only the app's next send writes them; until then every other message
queues behind them, so the stream of frames is never interleaved.

What may happen next depends on :class:`WebSocketState`, changed only by ``_move_to``.
"""

import logging
import os
from collections.abc import Iterator, Sequence
from enum import Enum, auto
from typing import Any

import h11
import trio
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from ..asgi_io import (
    DIRECT_SEND,
    SEND_MANY,
    AppMessage,
    HostMessage,
    WebSocketDisconnect,
    WebSocketReceive,
)
from ..transitions import TransitionTable
from .context import ConnectionContext
from .scope import asgi_scope
from .streams import ClientStream, end_sending
from .wsconnection import ServerWSConnection

logger = logging.getLogger("minidiscord.frontend")

RECEIVE_SIZE = 64 * 1024
# How long a closing connection may take to deliver what is still pending, and then to
# let the client answer the close, before the socket is simply closed.
CLOSE_FLUSH_TIMEOUT = 5.0
CLOSE_LINGER = 1.0
MESSAGE_TOO_BIG = 1009
# How many messages from one read the app gets before the reading task lets others run.
YIELD_EVERY = 16
ABNORMAL_CLOSURE = 1006
# The same for every connection, so shared (nobody changes a scope's extensions).
EXTENSIONS: dict[str, dict[str, Any]] = {"websocket.http.response": {}, SEND_MANY: {}}
# What a connection's events are once it has taken all of them: one iterator for all,
# not the last read's finished generator kept per connection.
_NO_EVENTS: Iterator[Event] = iter(())


def is_websocket_upgrade(request: h11.Request) -> bool:
    upgrade = connection = b""
    for name, value in request.headers:
        if name == b"upgrade":
            upgrade = value.lower()
        elif name == b"connection":
            connection = value.lower()
    return upgrade == b"websocket" and b"upgrade" in connection


class WebSocketState(Enum):
    """Where one WebSocket connection is, as its app and its client see it.

    HANDSHAKE: the app has not answered the upgrade request yet. REFUSED: it answered with
    an HTTP response; there is no WebSocket. OPEN: accepted; messages go both ways.
    CLOSING: our close frame is queued; the client's messages are still read until its
    own close. CLOSED: the app has been told the connection ended (the client closed,
    went away, or broke a limit).
    """

    HANDSHAKE = auto()
    REFUSED = auto()
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


# Enum members as constants: docs/architecture.md, "Two rules for code every message runs".
_OPEN = WebSocketState.OPEN
_CLOSING = WebSocketState.CLOSING

WEBSOCKET_TRANSITIONS = TransitionTable(
    {
        WebSocketState.HANDSHAKE: {
            WebSocketState.OPEN,
            WebSocketState.REFUSED,
            WebSocketState.CLOSED,
        },
        WebSocketState.OPEN: {WebSocketState.CLOSING, WebSocketState.CLOSED},
        WebSocketState.CLOSING: {WebSocketState.CLOSED},
        WebSocketState.REFUSED: set(),
        WebSocketState.CLOSED: set(),
    }
)


class WebSocketConnection:
    """One WebSocket exchange between a wsproto connection and the ASGI app."""

    def __init__(
        self,
        context: ConnectionContext,
        stream: ClientStream,
        request: h11.Request,
        already_read: bytes,
    ) -> None:
        self.context = context
        self.stream = stream
        # Dropped once the scope is made: an idle WebSocket keeps no copy of its request.
        self.request: h11.Request | None = request
        self.ws = ServerWSConnection()
        self._already_read = already_read
        self._events: Iterator[Event] = _NO_EVENTS
        self._connect_delivered = False
        self.state = WebSocketState.HANDSHAKE
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Made by the first sender over the limit, set when the write round ends; most
        # connections never need one.
        self._drained: trio.Event | None = None
        self._broken = False
        self._writing = False
        # The parts of a fragmented message (str for text, bytes for binary), and how much
        # of it counts against the client address's budget for unfinished messages.
        self._message: list[Any] = []
        self._message_size = 0
        self._unfinished_held = 0
        self._client_key = ""
        # Messages handed to the app since the task last yielded.
        self._unyielded = 0
        # The socket's descriptor for direct sends; -1 where they are not offered (TLS).
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1

    async def run(self) -> None:
        request = self.request
        assert request is not None
        self.request = None
        try:
            self.ws.initiate_upgrade_connection(list(request.headers), request.target)
        except RemoteProtocolError as exc:
            self._refuse(400, str(exc))
            await self._flush()
            return
        next(self.ws.events(), None)  # the upgrade Request, already known
        scope = asgi_scope("websocket", request, self.stream)
        scope["subprotocols"] = [
            offer.decode("latin-1").strip()
            for name, value in request.headers
            if name == b"sec-websocket-protocol"
            for offer in value.split(b",")
        ]
        scope["extensions"] = (
            {**EXTENSIONS, DIRECT_SEND: {"send": self.send_now}} if self._fd >= 0 else EXTENSIONS
        )
        del request  # the scope has what the app may read of it
        self._client_key = self.context.limits.client_key(scope)
        try:
            await self.context.app(scope, self.receive, self.send)
        except Exception:
            logger.exception("the app failed on a WebSocket at %s", scope["path"])
        finally:
            self._release_unfinished()
            # The stream may be closed once this returns, and its descriptor reused: a
            # direct send now fails (EBADF) rather than write to another connection.
            self._fd = -1
        if self.state is WebSocketState.HANDSHAKE:
            self._refuse(500, "Internal Server Error")
        elif self.state is WebSocketState.OPEN:
            self._queue_close(1000)
        await self._finish()

    def _move_to(self, state: WebSocketState) -> None:
        self.state = WEBSOCKET_TRANSITIONS.check("WebSocket", self.state, state)

    async def _finish(self) -> None:
        """Deliver what is pending, then let the client answer our close (both bounded)."""
        with trio.move_on_after(CLOSE_FLUSH_TIMEOUT):
            await self._flush()
        if self._broken or self._pending:
            return
        try:
            await end_sending(self.stream)
            with trio.move_on_after(CLOSE_LINGER):
                while await self.stream.receive_some(RECEIVE_SIZE):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    # The app's side.

    async def receive(self) -> HostMessage:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        while self.state is _OPEN or self.state is _CLOSING:
            event = next(self._events, None)
            if event is None:
                self._events = _NO_EVENTS
                if not await self._read():
                    return self._disconnect(ABNORMAL_CLOSURE)
                self._unyielded = 0
                continue
            pending = self._pending_size
            message = self._handle(event)
            if self._pending_size != pending:
                # A pong, or the answer to a close. Not for bytes a direct send left: the
                # writer woken for them owns the socket (docs/architecture.md), and a
                # reader blocked on a client that does not read would stop reading it.
                await self._flush()
            if message is not None:
                self._unyielded += 1
                if self._unyielded >= YIELD_EVERY:
                    # One read can hold thousands of small messages: let others run
                    # between them (a read itself is a checkpoint).
                    self._unyielded = 0
                    await trio.lowlevel.checkpoint()
                return message
        if self.state is WebSocketState.HANDSHAKE:
            # The app waits for a message before answering: the client's can only come
            # after an answer, so what can arrive is the end of the connection.
            while await self._read():
                pass
            return self._disconnect(ABNORMAL_CLOSURE)
        return {"type": "websocket.disconnect", "code": ABNORMAL_CLOSURE}

    async def send(self, message: AppMessage) -> None:
        if message["type"] == SEND_MANY:
            if self.state is not _OPEN or self._broken:
                return
            encode = self.context.frames.encode
            for frame in message["frames"]:
                self._queue(encode(frame))
        elif message["type"] == "websocket.send":
            if self.state is not _OPEN or self._broken:
                return
            text = message.get("text")
            payload = text if text is not None else bytes(message.get("bytes") or b"")
            self._queue(self.context.frames.encode(payload))
        elif message["type"] == "websocket.accept":
            if self.state is not WebSocketState.HANDSHAKE:
                return
            self._move_to(WebSocketState.OPEN)
            headers = list(message.get("headers", ()))
            accept = AcceptConnection(subprotocol=message.get("subprotocol"), extra_headers=headers)
            self._queue(self.ws.send(accept))
            # Frames the client sent right behind its request: wsproto takes them only
            # once the connection is open.
            self._feed(self._already_read)
            self._already_read = b""
        elif message["type"] == "websocket.close":
            if self.state is WebSocketState.HANDSHAKE:
                self._refuse(403, "Forbidden")
            elif self.state is WebSocketState.OPEN:
                self._queue_close(int(message.get("code", 1000)), message.get("reason") or "")
        elif message["type"] == "websocket.http.response.start":
            if self.state is not WebSocketState.HANDSHAKE:
                return
            self._move_to(WebSocketState.REFUSED)
            refusal = RejectConnection(
                status_code=int(message["status"]),
                headers=list(message.get("headers", ())),
                has_body=True,
            )
            self._queue(self.ws.send(refusal))
        elif message["type"] == "websocket.http.response.body":
            if self.state is not WebSocketState.REFUSED:
                return
            more = bool(message.get("more_body", False))
            body = bytes(message.get("body", b""))
            self._queue(self.ws.send(RejectData(data=body, body_finished=not more)))
        else:
            raise RuntimeError(f"unexpected ASGI message {message['type']!r} on a WebSocket")
        await self._flush()

    def send_now(self, payloads: Sequence[str | bytes]) -> int | None:
        """Write messages now, all in one write, from whichever task calls, without
        waiting: the :data:`~minidiscord.asgi_io.DirectSend` this connection offers its app.

        None: nothing written (the connection is not open, bytes are pending or being
        written, or the socket is full). Otherwise how many bytes the socket did not take;
        they are pending now, for the app's next send.
        """
        if self._writing or self._pending or self.state is not _OPEN or self._broken:
            return None
        data = self.context.frames.encode_all(payloads)
        try:
            # send(2) without flags on the stream's own descriptor (trio keeps its socket
            # object private); the socket is non-blocking, so this never waits.
            sent = os.write(self._fd, data)
        except BlockingIOError:
            return None
        except OSError:
            # Reset or gone: the reader finds out and ends the connection.
            self._broken = True
            return None
        context = self.context
        context.direct_writes += 1
        unsent = len(data) - sent
        if unsent:
            context.direct_partial_writes += 1
            self._queue(data[sent:])
        return unsent

    # Reading.

    async def _read(self) -> bool:
        try:
            data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        if not data:
            return False
        if self.state is WebSocketState.HANDSHAKE or self.state is WebSocketState.REFUSED:
            self._already_read += data
        else:
            self._feed(data)
        return True

    def _feed(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self._events = self.ws.events()

    def _handle(self, event: Event) -> HostMessage | None:
        if isinstance(event, TextMessage | BytesMessage):
            return self._add_to_message(event)
        if isinstance(event, Ping):
            # Once our close is out, a ping goes unanswered (no frame may follow a close).
            if self.state is WebSocketState.OPEN:
                self._queue(self.ws.send(event.response()))
            return None
        if isinstance(event, CloseConnection):
            if self.state is WebSocketState.OPEN:
                self._queue(self.ws.send(event.response()))
            return self._disconnect(event.code)
        return None

    def _add_to_message(
        self, event: TextMessage | BytesMessage
    ) -> WebSocketReceive | WebSocketDisconnect | None:
        size = len(event.data)
        self._message_size += size
        if self._message_size > self.context.config.max_message_size:
            self._queue_close(MESSAGE_TOO_BIG, "message too big")
            return self._disconnect(MESSAGE_TOO_BIG)
        if not event.message_finished:
            if not self.context.limits.unfinished.hold(self._client_key, size):
                self._queue_close(MESSAGE_TOO_BIG, "too much unfinished input from your address")
                return self._disconnect(MESSAGE_TOO_BIG)
            self._unfinished_held += size
            self._message.append(event.data)
            return None
        self._release_unfinished()
        parts = self._message
        self._message, self._message_size = [], 0
        if isinstance(event, TextMessage):
            text = "".join([*parts, event.data]) if parts else event.data
            return {"type": "websocket.receive", "text": text}
        data = b"".join([*parts, event.data]) if parts else bytes(event.data)
        return {"type": "websocket.receive", "bytes": data}

    def _release_unfinished(self) -> None:
        if self._unfinished_held:
            self.context.limits.unfinished.release(self._client_key, self._unfinished_held)
            self._unfinished_held = 0

    def _disconnect(self, code: int) -> WebSocketDisconnect:
        self._move_to(WebSocketState.CLOSED)
        return {"type": "websocket.disconnect", "code": code}

    # Writing.

    def _queue_close(self, code: int, reason: str = "") -> None:
        """Close from our side (once: a connection already closing only waits)."""
        if self.state is WebSocketState.OPEN:
            self._move_to(WebSocketState.CLOSING)
            self._queue(self.ws.send(CloseConnection(code=code, reason=reason)))

    def _refuse(self, status: int, text: str) -> None:
        self._move_to(WebSocketState.REFUSED)
        self._queue(self._plain_refusal(status, text))

    def _plain_refusal(self, status: int, text: str) -> bytes:
        body = f"{text}\n".encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        head = self.ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
        return head + self.ws.send(RejectData(data=body))

    def _queue(self, data: bytes) -> None:
        if self._broken or not data:
            return
        self._pending.append(data)
        self._pending_size += len(data)

    async def _flush(self) -> None:
        """Write everything pending, or leave it to the write already in progress."""
        if self._writing:
            # Another task is writing and will take these bytes too; wait only if the
            # client is so far behind that the pending bytes passed the limit.
            while self._writing and self._pending_size >= self.context.config.write_buffer:
                if self._drained is None:
                    self._drained = trio.Event()
                await self._drained.wait()
            return
        self._writing = True
        try:
            while self._pending and not self._broken:
                pending = self._pending
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                self._pending = []
                self._pending_size = 0
                self.context.websocket_writes += 1
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._broken = True
                except trio.Cancelled:
                    # Part of a frame may be out: nothing more can follow it on this stream.
                    self._broken = True
                    raise
        finally:
            self._writing = False
            if self._broken:
                self._pending = []
            if self._drained is not None:
                self._drained.set()
                self._drained = None
