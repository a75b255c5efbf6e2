"""A client that stops reading loses its connection once the server ends its session.

Whatever ends the session (the slow-consumer rule, a server-side close whose flush runs
out of time, a shutdown), what the server was writing to the client is abandoned and the
server closes the connection within a bounded time, while the client still reads nothing:
its descriptor, its kernel buffers and the bytes being written go. Over plain TCP and TLS,
WebSocket and long-polling, on the suite's front end (hypercorn shields its writes from
cancellation: :mod:`minidiscord.hypercorn_cancels`). Others keep receiving meanwhile.

Real server, real sockets with small kernel buffers (as in ``tests/frontend``); whether the
server still holds its end is read from the kernel's table, so nothing here depends on the
client reading.
"""

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Self

import pytest
import trio

from benchkit.wire import OP_TEXT, encode_client_frame, parse_frames
from minidiscord.engine import session as engine_session
from minidiscord.engine.reasons import CloseReason
from minidiscord.sockets import SocketServer
from tests.frontend.test_direct_send import SMALL_BUFFER, items, room_server
from tests.frontend.test_hypercorn_sends import small_buffer_server
from tests.support.rawclient import websocket_request
from tests.support.tcpstate import server_holds
from tests.support.tls import ServerCertificate
from tests.support.waiting import wait_until

COUNT, SIZE = 40, 5000  # 200 KB: far more than a stalled client's kernel buffers take


@pytest.fixture(params=["plain", "tls"])
def tls(request: pytest.FixtureRequest, certificate: ServerCertificate) -> ServerCertificate | None:
    """None for plain TCP, else the server's certificate."""
    return certificate if request.param == "tls" else None


@pytest.fixture(autouse=True)
def short_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean close waits this long for the client to take what is queued (5 s in use)."""
    monkeypatch.setattr(engine_session, "FLUSH_TIMEOUT", 0.5)


async def loopback_socket(port: int, *, small: bool) -> trio.socket.SocketType:
    """A TCP socket connected to ``port`` on loopback; with ``small``, a receive buffer so
    small that a client not reading leaves the server's writes stuck at once."""
    sock = trio.socket.socket()
    if small:
        # Set before connecting, so that the window the client offers stays small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    await sock.connect(("127.0.0.1", port))
    return sock


def close_cleanly(sio: SocketServer, session: engine_session.EngineSession) -> None:
    """Close the session's socket as a kick or a ban does: cleanly, with a flush the stalled
    client never takes."""
    (socket_,) = [s for s in sio.of("/").sockets.values() if s.client.session is session]
    socket_.disconnect(close=True)


@dataclass
class WireClient:
    """A client on a plain or TLS stream that reads only when told to."""

    stream: trio.abc.Stream
    # The TCP socket under it (whose server side the kernel reports).
    sock: trio.socket.SocketType
    received: bytearray = field(default_factory=bytearray)

    @classmethod
    async def open(cls, port: int, tls: ServerCertificate | None, *, small: bool) -> Self:
        sock = await loopback_socket(port, small=small)
        stream: trio.abc.Stream = trio.SocketStream(sock)
        if tls is not None:
            stream = trio.SSLStream(stream, tls.client_context(), server_hostname="localhost")
        return cls(stream, sock)

    async def read_some(self) -> bool:
        """Read what is there; False at the end of the connection (EOF or a reset)."""
        try:
            data = await self.stream.receive_some(1 << 16)
        except trio.BrokenResourceError:
            return False
        self.received += data
        return bool(data)

    async def read_until(self, marker: bytes) -> None:
        with trio.fail_after(10):
            while marker not in self.received:
                assert await self.read_some(), "the server closed the connection"

    async def read_to_end(self) -> bytes:
        """Everything until the server's end of the connection (fails after 10 s)."""
        with trio.fail_after(10):
            while await self.read_some():
                pass
        return bytes(self.received)


