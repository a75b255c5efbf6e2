"""Peers that start a request and never finish it are dropped; nobody else notices."""

import trio
import trio.testing

from tests.support.rawclient import polling_by_hand, raw_websocket, read_to_end
from tests.support.servers import RunningServer, ServerFactory


async def _served(server: RunningServer) -> None:
    async with raw_websocket(server.ws_url) as client:
        await client.join('{"username":"bystander"}')


async def _closed_by_server(stream: trio.SocketStream) -> bool:
    """Read until the server closes the connection; True if it did (fails after 60 s)."""
    try:
        with trio.fail_after(60):
            while await stream.receive_some(4096):
                pass
    except trio.BrokenResourceError:
        pass
    return True


async def answer_to_trickle(stream: trio.SocketStream) -> tuple[bytes, float]:
    """Send a byte of body every 3 s (each well within any read timeout) until the server
    answers and closes; what it answered, and after how long (fails after 120 s)."""
    started = trio.current_time()

    async def trickle() -> None:
        while True:
            await trio.sleep(3.0)
            await stream.send_all(b" ")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle)
        with trio.fail_after(120):
            answer = await read_to_end(stream, reset_ends=True)
        nursery.cancel_scope.cancel()
    return answer, trio.current_time() - started


async def test_request_headers_that_never_end_are_dropped(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n"
    )
    started = trio.current_time()
    assert await _closed_by_server(stream)
    assert trio.current_time() - started <= 47.0
    await _served(server)


async def test_poll_body_that_never_ends_is_dropped(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    stream, sid = await polling_by_hand(server.port)
    await stream.send_all(
        f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: localhost\r\nContent-Length: 1000\r\n\r\n40".encode()
    )
    started = trio.current_time()
    assert await _closed_by_server(stream)
    assert trio.current_time() - started <= 47.0
    await _served(server)


async def test_poll_body_trickled_one_byte_at_a_time_is_cut_off(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # Each byte arrives well within the read timeout: only a deadline for the whole body
    # ends it (15 s), as for a request head.
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    stream, sid = await polling_by_hand(server.port)
    await stream.send_all(
        f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: localhost\r\nContent-Length: 1000\r\n\r\n".encode()
    )
    answer, waited = await answer_to_trickle(stream)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert waited <= 18.0
    assert sid not in server.app.engine.sessions
    await _served(server)
