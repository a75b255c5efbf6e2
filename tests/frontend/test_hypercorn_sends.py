"""Batched and direct sends on the hypercorn front end (``minidiscord.hypercorn_sends``).

hypercorn's WebSockets offer the engine the native front end's two extensions: the writer's
batches go out in one write, and while a connection's writer is idle the engine's rounds
write broadcasts to its socket directly. What the socket does not take is written first by
the next write on the connection, the engine's or hypercorn's own (a pong).

Real hypercorn server, real sockets, small kernel buffers as in ``test_direct_send``.
"""

import functools
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from benchkit.wire import OP_PING, OP_PONG, OP_TEXT, encode_client_frame, parse_frames
from minidiscord.asgi_io import DIRECT_SEND, SEND_MANY, AppMessage, ASGIApp, Receive, Scope, Send
from minidiscord.engine.reasons import CloseReason
from minidiscord.frontend.hosting import serve
from minidiscord.frontend.listening import open_listening_sockets
from tests.frontend.test_accepting import Passes
from tests.frontend.test_direct_send import SMALL_BUFFER, Client, items, room_server, session_of
from tests.support.rawclient import websocket_request
from tests.support.servers import TEST_SETTINGS
from tests.support.tcpstate import server_holds
from tests.support.tls import make_certificate
from tests.support.waiting import wait_until


@dataclass
class Writes:
    """What the engine asked of the front end: direct sends that wrote (and of those, the
    ones the socket took only part of), and the writers' batches."""

    direct: int = 0
    partial: int = 0
    batches: int = 0


def counting(app: ASGIApp, writes: Writes) -> ASGIApp:
    """``app`` behind a layer that counts, in ``writes``, what its WebSockets asked for."""

    async def counted_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        extensions = dict(scope.get("extensions") or {})
        if DIRECT_SEND in extensions:
            direct = extensions[DIRECT_SEND]["send"]

            def counted_direct(payloads: Sequence[str | bytes]) -> int | None:
                unsent: int | None = direct(payloads)
                if unsent is not None:
                    writes.direct += 1
                    writes.partial += unsent > 0
                return unsent

            extensions[DIRECT_SEND] = {"send": counted_direct}

        async def counted_send(message: AppMessage) -> None:
            writes.batches += message["type"] == SEND_MANY
            await send(message)

        await app({**scope, "extensions": extensions}, receive, counted_send)

    return counted_app


def hypercorn(app: ASGIApp, **overrides: Any) -> AbstractAsyncContextManager[int]:
    """``app`` on the hypercorn front end, whose sockets have a small send buffer; the port."""
    return small_buffer_server(app, frontend="hypercorn", **overrides)


@asynccontextmanager
async def small_buffer_server(app: ASGIApp, **overrides: Any) -> AsyncIterator[int]:
    """``app`` served with ``overrides`` of the test settings (on the suite's front end unless
    they name one), its sockets with a small send buffer; the port."""
    (listener,) = open_listening_sockets("127.0.0.1", 0)
    # Accepted sockets inherit it from the listening socket.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    settings = replace(TEST_SETTINGS, **{"shutdown_timeout": 0.2, **overrides})
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            functools.partial(serve, app, settings, shutdown.wait, sockets=[listener])
        )
        yield listener.getsockname()[1]
        shutdown.set()


async def test_broadcasts_in_one_round_reach_each_idle_socket_in_one_write() -> None:
    sio = room_server()
    writes = Writes()
    async with hypercorn(counting(sio, writes)) as port:
        clients = [await Client.connect(port) for _ in range(3)]
        sessions = [session_of(sio, client) for client in clients]
        await wait_until(lambda: all(session.outbox.awaited for session in sessions))
        batches = writes.batches
        for index in range(5):
            sio.to("room").emit("item", index, "x" * index)
        assert all(session.outbox.awaited and len(session.outbox) == 5 for session in sessions)
        await wait_until(lambda: writes.direct == 3)
        assert all(session.outbox.awaited and not session.outbox for session in sessions)
        for client in clients:
            assert items(await client.read(5)) == [(index, index) for index in range(5)]
        # No writer was woken for them.
        assert writes.batches == batches