class WebSocketClient(WireClient):
    sid = ""

    async def join(self) -> None:
        """Upgrade, take the Engine.IO open packet and join the default namespace."""
        await self.stream.send_all(websocket_request())
        await self.read_until(b"\r\n\r\n")
        head, _, rest = bytes(self.received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.received = bytearray(rest)
        (opening,) = await self.messages(1)
        self.sid = json.loads(opening[1:])["sid"]
        await self.stream.send_all(encode_client_frame(OP_TEXT, b"40"))
        (answer,) = await self.messages(1)
        assert answer.startswith(b"40{"), answer

    async def messages(self, count: int) -> list[bytes]:
        """The next ``count`` messages (pings answered and skipped)."""
        messages: list[bytes] = []
        with trio.fail_after(10):
            while len(messages) < count:
                frames, used = parse_frames(self.received)
                del self.received[:used]
                for _, payload in frames:
                    if payload == b"2":
                        await self.stream.send_all(encode_client_frame(OP_TEXT, b"3"))
                    else:
                        messages.append(payload)
                if len(messages) < count:
                    assert await self.read_some(), "the server closed the connection"
        assert len(messages) == count, messages[count:]
        return messages


class PollingClient(WireClient):
    sid = ""

    async def request(self, head: str, body: bytes = b"") -> None:
        await self.stream.send_all(f"{head} HTTP/1.1\r\nHost: localhost\r\n".encode() + body)

    async def answer(self) -> bytes:
        """The body of the next answer on this connection (Content-Length framed)."""
        await self.read_until(b"\r\n\r\n")
        head, _, rest = bytes(self.received).partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        self.received = bytearray(rest)
        with trio.fail_after(10):
            while len(self.received) < length:
                assert await self.read_some(), "the server closed the connection"
        body = bytes(self.received[:length])
        del self.received[:length]
        return body

    def url(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def join(self) -> None:
        """Open a polling session and join the default namespace, all on this connection."""
        await self.request("GET /socket.io/?EIO=4&transport=polling", b"\r\n")
        self.sid = json.loads((await self.answer())[1:])["sid"]
        await self.request(f"POST {self.url()}", b"Content-Length: 2\r\n\r\n40")
        assert await self.answer() == b"ok"


@dataclass
class Served:
    """A server, and the clients a test opened on it."""

    sio: SocketServer
    port: int
    tls: ServerCertificate | None
    clients: list[WireClient] = field(default_factory=list)

    async def websocket(self, *, small: bool) -> WebSocketClient:
        client = await WebSocketClient.open(self.port, self.tls, small=small)
        self.clients.append(client)
        await client.join()
        return client

    async def polling(self) -> PollingClient:
        client = await PollingClient.open(self.port, self.tls, small=True)
        self.clients.append(client)
        await client.join()
        return client

    def session(self, client: WebSocketClient | PollingClient) -> engine_session.EngineSession:
        return self.sio.engine.sessions[client.sid]


@asynccontextmanager
async def served(sio: SocketServer, tls: ServerCertificate | None) -> AsyncIterator[Served]:
    options = tls.server_options if tls is not None else {}
    async with small_buffer_server(sio, **options) as port:
        server = Served(sio, port, tls)
        try:
            yield server
        finally:
            # A server that kept a stalled client's connection would wait for it at
            # shutdown: closed here, the test fails rather than hangs.
            for client in server.clients:
                client.sock.close()


async def test_a_stalled_websocket_dropped_as_a_slow_consumer_loses_its_connection(
    tls: ServerCertificate | None,
) -> None:
    sio = room_server(client_buffer=64)
    count = 400
    async with served(sio, tls) as server:
        stalled = await server.websocket(small=True)
        reader = await server.websocket(small=False)
        session = server.session(stalled)
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.messages(count))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for index in range(count):
                sio.to("room").emit("item", index, "x" * SIZE)
                await trio.sleep(0.001)
            assert session.close_reason is CloseReason.SLOW_CONSUMER
            # The server lets go while the client still reads nothing; the reader reads on.
            await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
        assert items(received) == [(index, SIZE) for index in range(count)]
        # What the connection held is released as its tasks end, after the socket's close.
        await wait_until(lambda: sio.engine.admission.held_by("127.0.0.1") == 0)
        assert sio.metrics.connected._value.get() == 1
        # Reading again, the client gets what its buffers held, then the end.
        await stalled.read_to_end()
        sio.to("room").emit("item", count, "after")
        assert items(await reader.messages(1)) == [(count, 5)]


async def test_a_stalled_websocket_the_server_closes_loses_its_connection(
    tls: ServerCertificate | None,
) -> None:
    sio = room_server()
    async with served(sio, tls) as server:
        stalled = await server.websocket(small=True)
        reader = await server.websocket(small=False)
        session = server.session(stalled)
        for index in range(COUNT):
            sio.to("room").emit("item", index, "x" * SIZE)
        assert items(await reader.messages(COUNT)) == [(index, SIZE) for index in range(COUNT)]
        await wait_until(lambda: session.outbox.held > 0 and not session.outbox.awaited)
        close_cleanly(sio, session)
        assert session.close_reason is CloseReason.FORCED_CLOSE
        await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
        # The session ends in its own task once its transport let go.
        await wait_until(lambda: stalled.sid not in sio.engine.sessions)
        await stalled.read_to_end()
        sio.to("room").emit("item", COUNT, "after")
        assert items(await reader.messages(1)) == [(COUNT, 5)]


async def test_a_poll_answer_the_client_does_not_read_is_abandoned_with_its_connection(
    tls: ServerCertificate | None,
) -> None:
    sio = room_server(client_buffer=64)
    async with served(sio, tls) as server:
        stalled = await server.polling()
        reader = await server.websocket(small=False)
        session = server.session(stalled)
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.messages(3 * COUNT))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for index in range(COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
            # Its GET takes all of them (and its CONNECT answer): the answer is written,
            # and stays half-written, the client reading none of it.
            await stalled.request(f"GET {stalled.url()}", b"\r\n")
            await wait_until(lambda: session.outbox.held > COUNT * SIZE)
            # More than the outbox may hold while that answer is out: a slow consumer.
            for index in range(COUNT, 3 * COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
                await trio.sleep(0.001)
            assert session.close_reason is CloseReason.SLOW_CONSUMER
            await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
        assert items(received) == [(index, SIZE) for index in range(3 * COUNT)]
        await wait_until(lambda: sio.engine.admission.held_by("127.0.0.1") == 0)
        everything = await stalled.read_to_end()
        # The answer was cut short: the client never gets all of it.
        assert everything.count(b'"item"') < COUNT


async def test_a_stalled_client_does_not_hold_up_a_shutdown(
    tls: ServerCertificate | None,
) -> None:
    sio = room_server()
    held_up = False

    async def close_if_held_up(client: WireClient) -> None:
        # A shutdown stuck on the client's write is freed (and the test fails), not hung.
        nonlocal held_up
        await trio.sleep(30)
        held_up = True
        client.sock.close()

    async with trio.open_nursery() as nursery:
        async with served(sio, tls) as server:
            stalled = await server.websocket(small=True)
            session = server.session(stalled)
            for index in range(COUNT):
                sio.to("room").emit("item", index, "x" * SIZE)
            await wait_until(lambda: session.outbox.held > 0 and not session.outbox.awaited)
            server.clients.remove(stalled)
            nursery.start_soon(close_if_held_up, stalled)
        nursery.cancel_scope.cancel()
    assert not held_up, "the shutdown waited for the stalled client"
    # Served no more: the server has closed every connection, this one too.
    assert not server_holds(stalled.sock)
