"""Direct sends on the native front end: while nothing is queued for a client, the frames a
broadcast gives it wait for the engine's next round of direct writes, which writes all of
them to its socket in one write; what the socket does not take is left to the connection's
writer, and frames keep their order.

Real server, real sockets: the server's sockets get a small send buffer (inherited from
the listening socket) and the clients a small receive buffer, so that a client that stops
reading fills the kernel's buffers within a few kilobytes.
"""

import asyncio
import json
import os
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import socketio
import trio
import trio.testing

from benchkit.wire import OP_TEXT, LeanWebSocket, encode_client_frame, parse_frames
from minidiscord.asgi_io import DIRECT_SEND, DirectSend, Receive, Scope, Send
from minidiscord.engine import EngineSession
from minidiscord.engine.reasons import CloseReason
from minidiscord.frontend import FrontendConfig, NativeServer
from minidiscord.frontend.listening import open_listening_sockets
from minidiscord.sockets import Socket, SocketServer
from tests.support.rawclient import websocket_request
from tests.support.tcpstate import server_holds
from tests.support.waiting import wait_until

# The python-socketio clients of the rounds test: what each got, in order.
Received = list[tuple[str, int, str]]

SMALL_BUFFER = 4096  # the kernel doubles it, and keeps a floor of its own


def room_server(**limits: Any) -> SocketServer:
    """A Socket.IO server whose clients all join "room"."""
    sio = SocketServer(**limits)

    @sio.of("/").on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        socket.join("room")

    return sio


@asynccontextmanager
async def native(sio: Any) -> AsyncIterator[tuple[NativeServer, int]]:
    """``sio`` (an ASGI app) on the native front end, whose sockets have a small send
    buffer."""
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    # Accepted sockets inherit it from the listening socket.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    port = listener.getsockname()[1]
    # Clients still open at the end hold their connections: stop waiting for them soon.
    server = NativeServer(sio, FrontendConfig(graceful_timeout=0.2))
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve_sockets, [listener], shutdown.wait)
        yield server, port
        shutdown.set()


class Client:
    """A Socket.IO client on the default namespace that reads only when told to."""

    def __init__(self, ws: LeanWebSocket, sock: trio.socket.SocketType) -> None:
        self.ws = ws
        # Its TCP socket, whose server side the kernel reports (tests.support.tcpstate).
        self.sock = sock
        self.sid = ""

    @classmethod
    async def connect(
        cls, port: int, *, small_buffer: bool = True, auth: object = None
    ) -> "Client":
        sock = trio.socket.socket()
        if small_buffer:
            # Set before connecting, so that the window the client offers stays small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        await sock.connect(("127.0.0.1", port))
        stream = trio.SocketStream(sock)
        await stream.send_all(websocket_request())
        answer = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in answer:
                answer += await stream.receive_some(4096)
        head, _, rest = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        client = cls(LeanWebSocket(stream, rest), sock)
        (opening,) = await client.read(1)
        client.sid = json.loads(opening[1:])["sid"]
        connect = b"40" if auth is None else b"40" + json.dumps(auth).encode()
        await client.ws.send_bytes(encode_client_frame(OP_TEXT, connect))
        (answer_frame,) = await client.read(1)
        assert answer_frame.startswith(b"40{"), answer_frame
        return client

    async def read(self, count: int) -> list[bytes]:
        """The next ``count`` messages (pings answered and skipped)."""
        messages: list[bytes] = []
        with trio.fail_after(10):
            while len(messages) < count:
                received = await self.ws.receive_frames()
                assert received, "the server closed the connection"
                messages.extend(message for message in received if message != b"2")
        assert len(messages) == count, messages[count:]
        return messages


def items(messages: list[bytes]) -> list[tuple[int, int]]:
    """(index, payload length) of each ``42["item", index, payload]`` message."""
    decoded = [json.loads(message[2:]) for message in messages]
    assert all(event == "item" for event, _, _ in decoded), decoded
    return [(index, len(payload)) for _, index, payload in decoded]


def session_of(sio: SocketServer, client: Client) -> EngineSession:
    return sio.engine.sessions[client.sid]


async def test_broadcasts_in_one_round_reach_each_idle_socket_in_one_write() -> None:
    sio = room_server()
    async with native(sio) as (server, port):
        clients = [await Client.connect(port) for _ in range(3)]
        sessions = [session_of(sio, client) for client in clients]
        await wait_until(lambda: all(session.outbox.awaited for session in sessions))
        context = server.context
        direct, writes = context.direct_writes, context.websocket_writes
        for index in range(5):
            sio.to("room").emit("item", index, "x" * index)
        # Nothing written and no writer woken: the frames wait for the round.
        assert all(session.outbox.awaited and len(session.outbox) == 5 for session in sessions)
        assert context.direct_writes == direct
        await wait_until(lambda: context.direct_writes - direct == 3)
        # One write per client for the five, nothing left queued, and no writer ran.
        assert all(session.outbox.awaited and not session.outbox for session in sessions)
        for client in clients:
            assert items(await client.read(5)) == [(index, index) for index in range(5)]
        assert context.websocket_writes == writes
        # Broadcasts apart from each other still go out one by one, as soon as each round.
        for index in range(5, 8):
            sio.to("room").emit("item", index, "y")
            await wait_until(lambda: all(not session.outbox for session in sessions))
        assert context.direct_writes - direct == 3 + 9
        for client in clients:
            assert items(await client.read(3)) == [(index, 1) for index in range(5, 8)]


