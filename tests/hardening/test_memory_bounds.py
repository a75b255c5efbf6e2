"""What one client (or one address) can make the server hold is bounded in bytes.

Clients that ask for large answers and never read are dropped once they hold more than
their byte budget, and all the clients of one address together never hold more than the
address's budget; a bystander chats on throughout. Memory is measured (tracemalloc) where
it is the point.
"""

import contextlib
import json
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from benchkit.wire import client_frame_head
from minidiscord.app import App, ChatApp
from minidiscord.chat.models import User
from tests.support.rawclient import (
    polling_connect,
    raw_websocket,
    websocket_by_hand,
)
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until

MiB = 1024 * 1024
PAGE = 100  # messages in one `channel:history` answer
TEXT = "x" * 2000  # the longest message: a page is about 200 KB


async def _fill_history(app: App, count: int) -> None:
    assert isinstance(app, ChatApp)
    author = User("author", "author")
    for _ in range(count):
        await app.store.add_message("general", author, TEXT, 0)


@asynccontextmanager
async def _stalled_client(
    server: RunningServer,
) -> AsyncIterator[tuple[WebSocketConnection, str]]:
    """A WebSocket client that connects to the chat and then never reads again (its
    library stops reading the socket once one message is waiting); and its sid."""
    url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket"
    async with open_websocket_url(url, message_queue_size=1) as ws:
        opening = str(await ws.get_message())
        assert opening.startswith("0{")
        await ws.send_message('40{"username":"hoarder"}')
        yield ws, json.loads(opening[1:])["sid"]


async def _bystander_chats(server: RunningServer, rounds: int) -> None:
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"username":"bystander"}')
        for number in range(rounds):
            await client.send(f'42{number}["message:channel:send","general","hello {number}"]')
            while not (frame := await client.text()).startswith(f"43{number}"):
                pass
            assert '"ok":true' in frame, frame
            await trio.sleep(0.05)


@pytest.mark.parametrize(
    ("client_budget", "address_budget"),
    [(1 * MiB, 1024 * MiB), (1024 * MiB, 3 * MiB)],
    ids=["per-client budget", "per-address budget"],
)
async def test_clients_that_ask_and_never_read_are_bounded_in_bytes(
    start_server: ServerFactory, client_budget: int, address_budget: int
) -> None:
    server = await start_server(
        client_buffer_bytes=client_budget, ip_buffer_bytes=address_budget, client_buffer=100_000
    )
    engine = server.app.engine
    await _fill_history(server.app, PAGE)
    hoarders = 5
    requests = 150  # 30 MB of answers each: 150 MB for the five if nothing bounded them
    peak_held = 0

    async def watch() -> None:
        nonlocal peak_held
        while True:
            peak_held = max(peak_held, engine.admission.held_by("127.0.0.1"))
            await trio.sleep(0.002)

    async def hoard() -> None:
        async with _stalled_client(server) as (ws, sid):
            with contextlib.suppress(ConnectionClosed):  # dropped while still asking
                for number in range(requests):
                    await ws.send_message(
                        f'42{number}["channel:history","general",{{"limit":100}}]'
                    )
            # Dropped as a slow consumer long before its answers are all out.
            await wait_until(lambda: sid not in engine.sessions, timeout=20)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            async with trio.open_nursery() as attack:
                for _ in range(hoarders):
                    attack.start_soon(hoard)
                await _bystander_chats(server, rounds=20)
            nursery.cancel_scope.cancel()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # Never more than the budgets allow, plus the one frame that crossed a limit.
    assert peak_held <= min(address_budget, hoarders * client_budget) + 256 * 1024, peak_held
    assert server.app.metrics.slow_consumers._value.get() == hoarders
    # Everything the server held for them at once: well under one hoarder's answers.
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_one_websocket_frame_far_over_max_payload_is_not_buffered(
    start_server: ServerFactory,
) -> None:
    # One frame declaring 64 MiB against a 1 MB limit: both front ends stop reading it
    # early instead of holding it whole (hypercorn buffered such frames to the end).
    server = await start_server(max_payload=1_000_000)
    declared = 64 * MiB
    stream, _ = await websocket_by_hand(server.port)
    await stream.send_all(client_frame_head(0x1, declared))
    chunk = b"4" + b"x" * (64 * 1024 - 1)
    sent = 0
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with trio.fail_after(30):
            try:
                while sent < declared:
                    await stream.send_all(chunk)
                    sent += len(chunk)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        peak = tracemalloc.get_traced_memory()[1] - before
        # Whatever the server read of it, it closes the connection (the native front end
        # reads and drops what follows its close for a second, then closes).
        with trio.fail_after(10):
            try:
                while await stream.receive_some(65536):
                    pass
            except trio.BrokenResourceError:
                pass
    finally:
        tracemalloc.stop()
        await trio.aclose_forcefully(stream)
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB after sending {sent / MiB:.0f} MiB"
    async with raw_websocket(server.ws_url) as bystander:
        await bystander.join()
    rejected = server.app.metrics.rejected.labels(reason="payload too large")._value.get()
    assert rejected == 1


