"""An HTTP/2 client that stops reading loses its session and its connection, as an HTTP/1.1
one does (``test_stalled_connections``), on hypercorn, the front end that speaks HTTP/2.

hypercorn serves HTTP/2 over TLS (ALPN h2) and over plain TCP (the preface sent by "prior
knowledge", or ``Upgrade: h2c``), and WebSockets over it (RFC 8441's extended CONNECT). An
HTTP/2 stream's writes wait on the client's flow-control window as well as on the socket:
hypercorn's ``H2Protocol`` buffers what the app writes to a stream until the window lets it
out. A client stalls either way here: "window", it reads everything but never grants more
window than its tiny initial one; "socket", it grants a wide window and reads nothing, so
its kernel buffers fill. Whatever ends its session (the slow-consumer rule, a clean close
whose flush runs out of time, a shutdown), the server lets go of the connection while the
client still takes nothing, and the others read on. Requests with no session (the web
client's files) hold what their streams have buffered until the client goes, each stream
counted under its address's cap.

hypercorn's own timers (its read timeout, its keep-alive timeout) close such a connection
after a heartbeat cycle or so, unless the client keeps them off (any frame it sends, an
HTTP/2 PING, restarts the read timer; a stream it keeps open, the keep-alive one): the
server here sets them beyond each wait's bound, so that what lets go is the end of the
session, not a timer.
"""

import gc
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
import trio
from hypercorn.protocol.h2 import H2Protocol

from benchkit.wire import OP_TEXT, encode_client_frame, parse_frames
from minidiscord.asgi_io import Receive, Scope, Send
from minidiscord.engine import session as engine_session
from minidiscord.engine import websocket as engine_websocket
from minidiscord.engine.reasons import CloseReason
from minidiscord.sockets import SocketServer
from minidiscord.web.static import FILES, serve_web
from tests.frontend.test_direct_send import items, room_server
from tests.frontend.test_hypercorn_sends import small_buffer_server

# short_flush: the stalled-connection tests' shorter flush deadline, autouse here as there.
from tests.hardening.test_stalled_connections import (
    WebSocketClient,
    close_cleanly,
    loopback_socket,
    short_flush,  # noqa: F401
)
from tests.support.servers import TEST_SETTINGS
from tests.support.tasks import tasks_running
from tests.support.tcpstate import server_holds
from tests.support.tls import ServerCertificate
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    TEST_SETTINGS.frontend != "hypercorn",
    reason="HTTP/2 is hypercorn's: the native front end speaks HTTP/1.1 only",
)

COUNT, SIZE = 40, 5000  # 200 KB: far more than a stalled client's window or buffers take
# A "window" client's initial window for each stream: the handshake's answers fit in it.
WINDOW = 4096
# The largest window HTTP/2 allows: a "socket" client's, so that only its buffers stop writes.
WIDEST = 2**31 - 1
# hypercorn's read and keep-alive timeouts follow the heartbeat: a minute and more.
LONG_TIMERS = {"ping_interval": 60.0, "ping_timeout": 5.0}

Stall = Literal["window", "socket"]
EXTENDED_CONNECT_PROTOCOL = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


@pytest.fixture(params=["prior-knowledge", "tls"])
def tls(request: pytest.FixtureRequest, certificate: ServerCertificate) -> ServerCertificate | None:
    """None for HTTP/2 on plain TCP (prior knowledge), else the server's certificate (h2
    chosen by ALPN)."""
    return certificate if request.param == "tls" else None


@pytest.fixture(params=["window", "socket"])
def stall(request: pytest.FixtureRequest) -> Stall:
    stalls: dict[str, Stall] = {"window": "window", "socket": "socket"}
    return stalls[request.param]


