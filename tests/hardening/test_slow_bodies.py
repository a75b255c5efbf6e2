"""A request body trickled in a byte at a time cannot hold a connection past the read timeout."""

from contextlib import suppress

import pytest
import trio
import trio.testing

from tests.hardening.test_slow_peers import _closed_by_server, _served
from tests.support.rawclient import polling_by_hand
from tests.support.servers import ServerFactory

FRONTENDS = ["hypercorn", "native"]
# ping_interval + ping_timeout, plus a second: both front ends' read timeout.
READ_TIMEOUT = 46.0


async def _trickle(stream: trio.SocketStream, every: float) -> None:
    """One byte of body every ``every`` seconds, until the server stops taking them."""
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while True:
            await trio.sleep(every)
            await stream.send_all(b"x")


async def _seconds_until_closed(stream: trio.SocketStream, head: bytes) -> float:
    """Send ``head``, then trickle its body; how long the server kept the connection."""
    await stream.send_all(head)
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_trickle, stream, 3.0)
        assert await _closed_by_server(stream)
        nursery.cancel_scope.cancel()
    return trio.current_time() - started


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_an_unread_body_trickled_in_cannot_hold_the_connection(
    start_server: ServerFactory, frontend: str, autojump_clock: trio.testing.MockClock
) -> None:
    # The web page is answered at once, without reading the body it was sent with.
    server = await start_server(frontend=frontend, ping_interval=25.0, ping_timeout=20.0)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n"
    assert await _seconds_until_closed(stream, head) <= READ_TIMEOUT + 1
    await _served(server)


async def test_the_time_the_app_took_counts_against_an_unread_body(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # A long poll answers only after a ping interval, without reading its body: skipping
    # the rest afterwards gets what is left of the read timeout, not a new one.
    server = await start_server(
        frontend="native", ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0
    )
    stream, sid = await polling_by_hand(server.port)
    head = (
        f"GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    assert await _seconds_until_closed(stream, head) <= READ_TIMEOUT + 1
