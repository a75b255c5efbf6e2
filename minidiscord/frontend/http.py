"""One HTTP/1.1 connection: h11 parses requests, each becomes an ASGI ``http`` exchange.

A request asking for a WebSocket upgrade is handed to :mod:`.websocket` with the
connection. Deadlines: a client has ``keep_alive_timeout`` to start its next request,
``read_timeout`` to finish sending its head, ``read_timeout`` between two pieces of the
body the app reads, and ``read_timeout`` in all, counted from the end of the head, for a
body the app leaves unread (however it trickles in); past them the connection is closed,
so stalled peers hold nothing for long. Ambiguous request heads are refused with a 400
(:mod:`.strict`).
"""

import logging

import h11
import trio

from ..asgi_io import AppMessage, HTTPDisconnect, HTTPRequest
from .context import ConnectionContext
from .scope import asgi_scope
from .sticky import HandBack, first_line
from .streams import ClientStream, end_sending, tcp_socket
from .strict import StrictConnection
from .websocket import WebSocketConnection, is_websocket_upgrade

logger = logging.getLogger("minidiscord.frontend")

RECEIVE_SIZE = 64 * 1024
# Bytes a client may send ahead while its request is being answered (pipelining); past
# this the server stops reading until the answer is out.
MAX_READ_AHEAD = 64 * 1024
# After answering a request whose body it did not read (a refusal mid-upload), the server
# reads and drops what the client still sends, for this long and up to this much, before it
# closes: closing with unread bytes makes the kernel send a reset, which may destroy the
# answer before the client reads it (Apache's "lingering close").
LINGER_SECONDS = 2.0
LINGER_BYTES = 2 * 1024 * 1024


class _ConnectionEnded(Exception):
    """The client went away, stalled past a deadline, or broke HTTP."""