@dataclass
class H2Client:
    """An HTTP/2 client (``h2``) that grants flow-control window only while told to."""

    stream: trio.abc.Stream
    # The TCP socket under it (whose server side the kernel reports).
    sock: trio.socket.SocketType
    stall: Stall
    connection: h2.connection.H2Connection = field(
        default_factory=lambda: h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
    )
    # Events received and not yet taken, in order.
    events: list[h2.events.Event] = field(default_factory=list)
    granting: bool = True

    @classmethod
    async def open(cls, port: int, tls: ServerCertificate | None, stall: Stall) -> Self:
        sock = await loopback_socket(port, small=stall == "socket")
        stream: trio.abc.Stream = trio.SocketStream(sock)
        if tls is not None:
            context = tls.client_context()
            context.set_alpn_protocols(["h2"])
            ssl_stream = trio.SSLStream(stream, context, server_hostname="localhost")
            await ssl_stream.do_handshake()
            assert ssl_stream.selected_alpn_protocol() == "h2"
            stream = ssl_stream
        client = cls(stream, sock, stall)
        connection = client.connection
        # The preface itself, on plain TCP: HTTP/2 by prior knowledge.
        connection.initiate_connection()
        window = WINDOW if stall == "window" else WIDEST
        connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        if stall == "socket":
            # The connection's own window starts at 65,535 bytes whatever SETTINGS say.
            connection.increment_flow_control_window(WIDEST - 65_535)
        await client.flush()
        # The server's SETTINGS: it speaks HTTP/2, and says whether it takes WebSockets.
        await client.read_until(lambda event: isinstance(event, h2.events.RemoteSettingsChanged))
        return client

    async def flush(self) -> None:
        data = self.connection.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def read_some(self) -> bool:
        """Read what is there (answering the server's SETTINGS and PINGs, as h2 does, and
        granting window back for data only while ``granting``); False at the end."""
        try:
            data = await self.stream.receive_some(1 << 16)
        except trio.BrokenResourceError:
            return False
        if not data:
            return False
        for event in self.connection.receive_data(data):
            self.events.append(event)
            if isinstance(event, h2.events.DataReceived) and self.granting:
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
        await self.flush()
        return True

    async def read_until(self, wanted: Callable[[h2.events.Event], bool]) -> None:
        """Read until an event for which ``wanted`` holds has arrived."""
        with trio.fail_after(10):
            while not any(wanted(event) for event in self.events):
                assert await self.read_some(), "the server closed the connection"

    def take(self, stream_id: int) -> list[h2.events.Event]:
        """The events received on ``stream_id`` so far, taken out."""
        taken = [event for event in self.events if getattr(event, "stream_id", None) == stream_id]
        self.events = [event for event in self.events if event not in taken]
        return taken

    async def request(self, method: str, path: str, body: bytes | None = None) -> int:
        stream_id = self.connection.get_next_available_stream_id()
        scheme = b"https" if isinstance(self.stream, trio.SSLStream) else b"http"
        headers = [
            (b":method", method.encode()),
            (b":scheme", scheme),
            (b":path", path.encode()),
            (b":authority", b"localhost"),
        ]
        self.connection.send_headers(stream_id, headers, end_stream=body is None)
        if body is not None:
            self.connection.send_data(stream_id, body, end_stream=True)
        await self.flush()
        return stream_id

    async def answer(self, stream_id: int) -> bytes:
        """The body of the answer on ``stream_id`` (status 200)."""

        def ended(event: h2.events.Event) -> bool:
            return isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id

        await self.read_until(ended)
        events = self.take(stream_id)
        (response,) = [event for event in events if isinstance(event, h2.events.ResponseReceived)]
        assert (b":status", b"200") in (response.headers or []), response.headers
        return b"".join(
            event.data or b"" for event in events if isinstance(event, h2.events.DataReceived)
        )

    async def stop_reading(self, nursery: trio.Nursery) -> None:
        """From now on the client takes nothing: it grants no more window ("window": it
        still reads the socket, so only flow control holds the server's writes back), or
        it reads nothing at all ("socket")."""
        self.granting = False
        if self.stall == "window":
            nursery.start_soon(self._read_to_end)

    async def _read_to_end(self) -> None:
        while await self.read_some():
            pass