async def test_order_holds_when_the_kernel_buffer_fills_mid_burst() -> None:
    sio = room_server()
    writes = Writes()
    count, size = 300, 2000
    async with hypercorn(counting(sio, writes)) as port:
        stalled = await Client.connect(port)
        session = session_of(sio, stalled)
        await wait_until(lambda: session.outbox.awaited)
        batches = writes.batches
        for index in range(count):
            sio.to("room").emit("item", index, "x" * size)
        await wait_until(lambda: writes.partial == 1)
        assert not session.outbox.awaited
        # Broadcasts meanwhile queue behind the rest, for the writer.
        for index in range(count, 2 * count):
            sio.to("room").emit("item", index, "x" * size)
        assert len(session.outbox) == count
        assert items(await stalled.read(2 * count)) == [(index, size) for index in range(2 * count)]
        assert writes.batches > batches
        # Caught up, the writer waits again and the next broadcast goes straight through.
        await wait_until(lambda: session.outbox.awaited)
        direct = writes.direct
        sio.to("room").emit("item", 2 * count, "x")
        await wait_until(lambda: writes.direct == direct + 1)
        assert items(await stalled.read(1)) == [(2 * count, 1)]


async def test_the_writer_finishes_a_frame_the_socket_took_only_part_of() -> None:
    sio = room_server()
    writes = Writes()
    big = 1_000_000
    async with hypercorn(counting(sio, writes)) as port:
        stalled = await Client.connect(port)
        session = session_of(sio, stalled)
        await wait_until(lambda: session.outbox.awaited)
        sio.to("room").emit("item", 0, "x" * big)
        await wait_until(lambda: writes.partial == 1)
        assert not session.outbox.awaited
        assert session.outbox.held > big // 2
        for index in range(1, 4):
            sio.to("room").emit("item", index, "x")
        assert items(await stalled.read(4)) == [(0, big), (1, 1), (2, 1), (3, 1)]
        await wait_until(lambda: session.outbox.awaited and session.outbox.held == 0)


async def test_a_stalled_reader_is_dropped_and_nobody_else_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = room_server(client_buffer=64)
    writes = Writes()
    count, size = 400, 5000
    async with hypercorn(counting(sio, writes)) as port:
        stalled = await Client.connect(port)
        reader = await Client.connect(port, small_buffer=False)
        stalled_session = session_of(sio, stalled)
        reader_session = session_of(sio, reader)
        await wait_until(lambda: reader_session.outbox.awaited)
        received: list[bytes] = []

        async def read_all() -> None:
            received.extend(await reader.read(count))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for index in range(count):
                sio.to("room").emit("item", index, "x" * size)
                await trio.sleep(0.001)
        assert items(received) == [(index, size) for index in range(count)]
        assert stalled_session.close_reason is CloseReason.SLOW_CONSUMER
        assert writes.direct > count // 2
        assert reader_session.close_reason is None
        # hypercorn shields its writes; a cancelled one ends the connection all the same.
        await wait_until(lambda: not server_holds(stalled.sock), timeout=20)
    assert any("slow consumer" in record.getMessage() for record in caplog.records)


def raw_app(script: Any) -> ASGIApp:
    """An ASGI app whose WebSockets accept and then run ``script(scope, receive, send)``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        await send({"type": "websocket.accept"})
        await script(scope, receive, send)

    return app


async def raw_client(port: int) -> tuple[trio.socket.SocketType, trio.SocketStream, bytearray]:
    """A connected, upgraded client with a small receive buffer, and what it has read past
    the handshake's head."""
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    await sock.connect(("127.0.0.1", port))
    stream = trio.SocketStream(sock)
    await stream.send_all(websocket_request())
    received = bytearray()
    with trio.fail_after(10):
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(1 << 16)
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, stream, bytearray(rest)


async def test_hypercorns_own_pong_goes_behind_the_rest_of_a_direct_send() -> None:
    big = "x" * 1_000_000
    unsent: list[int | None] = []

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        unsent.append(scope["extensions"][DIRECT_SEND]["send"]([big]))
        # Nothing is sent until the client speaks: only hypercorn's pong can write the rest.
        while (message := await receive())["type"] != "websocket.disconnect":
            await send({"type": SEND_MANY, "frames": ["after " + message["text"]]})

    async with hypercorn(raw_app(script)) as port:
        _, stream, received = await raw_client(port)
        await wait_until(lambda: bool(unsent))
        assert unsent[0]  # the socket took only part of it
        await stream.send_all(encode_client_frame(OP_PING, b"ping"))
        await stream.send_all(encode_client_frame(OP_TEXT, b"go"))
        frames: list[tuple[int, bytes]] = []
        with trio.fail_after(10):
            while len(frames) < 3:
                received += await stream.receive_some(1 << 20)
                parsed, used = parse_frames(received)
                del received[:used]
                frames += parsed
        assert [(first & 0x0F, payload) for first, payload in frames] == [
            (OP_TEXT, big.encode()),
            (OP_PONG, b"ping"),
            (OP_TEXT, b"after go"),
        ]