async def _unfinished_message(port: int, size: int, client: str) -> trio.SocketStream:
    """A connection (from ``client``, through the trusted loopback proxy) that joined and
    sent all but the last byte of a ``size``-byte text message."""
    stream, _ = await websocket_by_hand(port, f"X-Forwarded-For: {client}\r\n".encode())
    with contextlib.suppress(trio.BrokenResourceError):  # refused while still sending
        await stream.send_all(client_frame_head(0x1, size) + b"4" + b"y" * (size - 2))
    return stream


async def _closed(stream: trio.SocketStream) -> bool:
    """True when the server closes this connection within a few seconds."""
    with trio.move_on_after(5):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def test_unfinished_websocket_messages_are_bounded_per_address(
    start_server: ServerFactory,
) -> None:
    # Each connection may hold one message of up to maxPayload unfinished; one address's
    # connections together hold at most --ip-buffer-bytes of them.
    server = await start_server(max_payload=1_000_000, ip_buffer_bytes=3 * MiB)
    held = [await _unfinished_message(server.port, 900_000, "203.0.113.7") for _ in range(3)]
    over = await _unfinished_message(server.port, 900_000, "203.0.113.7")
    assert await _closed(over)
    # Another address is not affected; nor is the first once one of its messages ends.
    other = await _unfinished_message(server.port, 900_000, "198.51.100.23")
    # Half-closed, so the server's own close says it has let go of the connection and of
    # its share of the budget.
    finished = held.pop()
    await finished.send_eof()
    assert await _closed(finished)
    await trio.aclose_forcefully(finished)
    again = await _unfinished_message(server.port, 900_000, "203.0.113.7")
    for stream in (*held, other, again):
        with trio.move_on_after(0.2):
            assert await stream.receive_some(65536) != b"", "closed while within the budget"
        await trio.aclose_forcefully(stream)


async def test_request_bodies_being_read_are_bounded_per_address(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_payload=1_000_000, ip_buffer_bytes=int(1.5 * MiB))
    heads = []
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "203.0.113.7"}) as http:
        sids = [await polling_connect(http, server.url) for _ in range(2)]
    for sid in sids:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        # The server may answer the second before its body is all sent: the rest of the
        # body is still let in (and dropped), so the answer can be read.
        await stream.send_all(
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            "Host: localhost\r\nX-Forwarded-For: 203.0.113.7\r\n"
            "Content-Length: 900000\r\n\r\n".encode()
            + b"4" * 899_999
        )
        heads.append(stream)
    answer = b""
    with trio.fail_after(5):
        while b"\r\n" not in answer:
            answer += await heads[1].receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 429"), answer
    assert sids[1] not in server.app.engine.sessions or server.app.engine.sessions[sids[1]].closed
    assert sids[0] in server.app.engine.sessions
    for stream in heads:
        await trio.aclose_forcefully(stream)


async def test_a_refused_upload_is_let_in_so_its_answer_is_not_lost(
    start_server: ServerFactory,
) -> None:
    """A server that answers before a body is all sent, then closes with the rest unread,
    makes its kernel send a reset that can destroy the answer before the client reads it.
    The client must be able to send the rest, read the answer, and see a clean close."""
    server = await start_server(max_payload=1_000_000, ip_buffer_bytes=int(1.5 * MiB))
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "203.0.113.7"}) as http:
        sids = [await polling_connect(http, server.url) for _ in range(2)]
    streams = []
    for sid, sent in ((sids[0], 899_999), (sids[1], 700_000)):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            "Host: localhost\r\nX-Forwarded-For: 203.0.113.7\r\n"
            "Content-Length: 900000\r\n\r\n".encode()
            + b"4" * sent
        )
        streams.append(stream)
    refused = streams[1]
    answer = b""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in answer:
            answer += await refused.receive_some(4096)
    assert answer.startswith(b"HTTP/1.1 429"), answer
    # The rest of the body still goes in, and the connection then ends cleanly.
    await refused.send_all(b"4" * 200_000)
    with trio.fail_after(5):
        while (more := await refused.receive_some(4096)) != b"":
            answer += more
    for stream in streams:
        await trio.aclose_forcefully(stream)