@dataclass
class H2Polling(H2Client):
    sid: str = ""

    def url(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def join(self) -> None:
        """Open a polling session and join the default namespace, all on this connection."""
        opened = await self.answer(await self.request("GET", "/socket.io/?EIO=4&transport=polling"))
        self.sid = json.loads(opened[1:])["sid"]
        assert await self.answer(await self.request("POST", self.url(), b"40")) == b"ok"
        joined = await self.answer(await self.request("GET", self.url()))
        assert joined.startswith(b"40{"), joined


@dataclass
class H2WebSocket(H2Client):
    sid: str = ""
    stream_id: int = 0
    received: bytearray = field(default_factory=bytearray)

    async def join(self) -> None:
        """Open an Engine.IO WebSocket on an extended CONNECT stream and join the default
        namespace."""
        assert self.connection.remote_settings.get(EXTENDED_CONNECT_PROTOCOL) == 1
        self.stream_id = self.connection.get_next_available_stream_id()
        scheme = b"https" if isinstance(self.stream, trio.SSLStream) else b"http"
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", scheme),
            (b":path", b"/socket.io/?EIO=4&transport=websocket"),
            (b":authority", b"localhost"),
            (b"sec-websocket-version", b"13"),
        ]
        self.connection.send_headers(self.stream_id, headers)
        await self.flush()
        (opening,) = await self.messages(1)
        self.sid = json.loads(opening[1:])["sid"]
        await self.send(b"40")
        (answer,) = await self.messages(1)
        assert answer.startswith(b"40{"), answer

    async def send(self, payload: bytes) -> None:
        self.connection.send_data(self.stream_id, encode_client_frame(OP_TEXT, payload))
        await self.flush()

    async def messages(self, count: int) -> list[bytes]:
        """The next ``count`` messages (pings answered and skipped)."""
        messages: list[bytes] = []
        with trio.fail_after(10):
            while len(messages) < count:
                for event in self.take(self.stream_id):
                    if isinstance(event, h2.events.ResponseReceived):
                        assert (b":status", b"200") in (event.headers or []), event.headers
                    elif isinstance(event, h2.events.DataReceived):
                        self.received += event.data or b""
                frames, used = parse_frames(self.received)
                del self.received[:used]
                for _, payload in frames:
                    if payload == b"2":
                        await self.send(b"3")
                    else:
                        messages.append(payload)
                if len(messages) < count:
                    assert await self.read_some(), "the server closed the connection"
        assert len(messages) == count, messages[count:]
        return messages


@dataclass
class Served:
    """A server, and the clients a test opened on it."""

    sio: SocketServer
    port: int
    tls: ServerCertificate | None
    socks: list[trio.socket.SocketType] = field(default_factory=list)

    async def h2_polling(self, stall: Stall) -> H2Polling:
        client = await H2Polling.open(self.port, self.tls, stall)
        self.socks.append(client.sock)
        await client.join()
        return client

    async def h2_websocket(self, stall: Stall) -> H2WebSocket:
        client = await H2WebSocket.open(self.port, self.tls, stall)
        self.socks.append(client.sock)
        await client.join()
        return client

    async def reader(self) -> WebSocketClient:
        """A client that reads everything (an HTTP/1.1 WebSocket)."""
        client = await WebSocketClient.open(self.port, self.tls, small=False)
        self.socks.append(client.sock)
        await client.join()
        return client

    def session(self, client: H2Polling | H2WebSocket) -> engine_session.EngineSession:
        return self.sio.engine.sessions[client.sid]

    def h2_protocols(self) -> list[H2Protocol]:
        """hypercorn's state for each HTTP/2 connection of this server still open: read to
        measure what the server holds (nothing else exposes it), never changed."""
        return [
            protocol
            for protocol in gc.get_objects()
            if isinstance(protocol, H2Protocol)
            and not protocol.closed
            and protocol.server is not None
            and protocol.server[1] == self.port
        ]


@asynccontextmanager
async def served(
    sio: SocketServer, tls: ServerCertificate | None, **overrides: Any
) -> AsyncIterator[Served]:
    """``sio`` on hypercorn with long timers (and ``overrides`` of the test settings)."""
    options = tls.server_options if tls is not None else {}
    settings = {**LONG_TIMERS, **options, **overrides}
    async with small_buffer_server(sio, frontend="hypercorn", **settings) as port:
        server = Served(sio, port, tls)
        try:
            yield server
        finally:
            # A server that kept a stalled client's connection would wait for it at
            # shutdown: closed here, the test fails rather than hangs.
            for sock in server.socks:
                sock.close()


