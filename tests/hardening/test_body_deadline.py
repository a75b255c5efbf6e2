"""A request body has 15 s to arrive whole, wherever it is read: the accounts' API as well
as a polling POST, over HTTP/1.1 and (hypercorn) HTTP/2. Over HTTP/2 nothing else bounds
it: a client's PINGs keep every timer of its connection off."""

import json

import h2.events
import pytest
import trio
import trio.testing

from minidiscord.asgi_io import BODY_SECONDS
from tests.hardening.test_http2_floods import request_headers
from tests.hardening.test_slow_peers import _served, answer_to_trickle
from tests.hardening.test_stalled_http2 import H2Client
from tests.support.servers import TEST_SETTINGS, ServerFactory

# A client that never finishes its body gives up on the server well after the deadline.
PATIENCE = 120.0
# How often the HTTP/2 client pings: far within every timer hypercorn has.
PING_EVERY = 5.0
LOGIN_HEAD = (
    "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    "Content-Length: 100\r\n\r\n"
)

http2_only = pytest.mark.skipif(
    TEST_SETTINGS.frontend != "hypercorn",
    reason="HTTP/2 is hypercorn's: the native front end speaks HTTP/1.1 only",
)


async def test_login_body_trickled_one_byte_at_a_time_is_cut_off(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(LOGIN_HEAD.encode())
    answer, waited = await answer_to_trickle(stream)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body) == {
        "ok": False,
        "error": f"the request body did not arrive within {BODY_SECONDS:g} s",
    }
    assert BODY_SECONDS <= waited <= BODY_SECONDS + 4.0
    await _served(server)


async def test_a_refused_requests_body_is_not_waited_for_forever_either(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # A request refused before its body is read (here: no such API) still reads the body,
    # so that the client sees the answer rather than a reset; it stops at the deadline.
    # Before the deadline, a 404 would have come only once all 100 bytes had (300 s).
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(LOGIN_HEAD.replace("/api/login", "/api/nothing").encode())
    answer, waited = await answer_to_trickle(stream)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert BODY_SECONDS <= waited <= BODY_SECONDS + 4.0
    await _served(server)


async def _pinging_until(client: H2Client, stream_id: int) -> tuple[list[h2.events.Event], float]:
    """Ping every few seconds (so no timer of hypercorn's ends the connection) until the
    answer on ``stream_id`` has ended; its events, and how long it took."""
    started = trio.current_time()

    def ended() -> bool:
        return any(
            isinstance(event, h2.events.StreamEnded | h2.events.StreamReset)
            and event.stream_id == stream_id
            for event in client.events
        )

    with trio.fail_after(PATIENCE):
        while not ended():
            with trio.move_on_after(PING_EVERY):
                assert await client.read_some(), "the server closed the connection"
                continue
            client.connection.ping(b"still-up")
            await client.flush()
    return client.take(stream_id), trio.current_time() - started


def _status(events: list[h2.events.Event]) -> bytes:
    (response,) = [event for event in events if isinstance(event, h2.events.ResponseReceived)]
    return dict(response.headers or [])[b":status"]


async def _h2_request(
    client: H2Client, method: str, path: str, headers: dict[bytes, bytes], body: bytes
) -> int:
    """A request whose body (``body`` so far) has not ended."""
    stream_id = client.connection.get_next_available_stream_id()
    client.connection.send_headers(stream_id, [*request_headers(path, method), *headers.items()])
    if body:
        client.connection.send_data(stream_id, body)
    await client.flush()
    return stream_id


async def _still_served_on(client: H2Client) -> None:
    """The connection that waited carries another request."""
    stream_id = await client.request("GET", "/api/config")
    assert json.loads(await client.answer(stream_id))["ok"] is True


@http2_only
async def test_an_http2_login_whose_body_never_comes_is_answered_408(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0)
    client = await H2Client.open(server.port, None, "socket")
    stream_id = await _h2_request(
        client, "POST", "/api/login", {b"content-type": b"application/json"}, b'{"user'
    )
    events, waited = await _pinging_until(client, stream_id)
    assert _status(events) == b"408"
    assert BODY_SECONDS <= waited <= BODY_SECONDS + PING_EVERY
    await _still_served_on(client)
    await _served(server)


@http2_only
async def test_an_http2_polling_post_whose_body_never_comes_is_answered_408(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # The answer's "connection: close" is HTTP/1.1's alone: HTTP/2 forbids the header, and
    # the stream's end is the answer's end.
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    client = await H2Client.open(server.port, None, "socket")
    opened = await client.answer(await client.request("GET", "/socket.io/?EIO=4&transport=polling"))
    sid = json.loads(opened[1:])["sid"]
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    stream_id = await _h2_request(client, "POST", path, {b"content-length": b"100"}, b"40")
    events, waited = await _pinging_until(client, stream_id)
    assert _status(events) == b"408"
    assert BODY_SECONDS <= waited <= BODY_SECONDS + PING_EVERY
    await _still_served_on(client)
    await _served(server)