async def test_no_direct_send_while_a_write_is_in_progress() -> None:
    big = b"x" * 1_000_000
    offered: list[Any] = []

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        offered.append(scope["extensions"][DIRECT_SEND]["send"])
        # Far more than the socket takes while the client does not read: this waits.
        await send({"type": "websocket.send", "bytes": big})
        await send({"type": "websocket.send", "text": "after"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with hypercorn(raw_app(script)) as port:
        sock, stream, received = await raw_client(port)
        await wait_until(lambda: bool(offered))
        await trio.testing.wait_all_tasks_blocked()
        # Read without a checkpoint, so that hypercorn's writer cannot run: the socket has
        # room now, and the write in progress still owns it.
        received += sock._sock.recv(1 << 20)  # type: ignore[attr-defined]
        assert offered[0](["direct"]) is None
        with trio.fail_after(10):
            while b"after" not in received:
                received += await stream.receive_some(1 << 20)
        frames, _ = parse_frames(received)
        assert [payload for _, payload in frames] == [big, b"after"]


async def test_over_tls_only_batches_are_offered(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    offered: list[set[str]] = []

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        offered.append(set(scope["extensions"]))
        await send({"type": SEND_MANY, "frames": ["one", b"two"]})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with hypercorn(raw_app(script), **certificate.server_options) as port:
        tcp = await trio.open_tcp_stream("127.0.0.1", port)
        stream = trio.SSLStream(tcp, certificate.client_context(), server_hostname="localhost")
        await stream.send_all(websocket_request())
        received = bytearray()
        with trio.fail_after(10):
            while True:
                received += await stream.receive_some(1 << 16)
                _, _, rest = bytes(received).partition(b"\r\n\r\n")
                frames, _ = parse_frames(bytearray(rest))
                if len(frames) == 2:
                    break
        assert [(first & 0x0F, payload) for first, payload in frames] == [
            (OP_TEXT, b"one"),
            (0x2, b"two"),
        ]
        await stream.aclose()
    assert offered
    assert SEND_MANY in offered[0]
    assert DIRECT_SEND not in offered[0]


async def payloads_until(port: int, last: bytes) -> list[bytes]:
    """Connect a raw client to ``port`` and read until ``last`` arrives: the frames' payloads."""
    _, stream, received = await raw_client(port)
    with trio.fail_after(10):
        while last not in received:
            received += await stream.receive_some(1 << 20)
    frames, _ = parse_frames(received)
    return [payload for _, payload in frames]


async def test_a_batch_the_socket_takes_is_written_without_a_trip_through_the_scheduler() -> None:
    # hypercorn's own send yields twice (its lock, then send_all): a writer that yields while
    # broadcasts keep coming never gets back to waiting, and every broadcast then wakes it.
    passes_during: list[int] = []

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        passes = Passes()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(passes.run)
            await trio.lowlevel.checkpoint()
            before = passes.count
            await send({"type": SEND_MANY, "frames": ["one", "two"]})
            passes_during.append(passes.count - before)
            nursery.cancel_scope.cancel()
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with hypercorn(raw_app(script)) as port:
        assert await payloads_until(port, b"two") == [b"one", b"two"]
    assert passes_during == [0]


async def test_the_rest_of_a_batch_the_socket_took_part_of_follows_through_hypercorn() -> None:
    big = "x" * 1_000_000

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": SEND_MANY, "frames": [big, "after"]})
        await send({"type": SEND_MANY, "frames": ["last"]})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with hypercorn(raw_app(script)) as port:
        assert await payloads_until(port, b"last") == [big.encode(), b"after", b"last"]


async def test_a_batch_waits_for_hypercorns_write_in_progress() -> None:
    big = b"x" * 1_000_000

    async def script(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_big() -> None:
            await send({"type": "websocket.send", "bytes": big})

        async with trio.open_nursery() as nursery:
            # hypercorn's own send of more than the socket takes holds its lock meanwhile.
            nursery.start_soon(send_big)
            await trio.testing.wait_all_tasks_blocked()
            await send({"type": SEND_MANY, "frames": ["after"]})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async with hypercorn(raw_app(script)) as port:
        assert await payloads_until(port, b"after") == [big, b"after"]
