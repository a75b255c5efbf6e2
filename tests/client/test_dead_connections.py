"""The client against connections that end while a transport opens: accepted and closed at
once, closed once the request came, closed in the middle of the answer, answered with
something that is not HTTP, refused with a body cut short. socket.io-client 4.8 fails such
an attempt at once (a ``connect_error``, "websocket error" or "xhr poll error") and goes on
with its reconnection schedule; this client does the same on either transport. A WebSocket
upgrade probe that meets one fails at once and leaves the session on polling, and one that
times out (its handshake or its ping unanswered) lets its connection go rather than keep it
for the session's life, as the reference closes a failed probe's transport.

Everything here runs in the test's own trio run (raw TCP listeners, a forwarder, the
server), so MockClock's autojump tells a failure that waited for a timeout (the clock jumps
to it) from one that did not."""

import functools
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from minidiscord.client import Client, ConnectError
from tests.client.server import Seen, make_app
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

Drop = Callable[[trio.SocketStream], Awaitable[None]]

# Half of what each transport's server would answer, cut before the end.
HALF_ANSWER = {
    "websocket": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
    "polling": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 200\r\n\r\n0{",
}


async def read_request(stream: trio.SocketStream) -> bytes:
    """The request's head (or what came before the client gave up)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some()
        if not chunk:
            break
        head += chunk
    return head


async def close_at_once(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def close_after_the_request(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.aclose()


async def close_mid_answer(stream: trio.SocketStream) -> None:
    request = await read_request(stream)
    transport = "websocket" if b"transport=websocket" in request else "polling"
    await stream.send_all(HALF_ANSWER[transport])
    await stream.aclose()


async def answer_not_http_and_stay(stream: trio.SocketStream) -> None:
    # A whole head (HTTP parsers wait for one), and the connection stays open: only the
    # client can end it.
    await read_request(stream)
    await stream.send_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    while await stream.receive_some():
        pass


async def refuse_with_a_body_cut_short(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.send_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nnot y")
    await stream.aclose()


DROPS = pytest.mark.parametrize(
    "drop",
    [
        close_at_once,
        close_after_the_request,
        close_mid_answer,
        answer_not_http_and_stay,
        refuse_with_a_body_cut_short,
    ],
)


async def listen(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    """A loopback port whose connections ``handler`` serves; the listener's port."""
    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    port: int = listeners[0].socket.getsockname()[1]
    return port


# What each transport's failed opening says.
EXPECTED: dict[str, dict[Drop, str]] = {
    "websocket": {
        close_at_once: "closed during the WebSocket handshake",
        close_after_the_request: "closed during the WebSocket handshake",
        close_mid_answer: "closed during the WebSocket handshake",
        answer_not_http_and_stay: "RemoteProtocolError",
        refuse_with_a_body_cut_short: "closed during the WebSocket handshake",
    },
    "polling": {
        close_at_once: "RemoteProtocolError",
        close_after_the_request: "RemoteProtocolError",
        close_mid_answer: "RemoteProtocolError",
        answer_not_http_and_stay: "RemoteProtocolError",
        refuse_with_a_body_cut_short: "poll answered 403",
    },
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@DROPS
async def test_a_connection_that_ends_while_opening_fails_the_attempt_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, transport: str, drop: Drop
) -> None:
    port = await listen(nursery, drop)
    client = Client(transports=(transport,), reconnection=False)
    errors: list[ConnectError] = []
    client.on("connect_error", errors.append)
    # The open timeout is 20 s: the clock would jump there if the client waited for it.
    with trio.fail_after(1), pytest.raises(ConnectError, match="could not connect") as raised:
        async with client.connect(f"http://127.0.0.1:{port}"):
            pytest.fail("connected to a server that never answered")
    assert EXPECTED[transport][drop] in str(raised.value)
    assert "transport error" in str(raised.value)
    assert errors == [raised.value]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_attempts_that_meet_a_closing_connection_follow_the_backoff_schedule(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, transport: str
) -> None:
    port = await listen(nursery, close_after_the_request)
    client = Client(transports=(transport,), reconnection_attempts=3, random=lambda: 0.0)
    happened: list[tuple[str, Any, float]] = []

    def record(event: str) -> Callable[..., None]:
        return lambda *args: happened.append((event, args, trio.current_time()))

    client.on_manager("error", record("error"))
    client.on_manager("reconnect_attempt", record("reconnect_attempt"))
    client.on_manager("reconnect_error", record("reconnect_error"))
    client.on_manager("reconnect_failed", record("reconnect_failed"))
    with trio.fail_after(60), pytest.raises(ConnectError, match="gave up after 3"):
        async with client.connect(f"http://127.0.0.1:{port}"):
            pytest.fail("connected to a server that never answered")
    assert [event for event, _, _ in happened] == [
        "error",
        *["reconnect_attempt", "error", "reconnect_error"] * 3,
        "reconnect_failed",
    ]
    # Each attempt fails as it starts, so the failures are spaced by the delays alone.
    failures = [when for event, _, when in happened if event == "error"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(failures)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0], abs=0.1)