async def test_http2_is_served_over_tls_and_plain_tcp_with_websockets(
    tls: ServerCertificate | None,
) -> None:
    # What the tests below rest on: hypercorn, as we configure it, speaks HTTP/2 (the client
    # checks ALPN's choice and the server's preface) and takes extended CONNECT.
    sio = room_server()
    async with served(sio, tls) as server:
        polling = await server.h2_polling("window")
        websocket = await server.h2_websocket("window")
        assert {polling.sid, websocket.sid} <= set(sio.engine.sessions)


async def test_an_http2_websocket_is_read_by_a_task_of_the_engine() -> None:
    # One task reads every stream of an HTTP/2 connection: its WebSockets' messages are not
    # handed to the engine in that task (minidiscord.hypercorn_receives), where one stream's
    # handler waiting would hold up the others. An HTTP/1.1 WebSocket's are.
    sio = room_server()
    async with served(sio, None) as server:
        await server.h2_websocket("window")
        await server.reader()
        assert tasks_running(engine_websocket._read.__code__) == 1


async def test_http2_is_served_after_an_h2c_upgrade() -> None:
    async with served(room_server(), None) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n"
                b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
            )
            answer = b""
            with trio.fail_after(10):
                while b"\r\n\r\n" not in answer:
                    answer += await stream.receive_some(4096)
        assert answer.startswith(b"HTTP/1.1 101 "), answer


