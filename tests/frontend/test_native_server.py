"""The native front end on its own: small ASGI apps, raw sockets, wsproto as the client.

The chat and every protocol test also run on it (``MINIDISCORD_FRONTEND=native``); these
tests pin down what is the front end's alone: HTTP/1.1 framing, the WebSocket handshake
and frames, one write per burst, containment of failures, and shutdown.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Request,
    TextMessage,
)

from benchkit.wire import client_frame_head
from minidiscord.app import ChatApp, create_app
from minidiscord.asgi_io import SEND_MANY, Receive, Scope, Send, read_body, respond
from minidiscord.frontend import FrontendConfig, NativeServer
from tests.support.rawclient import RawWebSocket, raw_websocket, read_to_end
from tests.support.servers import TEST_SETTINGS

App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP: answers with the method, path and body. WebSocket: echoes; 'burst N' sends N."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        if scope["path"] == "/fail":
            raise RuntimeError("the app broke")
        if scope["path"] == "/unread":
            await respond(send, 200, "answered without reading the request")
            return
        body = await read_body(receive, 1_000_000)
        await respond(send, 200, f"{scope['method']} {scope['path']} ".encode() + body)
    elif scope["type"] == "websocket":
        await receive()
        if scope["path"] == "/refuse":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is not None and text.startswith("burst "):
                count = int(text.split()[1])
                frames = [f"frame {number}" for number in range(count)]
                await send({"type": SEND_MANY, "frames": frames})
            elif text is not None:
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})


@asynccontextmanager
async def native(
    app: App = echo_app, config: FrontendConfig | None = None
) -> AsyncIterator[tuple[NativeServer, int, trio.Event]]:
    # Clients left open at the end of a test hold their connection busy: stop waiting soon.
    server = NativeServer(
        app, config or FrontendConfig(max_message_size=1000, graceful_timeout=0.2)
    )
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        urls: list[str] = await nursery.start(server.serve, "127.0.0.1", 0, shutdown.wait)
        yield server, int(urls[0].rsplit(":", 1)[1]), shutdown
        shutdown.set()


async def read_responses(stream: trio.SocketStream, count: int) -> list[bytes]:
    """``count`` whole responses (each with a content-length) off the stream."""
    buffered = b""
    responses: list[bytes] = []
    with trio.fail_after(10):
        while len(responses) < count:
            head, separator, rest = buffered.partition(b"\r\n\r\n")
            if separator:
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    responses.append(head + b"\r\n\r\n" + rest[:length])
                    buffered = rest[length:]
                    continue
            data = await stream.receive_some(65536)
            assert data, "the server closed the connection early"
            buffered += data
    return responses


async def ask(stream: trio.SocketStream, request: bytes) -> bytes:
    """Send one request on ``stream`` and read its whole response."""
    await stream.send_all(request)
    (response,) = await read_responses(stream, 1)
    return response


async def ask_new(port: int, request: bytes) -> bytes:
    """The same on a new connection."""
    return await ask(await trio.open_tcp_stream("127.0.0.1", port), request)


GET_OK = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"


async def test_keep_alive_and_pipelined_requests_are_answered_in_order() -> None:
    async with native() as (_, port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /b%20c?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first, second = await read_responses(stream, 2)
        assert first.startswith(b"HTTP/1.1 200")
        assert first.endswith(b"POST /a hello")
        assert second.endswith(b"GET /b c ")
        third = await ask(stream, b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        assert third.endswith(b"GET /again ")


async def test_a_request_the_app_did_not_read_leaves_the_connection_usable() -> None:
    # The polling handshake answers a GET without reading its (empty) body; clients with a
    # connection pool send their next request on the same connection right away.
    async with native() as (_, port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        first = await ask(stream, b"GET /unread HTTP/1.1\r\nHost: x\r\n\r\n")
        assert first.endswith(b"without reading the request")
        second = await ask(
            stream, b"POST /unread HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        )
        assert second.startswith(b"HTTP/1.1 200")
        third = await ask(stream, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        assert third.endswith(b"GET /next ")


async def test_garbage_request_gets_400_and_others_are_served() -> None:
    async with native() as (_, port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        answer = await ask(stream, b"NOT HTTP AT ALL\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400")
        ok = await ask_new(port, GET_OK)
        assert ok.startswith(b"HTTP/1.1 200")


async def test_an_app_failure_is_a_500_for_that_request_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with native() as (_, port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        answer = await ask(stream, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 500")
        ok = await ask_new(port, GET_OK)
        assert ok.startswith(b"HTTP/1.1 200")
    assert "the app broke" in caplog.text


class WsClient:
    """A WebSocket client over a raw stream, with wsproto doing the framing."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events: list[Event] = []
        self.reads = 0

    @classmethod
    async def connect(cls, port: int, path: str = "/", *, then: bytes = b"") -> "WsClient":
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        handshake = client.ws.send(Request(host="x", target=path))
        await client.stream.send_all(handshake + then)
        return client

    async def next_event(self) -> Event:
        with trio.fail_after(10):
            while not self.events:
                data = await self.stream.receive_some(65536)
                self.reads += 1
                self.ws.receive_data(data or None)
                self.events.extend(self.ws.events())
        return self.events.pop(0)

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))