async def test_clients_in_different_rooms_get_their_own_runs_unchanged_and_in_order() -> None:
    sio = SocketServer()

    @sio.of("/").on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        assert auth is not None
        socket.join(auth["rooms"])

    async with native(sio) as (server, port):
        both = await Client.connect(port, auth={"rooms": ["a", "b"]})
        only_a = await Client.connect(port, auth={"rooms": ["a"]})
        only_b = await Client.connect(port, auth={"rooms": ["b"]})
        sessions = [session_of(sio, client) for client in (both, only_a, only_b)]
        await wait_until(lambda: all(session.outbox.awaited for session in sessions))
        direct = server.context.direct_writes
        # One round: three different runs of frames, a binary attachment among them.
        sio.to("a").emit("item", 0, "first")
        sio.to("b").emit("item", 1, "second")
        sio.to("a").emit("blob", b"\x00\x01\xff")
        sio.to(["a", "b"]).emit("item", 2, "third")
        await wait_until(lambda: server.context.direct_writes - direct == 3)
        blob_header = b'451-["blob",{"_placeholder":true,"num":0}]'
        assert await both.read(5) == [
            b'42["item",0,"first"]',
            b'42["item",1,"second"]',
            blob_header,
            b"\x00\x01\xff",
            b'42["item",2,"third"]',
        ]
        assert await only_a.read(4) == [
            b'42["item",0,"first"]',
            blob_header,
            b"\x00\x01\xff",
            b'42["item",2,"third"]',
        ]
        assert await only_b.read(2) == [b'42["item",1,"second"]', b'42["item",2,"third"]']


async def test_order_holds_when_the_kernel_buffer_fills_mid_burst() -> None:
    sio = room_server()
    count, size = 300, 2000  # 600 KB: far more than a stalled client's kernel buffers hold
    async with native(sio) as (server, port):
        stalled = await Client.connect(port)
        session = session_of(sio, stalled)
        await wait_until(lambda: session.outbox.awaited)
        context = server.context
        partial, writes = context.direct_partial_writes, context.websocket_writes
        # One burst, no checkpoint: the round writes what the socket takes of it and
        # leaves the rest to the writer, which now owns the socket.
        for index in range(count):
            sio.to("room").emit("item", index, "x" * size)
        await wait_until(lambda: context.direct_partial_writes == partial + 1)
        assert not session.outbox.awaited
        # Broadcasts meanwhile queue behind the rest, for the writer.
        for index in range(count, 2 * count):
            sio.to("room").emit("item", index, "x" * size)
        assert len(session.outbox) == count
        # The client has not read a byte yet; once it does, everything comes, in order.
        expected = [(index, size) for index in range(2 * count)]
        assert items(await stalled.read(2 * count)) == expected
        assert context.websocket_writes > writes
        # Caught up, the writer waits again and the next broadcast goes straight through.
        await wait_until(lambda: session.outbox.awaited)
        direct = context.direct_writes
        sio.to("room").emit("item", 2 * count, "x")
        await wait_until(lambda: context.direct_writes == direct + 1)
        assert items(await stalled.read(1)) == [(2 * count, 1)]


async def test_the_writer_finishes_a_frame_the_socket_took_only_part_of() -> None:
    sio = room_server()
    big = 1_000_000
    async with native(sio) as (server, port):
        stalled = await Client.connect(port)
        session = session_of(sio, stalled)
        await wait_until(lambda: session.outbox.awaited)
        context = server.context
        partial = context.direct_partial_writes
        sio.to("room").emit("item", 0, "x" * big)
        # The socket took the start of it; the rest is the writer's, woken to write it,
        # and it counts against the client's budget until written.
        await wait_until(lambda: context.direct_partial_writes == partial + 1)
        assert not session.outbox.awaited
        assert session.outbox.held > big // 2
        # Frames broadcast meanwhile queue behind the rest of the big one.
        for index in range(1, 4):
            sio.to("room").emit("item", index, "x")
        assert len(session.outbox) == 3
        received = items(await stalled.read(4))
        assert received == [(0, big), (1, 1), (2, 1), (3, 1)]
        await wait_until(lambda: session.outbox.awaited and session.outbox.held == 0)
        # With nothing after it, the writer still finishes it on its own.
        sio.to("room").emit("item", 4, "x" * big)
        await wait_until(lambda: context.direct_partial_writes == partial + 2)
        assert items(await stalled.read(1)) == [(4, big)]
        await wait_until(lambda: session.outbox.awaited and session.outbox.held == 0)