class HttpConnection:
    def __init__(
        self, context: ConnectionContext, stream: ClientStream, received: bytes = b""
    ) -> None:
        self.context = context
        self.stream = stream
        # Ambiguous request heads (request smuggling) raise a 400 instead of being guessed.
        self.conn = StrictConnection(
            h11.SERVER, max_incomplete_event_size=context.config.max_head_size
        )
        # Bytes another process read before handing the connection over (under --workers).
        if received:
            self.conn.receive_data(received)
        # The first request was routed here by whoever accepted the connection; later ones
        # on a kept-alive connection may be another worker's.
        self._routed = True

    async def run(self) -> WebSocketConnection | None:
        """Serve requests until the connection ends; raises :class:`.sticky.HandBack` when
        the next request is another worker's.

        A request to upgrade ends it too: it returns the WebSocket for the caller to run,
        so that this object, h11's state and the buffers it kept are garbage for as long
        as the WebSocket lives (an idle one would otherwise hold them for hours).
        """
        config = self.context.config
        try:
            while not self.context.shutting_down:
                if not self._routed:
                    await self._route_next_request()
                request = await self._next_request()
                if request is None:
                    return None
                if is_websocket_upgrade(request):
                    trailing, _ = self.conn.trailing_data
                    return WebSocketConnection(self.context, self.stream, request, trailing)
                # The whole body has this long, whether the app reads it or not.
                body_deadline = trio.current_time() + config.read_timeout
                if not await _Exchange(self, request).run():
                    return None
                if self.conn.our_state is not h11.DONE:
                    # The answer ends the connection (e.g. it said "Connection: close"): the
                    # rest of the request is not worth waiting for, only worth letting in.
                    if self.conn.their_state is h11.SEND_BODY:
                        await self._linger()
                    return None
                # An app may answer without reading the request (a GET's empty body
                # included): what is left must be read before the next request can be.
                if self.conn.their_state is h11.SEND_BODY and not await self._skip_body(
                    body_deadline
                ):
                    return None
                if self.conn.their_state is not h11.DONE:
                    return None
                self.conn.start_next_cycle()
                self._routed = self.context.sticky is None
        except _ConnectionEnded:
            return None
        except h11.RemoteProtocolError as exc:
            await self._refuse_bad_request(exc, config.read_timeout)
        return None

    async def _next_request(self) -> h11.Request | None:
        """The next request's head; None when the client closed or stayed idle too long."""
        config = self.context.config
        event = self.conn.next_event()
        if event is h11.NEED_DATA and not self.conn.trailing_data[0]:
            # Waiting for a request to start is idle time a shutdown may cut short.
            with self.context.idle_wait(config.keep_alive_timeout) as idle:
                try:
                    data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
            if idle.cancelled_caught:
                return None
            self.conn.receive_data(data)
            event = self.conn.next_event()
        deadline = trio.current_time() + config.read_timeout
        while event is h11.NEED_DATA:
            await self._read(deadline)
            event = self.conn.next_event()
        # Anything else is the end of the stream (or a half-close) before a request.
        return event if isinstance(event, h11.Request) else None

    async def _route_next_request(self) -> None:
        """Read until the next request's first line is in, then raise HandBack if it is
        another worker's; nothing is parsed yet, so the bytes go back whole."""
        sticky = self.context.sticky
        assert sticky is not None
        config = self.context.config
        buffered, closed = self.conn.trailing_data
        if not buffered and not closed:
            with self.context.idle_wait(config.keep_alive_timeout) as idle:
                try:
                    data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise _ConnectionEnded from None
            if idle.cancelled_caught:
                raise _ConnectionEnded
            self.conn.receive_data(data)
        deadline = trio.current_time() + config.read_timeout
        while True:
            buffered, closed = self.conn.trailing_data
            line = first_line(buffered, config.max_head_size)
            if line is not None:
                break
            if closed:
                return  # h11 says what a request cut short is
            await self._read(deadline)
        self._routed = True
        if not sticky.owns(line):
            raise HandBack(buffered)

    async def _read(self, deadline: float) -> None:
        """Feed the next bytes from the client to h11 (b"" at the end of the stream)."""
        with trio.move_on_at(deadline):
            try:
                data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise _ConnectionEnded from None
            self.conn.receive_data(data)
            return
        raise _ConnectionEnded

    async def _linger(self) -> None:
        """Say we are done sending, then drop what the client still sends until it closes,
        or for LINGER_SECONDS, or LINGER_BYTES: its answer is not destroyed by a reset."""
        try:
            await end_sending(self.stream)
            dropped = 0
            with trio.move_on_after(LINGER_SECONDS):
                while dropped < LINGER_BYTES:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                    if not data:
                        return
                    dropped += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async def _skip_body(self, deadline: float) -> bool:
        """Read and drop the rest of a request body (bounded in size, and in time by the
        body's ``deadline``); False if the connection should rather be closed."""
        skipped = 0
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                await self._read(deadline)
            elif isinstance(event, h11.Data):
                skipped += len(event.data)
                if skipped > MAX_READ_AHEAD:
                    return False
            else:
                return isinstance(event, h11.EndOfMessage)

    async def send_bytes(self, data: bytes) -> bool:
        """False when the client is gone (the app is not told: it may keep sending)."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def _refuse_bad_request(self, exc: h11.RemoteProtocolError, timeout: float) -> None:
        logger.info("bad HTTP request from %s: %s", tcp_socket(self.stream).getpeername(), exc)
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = b"Bad Request\n"
        status = exc.error_status_hint
        headers = [
            ("content-type", "text/plain"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        try:
            data = self.conn.send(h11.Response(status_code=status, headers=headers))
            data = (data or b"") + (self.conn.send(h11.Data(data=body)) or b"")
            data += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        with trio.move_on_after(timeout):
            await self.send_bytes(data)


class _Exchange:
    """One request and its response, as the ASGI app sees them."""

    def __init__(self, connection: HttpConnection, request: h11.Request) -> None:
        self.connection = connection
        self.conn = connection.conn
        self.request = request
        self.body_done = False
        self.client_gone = False
        self.response: h11.Response | None = None
        self.response_started = False
        self.response_done = False
        self.headers_sent: list[tuple[bytes, bytes]] = []

    async def run(self) -> bool:
        """Serve the request; False when the connection cannot carry another one."""
        scope = asgi_scope("http", self.request, self.connection.stream)
        try:
            await self.connection.context.app(scope, self.receive, self.send)
        except Exception:
            logger.exception("the app failed on %s %s", scope["method"], scope["path"])
            if not self.response_started and not self.client_gone:
                await self._send_plain(500, b"Internal Server Error\n")
            return False
        if not self.response_done:
            if self.response_started or self.client_gone:
                return False
            await self._send_plain(500, b"Internal Server Error\n")
            return False
        return not self.client_gone

    async def receive(self) -> HTTPRequest | HTTPDisconnect:
        if self.client_gone:
            return {"type": "http.disconnect"}
        if self.body_done:
            await self._wait_for_disconnect()
            return {"type": "http.disconnect"}
        config = self.connection.context.config
        try:
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    await self.connection._read(trio.current_time() + config.read_timeout)
                    continue
                if isinstance(event, h11.Data):
                    return {"type": "http.request", "body": bytes(event.data), "more_body": True}
                if isinstance(event, h11.EndOfMessage):
                    self.body_done = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                break  # ConnectionClosed
        except (_ConnectionEnded, h11.RemoteProtocolError):
            pass
        self.client_gone = True
        return {"type": "http.disconnect"}

    async def _wait_for_disconnect(self) -> None:
        """Block until the client closes its end (a long poll uses this to stop early)."""
        stream = self.connection.stream
        while not self.response_done:
            if len(self.conn.trailing_data[0]) > MAX_READ_AHEAD:
                await trio.sleep_forever()
            try:
                data = bytes(await stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.client_gone = True
                return
            # A pipelined next request: h11 keeps it for the next cycle.
            self.conn.receive_data(data)
        await trio.sleep_forever()

    async def send(self, message: AppMessage) -> None:
        if message["type"] == "http.response.start":
            if self.response is not None:
                raise RuntimeError("http.response.start sent twice")
            self.response = h11.Response(
                status_code=message["status"], headers=list(message.get("headers", ()))
            )
            return
        if message["type"] != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {message['type']!r} on an http exchange")
        if self.response_done:
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        chunks: list[bytes] = []
        if not self.response_started:
            if self.response is None:
                raise RuntimeError("http.response.body before http.response.start")
            self.response_started = True
            response = self.response
            if not more and not _has_length(response):
                response = h11.Response(
                    status_code=response.status_code,
                    headers=[*response.headers, (b"content-length", str(len(body)).encode())],
                )
            chunks.append(self.conn.send(response) or b"")
        if body:
            chunks.append(self.conn.send(h11.Data(data=body)) or b"")
        if not more:
            self.response_done = True
            chunks.append(self.conn.send(h11.EndOfMessage()) or b"")
        if self.client_gone:
            return
        try:
            sent = await self.connection.send_bytes(b"".join(chunks))
        except trio.Cancelled:
            # Part of the answer may be out: the connection can carry nothing more.
            self.client_gone = True
            raise
        if not sent:
            self.client_gone = True

    async def _send_plain(self, status: int, body: bytes) -> None:
        self.response = None
        await self.send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain; charset=UTF-8")],
            }
        )
        await self.send({"type": "http.response.body", "body": body})


def _has_length(response: h11.Response) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in response.headers)