async def accepted(port: int, path: str = "/", *, then: bytes = b"") -> WsClient:
    client = await WsClient.connect(port, path, then=then)
    assert isinstance(await client.next_event(), AcceptConnection)
    return client


async def test_websocket_echo_of_text_and_bytes() -> None:
    async with native() as (_, port, _):
        client = await accepted(port)
        await client.send(TextMessage(data="héllo"))
        echoed = await client.next_event()
        assert isinstance(echoed, TextMessage)
        assert echoed.data == "héllo"
        await client.send(BytesMessage(data=b"\x00\x01"))
        echoed = await client.next_event()
        assert isinstance(echoed, BytesMessage)
        assert echoed.data == b"\x00\x01"


async def test_a_burst_of_frames_leaves_in_one_write() -> None:
    async with native() as (server, port, _):
        client = await accepted(port)
        before = server.context.websocket_writes
        await client.send(TextMessage(data="burst 200"))
        frames = [await client.next_event() for _ in range(200)]
        assert [frame.data for frame in frames if isinstance(frame, TextMessage)] == [
            f"frame {number}" for number in range(200)
        ]
        assert server.context.websocket_writes - before == 1


@asynccontextmanager
async def chat_member(username: str) -> AsyncIterator[tuple[ChatApp, NativeServer, RawWebSocket]]:
    """The chat app on the native front end, and a raw client joined to it as ``username``
    that has read everything the join sent it."""
    app = create_app(replace(TEST_SETTINGS, frontend="native"))
    # The second context's URL uses the port the first one bound.
    async with (
        native(app) as (server, port, _),
        raw_websocket(f"ws://127.0.0.1:{port}") as client,
    ):
        await client.send(f'40{{"username":"{username}"}}')
        assert (await client.text()).startswith("40{")
        for _ in range(3):  # session, channels, users
            await client.text()
        yield app, server, client


async def test_the_engine_hands_a_burst_over_in_one_message_and_one_write() -> None:
    async with chat_member("burst") as (app, server, client):
        socket = next(iter(app.sio.of("/").sockets.values()))
        before = server.context.websocket_writes
        for number in range(100):
            socket.emit("item", number)
        received = [await client.text() for _ in range(100)]
        assert received == [f'42["item",{number}]' for number in range(100)]
        assert server.context.websocket_writes - before == 1


async def test_a_senders_message_and_its_ack_leave_in_one_direct_write() -> None:
    async with chat_member("sender") as (_, server, client):
        context = server.context
        before = (context.direct_writes, context.websocket_writes)
        await client.send('427["message:channel:send","general","hello"]')
        shown = await client.text()
        assert shown.startswith('42["message:channel","general",{')
        assert shown.endswith('"message":"hello"}]')
        assert (await client.text()).startswith('437[{"ok":true')
        # Both in the engine's round of direct writes: the writer was not woken.
        assert (context.direct_writes, context.websocket_writes) == (before[0] + 1, before[1])


async def test_frames_sent_right_behind_the_handshake_are_read() -> None:
    async with native() as (_, port, _):
        # A frame the client sends before it has seen the server's 101.
        client = await WsClient.connect(port, then=_masked_text_frame("early"))
        assert isinstance(await client.next_event(), AcceptConnection)
        echoed = await client.next_event()
        assert isinstance(echoed, TextMessage)
        assert echoed.data == "early"


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    return client_frame_head(0x1, len(payload)) + payload