def _python_clients(url: str, inboxes: list[Received], connected: threading.Event) -> None:
    """python-socketio clients, one per inbox, that record every ``item`` and ``own`` event
    until ``end``, then leave."""

    async def client(inbox: Received, ready: asyncio.Event) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        done = asyncio.Event()

        def recorder(kind: str) -> Any:
            async def record(index: int, payload: str) -> None:
                inbox.append((kind, index, payload))

            return record

        async def end() -> None:
            done.set()

        sio.on("item", recorder("item"))
        sio.on("own", recorder("own"))
        sio.on("end", end)
        await sio.connect(url, transports=["websocket"], wait_timeout=5)
        ready.set()
        try:
            await asyncio.wait_for(done.wait(), 30)
        finally:
            await sio.disconnect()

    async def main() -> None:
        ready = [asyncio.Event() for _ in inboxes]
        tasks = [
            asyncio.create_task(client(inbox, event))
            for inbox, event in zip(inboxes, ready, strict=True)
        ]
        await asyncio.gather(*(event.wait() for event in ready))
        connected.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


async def test_python_clients_get_rounds_mixed_with_their_own_emits_in_order() -> None:
    sio = room_server()
    payloads = ["x" * size for size in (1, 300, 20_000)]
    async with native(sio) as (_, port):
        inboxes: list[Received] = [[], []]
        connected = threading.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                trio.to_thread.run_sync,
                _python_clients,
                f"http://127.0.0.1:{port}",
                inboxes,
                connected,
            )
            await wait_until(connected.is_set, timeout=10)
            await wait_until(lambda: len(sio.of("/").rooms.get("room", ())) == 2)
            members = list(sio.of("/").sockets.values())
            expected: list[Received] = [[], []]
            index = 0
            for round_ in range(40):
                # 1 to 5 broadcasts a round; every third round one client also gets an
                # event of its own halfway, which its writer sends (it queues behind what
                # waits for the round), and a broadcast after it.
                for step in range(round_ % 5 + 1):
                    if step == 1 and round_ % 3 == 0:
                        which = round_ // 3 % 2
                        members[which].emit("own", round_, "o")
                        expected[which].append(("own", round_, "o"))
                    text = payloads[index % 3]
                    sio.to("room").emit("item", index, text)
                    for wanted in expected:
                        wanted.append(("item", index, text))
                    index += 1
                await trio.lowlevel.checkpoint()
            sio.to("room").emit("end")
        # The clients connected in either order: each inbox is one socket's whole share.
        assert sorted(inboxes) == sorted(expected)
        assert all(inbox for inbox in inboxes)


async def test_a_stalled_reader_is_dropped_and_nobody_else_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = room_server(client_buffer=64)
    count, size = 400, 5000  # 2 MB: the stalled client's buffers and its 64 frames overflow
    async with native(sio) as (server, port):
        stalled = await Client.connect(port)
        reader = await Client.connect(port, small_buffer=False)
        stalled_session = session_of(sio, stalled)
        reader_session = session_of(sio, reader)
        await wait_until(lambda: reader_session.outbox.awaited)
        context = server.context
        direct = context.direct_writes
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.read(count))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for index in range(count):
                # A broadcast never waits for a recipient: it is not even async.
                sio.to("room").emit("item", index, "x" * size)
                # Paced like chat messages: the reader keeps up, and its frames go
                # straight to its socket.
                await trio.sleep(0.001)
        assert items(received) == [(index, size) for index in range(count)]
        assert stalled_session.close_reason is CloseReason.SLOW_CONSUMER
        # Most of the reader's frames went straight to its socket.
        assert context.direct_writes - direct > count // 2
        assert reader_session.close_reason is None
        # The writer blocked on it was cancelled, and the connection closed.
        await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
    assert any("slow consumer" in record.getMessage() for record in caplog.records)


async def test_no_direct_send_while_the_apps_own_send_is_writing() -> None:
    big = b"x" * 1_000_000
    offered: list[DirectSend] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        await send({"type": "websocket.accept"})
        offered.append(scope["extensions"][DIRECT_SEND]["send"])
        # Far more than the socket takes while the client does not read: this waits.
        await send({"type": "websocket.send", "bytes": big})
        await send({"type": "websocket.send", "text": "after"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with native(app) as (_, port):
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        await sock.connect(("127.0.0.1", port))
        stream = trio.SocketStream(sock)
        await stream.send_all(websocket_request())
        await wait_until(lambda: bool(offered))
        await trio.testing.wait_all_tasks_blocked()
        # Read without a checkpoint, so that the app's writer cannot run: the socket
        # has room now, and a write in progress still owns it.
        received = bytearray(os.read(sock.fileno(), 1 << 20))
        assert offered[0](["direct"]) is None
        with trio.fail_after(10):
            while b"after" not in received:
                received += await stream.receive_some(1 << 20)
        _, _, frames_data = bytes(received).partition(b"\r\n\r\n")
        frames, _ = parse_frames(bytearray(frames_data))
        assert [payload for _, payload in frames] == [big, b"after"]