async def forward(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        async for chunk in source:
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


# A connection whose first bytes (its request, or the start of it) were read already.
Routed = Callable[[trio.SocketStream, bytes], Awaitable[None]]


def pass_to(port: int) -> Routed:
    """Hand the connection on to ``port``, as a TCP forwarder."""

    async def route(client: trio.SocketStream, first: bytes) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", port)
        async with upstream, trio.open_nursery() as pumps:
            await upstream.send_all(first)
            pumps.start_soon(forward, upstream, client)
            await forward(client, upstream)
            pumps.cancel_scope.cancel()

    return route


@asynccontextmanager
async def websockets_go_to(server_port: int, on_websocket: Routed) -> AsyncIterator[int]:
    """A port in front of ``server_port`` that forwards the polling requests there and hands
    each WebSocket request's connection to ``on_websocket``."""
    to_server = pass_to(server_port)

    async def route(client: trio.SocketStream) -> None:
        async with client:
            first = await client.receive_some()
            if b"transport=websocket" in first:
                await on_websocket(client, first)
            else:
                await to_server(client, first)

    async with trio.open_nursery() as nursery:
        yield await listen(nursery, route)
        nursery.cancel_scope.cancel()


def probe_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "upgrade of" in r.getMessage()]


async def test_an_upgrade_probe_whose_connection_closes_fails_at_once_and_polling_goes_on(
    start_server: ServerFactory,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.client")
    server = await start_server(make_app(Seen()))
    async with websockets_go_to(server.port, lambda stream, _: close_at_once(stream)) as port:
        client = Client(reconnection=False)
        async with client.connect(f"http://127.0.0.1:{port}") as sio:
            # Within a second, where the probe's open timeout is 20 s.
            await wait_until(lambda: bool(probe_failures(caplog)), timeout=1)
            (failure,) = probe_failures(caplog)
            assert "closed during the WebSocket handshake" in failure
            assert sio.transport == "polling"
            assert await sio.call("echo", "still here", timeout=5) == ["/", "still here"]


async def test_an_upgrade_probe_whose_handshake_gets_no_answer_closes_its_connection(
    start_server: ServerFactory,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.client")
    server = await start_server(make_app(Seen()))
    closed = trio.Event()

    async def never_answer(stream: trio.SocketStream) -> None:
        # Until the client closes its end.
        while await stream.receive_some():
            pass
        closed.set()

    async with websockets_go_to(server.port, lambda stream, _: never_answer(stream)) as port:
        client = Client(reconnection=False, timeout=2.0)
        async with client.connect(f"http://127.0.0.1:{port}") as sio:
            await wait_until(lambda: bool(probe_failures(caplog)), timeout=5)
            assert "TooSlowError" in probe_failures(caplog)[0]
            # The session lives on (on polling), but the probe's connection is let go.
            with trio.fail_after(1):
                await closed.wait()
            assert sio.transport == "polling"


async def test_an_upgrade_probe_whose_ping_gets_no_answer_closes_its_websocket(
    nursery: trio.Nursery,
    start_server: ServerFactory,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.client")
    server = await start_server(make_app(Seen()))
    probes: list[str | bytes] = []
    closed = trio.Event()

    async def stay_silent(request: WebSocketRequest) -> None:
        websocket = await request.accept()
        try:
            while True:
                probes.append(await websocket.get_message())
        except ConnectionClosed:
            closed.set()

    silent = await nursery.start(serve_websocket, stay_silent, "127.0.0.1", 0, None)
    async with websockets_go_to(server.port, pass_to(silent.port)) as port:
        client = Client(reconnection=False, timeout=2.0)
        async with client.connect(f"http://127.0.0.1:{port}") as sio:
            await wait_until(lambda: bool(probe_failures(caplog)), timeout=5)
            assert "TooSlowError" in probe_failures(caplog)[0]
            with trio.fail_after(1):
                await closed.wait()
            assert probes == ["2probe"]
            assert sio.transport == "polling"
            assert await sio.call("echo", "still here", timeout=5) == ["/", "still here"]