async def test_fragments_are_one_message_and_an_oversized_one_closes_1009() -> None:
    async with native() as (_, port, _):
        client = await accepted(port)
        await client.send(TextMessage(data="two ", message_finished=False))
        await client.send(TextMessage(data="parts", message_finished=True))
        echoed = await client.next_event()
        assert isinstance(echoed, TextMessage)
        assert echoed.data == "two parts"
        for _ in range(3):
            await client.send(BytesMessage(data=b"x" * 400, message_finished=False))
        closing = await client.next_event()
        assert isinstance(closing, CloseConnection)
        assert closing.code == 1009


async def test_a_websocket_the_app_refuses_gets_403() -> None:
    async with native() as (_, port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        answer = await ask(stream, ws.send(Request(host="x", target="/refuse")))
        assert answer.startswith(b"HTTP/1.1 403")


async def test_ping_is_answered_and_close_is_echoed() -> None:
    from wsproto.events import Ping, Pong

    async with native() as (_, port, _):
        client = await accepted(port)
        await client.send(Ping(payload=b"are you there"))
        pong = await client.next_event()
        assert isinstance(pong, Pong)
        assert pong.payload == b"are you there"
        await client.send(CloseConnection(code=1000))
        echoed = await client.next_event()
        assert isinstance(echoed, CloseConnection)
        assert echoed.code == 1000


async def test_a_ping_after_our_close_goes_unanswered_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def closing_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with native(closing_app) as (_, port, _):
        client = await accepted(port)
        closing = await client.next_event()
        assert isinstance(closing, CloseConnection)
        # A ping before the client answers the close (wsproto would not send one now).
        await client.stream.send_all(client_frame_head(0x9, 4) + b"ping")
        await client.stream.send_all(client.ws.send(closing.response()))
        with trio.fail_after(10):
            rest = await read_to_end(client.stream)
        assert rest == b""  # no pong, nothing after the close
    assert "the app failed" not in caplog.text


async def test_shutdown_closes_idle_connections_and_waits_for_busy_ones() -> None:
    release = trio.Event()

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["path"] == "/slow":
            await release.wait()
        await respond(send, 200, "done")

    async with native(slow_app, FrontendConfig(graceful_timeout=10)) as (_, port, shutdown):
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        await idle.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_responses(idle, 1)
        busy = await trio.open_tcp_stream("127.0.0.1", port)
        await busy.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await trio.testing.wait_all_tasks_blocked()
        shutdown.set()
        with trio.fail_after(5):
            assert await idle.receive_some(100) == b""
        release.set()
        (answer,) = await read_responses(busy, 1)
        assert answer.endswith(b"done")


async def test_an_app_that_fails_to_start_stops_the_server() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    server = NativeServer(broken)
    with pytest.raises(RuntimeError, match="no database"):
        await server.serve("127.0.0.1", 0, trio.sleep_forever)


# Around each boundary of the three header sizes.
@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 70000])
def test_data_frames_decode_with_wsproto(length: int) -> None:
    from minidiscord.frontend.wsframes import data_frame

    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="x", target="/")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    text = "é" * (length // 2) + "a" * (length % 2)
    client.receive_data(data_frame(text) + data_frame(text.encode()))
    messages: list[Any] = [event for event in client.events() if isinstance(event, Message)]
    assert "".join(m.data for m in messages if isinstance(m, TextMessage)) == text
    assert b"".join(m.data for m in messages if isinstance(m, BytesMessage)) == text.encode()


def test_a_run_of_frames_is_joined_once_and_never_served_stale() -> None:
    from minidiscord.frontend.wsframes import FrameCache, data_frame

    cache = FrameCache()
    run: list[str | bytes] = ["a", b"\x00", "bc"]
    joined = cache.encode_all(run)
    assert joined == data_frame("a") + data_frame(b"\x00") + data_frame("bc")
    # Another client's list of the same frames gets the same bytes object.
    assert cache.encode_all(list(run)) is joined
    # The list it was given grows afterwards (an outbox queues behind an unwritten run):
    # an equal list must get the longer run's frames, not the remembered ones.
    run.append("d")
    assert cache.encode_all(["a", b"\x00", "bc", "d"]) == joined + data_frame("d")
    assert cache.encode_all(["only"]) == data_frame("only")