async def test_a_stalled_http2_poll_answer_is_abandoned_with_its_connection(
    tls: ServerCertificate | None, stall: Stall
) -> None:
    sio = room_server(client_buffer=64)
    async with served(sio, tls) as server:
        stalled = await server.h2_polling(stall)
        reader = await server.reader()
        session = server.session(stalled)
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.messages(3 * COUNT))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for index in range(COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
            await stalled.stop_reading(nursery)
            # Its GET takes all of them: the answer is written, and stays half-written.
            await stalled.request("GET", stalled.url())
            await wait_until(lambda: session.outbox.held > COUNT * SIZE)
            # More than the outbox may hold while that answer is out: a slow consumer.
            for index in range(COUNT, 3 * COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
                await trio.sleep(0.001)
            assert session.close_reason is CloseReason.SLOW_CONSUMER
            await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
            await wait_until(lambda: stalled.sid not in sio.engine.sessions)
        assert items(received) == [(index, SIZE) for index in range(3 * COUNT)]
        await wait_until(lambda: sio.engine.admission.held_by("127.0.0.1") == 0)


async def test_a_stalled_http2_websocket_is_dropped_as_a_slow_consumer(
    tls: ServerCertificate | None, stall: Stall
) -> None:
    # hypercorn must not take what the client's window keeps out: the writer is held back,
    # so the engine sees the client fall behind.
    sio = room_server(client_buffer=64)
    count = 400
    async with served(sio, tls) as server:
        stalled = await server.h2_websocket(stall)
        reader = await server.reader()
        session = server.session(stalled)
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.messages(count))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            await stalled.stop_reading(nursery)
            for index in range(count):
                sio.to("room").emit("item", index, "x" * SIZE)
                await trio.sleep(0.001)
            assert session.close_reason is CloseReason.SLOW_CONSUMER
            await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
            await wait_until(lambda: stalled.sid not in sio.engine.sessions)
        assert items(received) == [(index, SIZE) for index in range(count)]
        await wait_until(lambda: sio.engine.admission.held_by("127.0.0.1") == 0)
        sio.to("room").emit("item", count, "after")
        assert items(await reader.messages(1)) == [(count, 5)]


async def test_a_stalled_http2_websocket_the_server_closes_loses_its_connection(
    tls: ServerCertificate | None, stall: Stall
) -> None:
    sio = room_server()
    async with served(sio, tls) as server:
        stalled = await server.h2_websocket(stall)
        reader = await server.reader()
        session = server.session(stalled)
        async with trio.open_nursery() as nursery:
            await stalled.stop_reading(nursery)
            for index in range(COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
            assert items(await reader.messages(COUNT)) == [(i, SIZE) for i in range(COUNT)]
            # The writer waits on the client, frames still queued behind it.
            await wait_until(lambda: session.outbox.held > 0 and not session.outbox.awaited)
            close_cleanly(sio, session)
            assert session.close_reason is CloseReason.FORCED_CLOSE
            await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
            await wait_until(lambda: stalled.sid not in sio.engine.sessions)
        sio.to("room").emit("item", COUNT, "after")
        assert items(await reader.messages(1)) == [(COUNT, 5)]


async def test_a_stalled_http2_client_does_not_hold_up_a_shutdown(
    tls: ServerCertificate | None, stall: Stall
) -> None:
    sio = room_server()
    held_up = False

    async def close_if_held_up(sock: trio.socket.SocketType) -> None:
        # A shutdown stuck on the client's stream is freed (and the test fails), not hung.
        nonlocal held_up
        await trio.sleep(30)
        held_up = True
        sock.close()

    async with trio.open_nursery() as nursery:
        async with served(sio, tls) as server:
            stalled = await server.h2_websocket(stall)
            session = server.session(stalled)
            await stalled.stop_reading(nursery)
            for index in range(COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
            await wait_until(lambda: session.outbox.held > 0 and not session.outbox.awaited)
            server.socks.remove(stalled.sock)
            nursery.start_soon(close_if_held_up, stalled.sock)
        nursery.cancel_scope.cancel()
    assert not held_up, "the shutdown waited for the stalled client"
    assert not server_holds(stalled.sock)


async def web_files(scope: Scope, receive: Receive, send: Send) -> None:
    """The web client's files, as the app serves them (the tests ask for no other path)."""
    if scope["type"] == "http":
        assert await serve_web(scope, receive, send)


async def test_web_files_a_client_takes_nothing_of_hold_one_file_a_stream_up_to_the_cap() -> None:
    # The app writes a file in one piece, which hypercorn's stream takes whole into its buffer
    # before the write waits (hypercorn_h2flow holds back only the writes after): a stream
    # whose client grants no window holds about its file, and its request stays in flight.
    # What bounds one client is the number of streams its address may have open
    # (hypercorn_h2limits), as for any request that never ends.
    cap = 20
    path, largest = max(FILES.items(), key=lambda item: len(item[1].body))
    size = len(largest.body)
    async with served(
        room_server(other_asgi_app=web_files), None, ip_max_connections=cap, forwarded_allow_ips=()
    ) as server:
        reader = await server.reader()
        stalled = await H2Client.open(server.port, None, "window")
        server.socks.append(stalled.sock)

        def events(kind: type[h2.events.Event]) -> list[Any]:
            return [event for event in stalled.events if isinstance(event, kind)]

        def buffered() -> list[int]:
            (protocol,) = server.h2_protocols()
            return [len(buffer.buffer) for buffer in protocol.stream_buffers.values()]

        def taken() -> int:
            return sum(len(event.data or b"") for event in events(h2.events.DataReceived))

        async with trio.open_nursery() as nursery:
            await stalled.stop_reading(nursery)
            for _ in range(3 * cap):
                await stalled.request("GET", path)
            await wait_until(lambda: len(events(h2.events.StreamReset)) == 2 * cap)
            assert {event.error_code for event in events(h2.events.StreamReset)} == {
                h2.errors.ErrorCodes.REFUSED_STREAM
            }
            # Every file is written: what the client has not taken is held, and no more.
            await wait_until(lambda: sum(buffered()) + taken() == cap * size)
            assert len(buffered()) == cap
            assert max(buffered()) <= size
            assert not events(h2.events.StreamEnded)
            sio = server.sio
            sio.to("room").emit("item", 0, "x")
            assert items(await reader.messages(1)) == [(0, 1)]
            nursery.cancel_scope.cancel()
        stalled.sock.close()
        await wait_until(lambda: not server.h2_protocols())
        # Its streams count no more, and a client that reads gets the whole file.
        client = await H2Client.open(server.port, None, "socket")
        server.socks.append(client.sock)
        answers = [await client.request("GET", path) for _ in range(cap)]
        for stream_id in answers:
            assert await client.answer(stream_id) == largest.body
