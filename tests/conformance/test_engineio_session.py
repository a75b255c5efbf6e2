"""Engine.IO messages, heartbeat and close over both transports (engine.io-protocol, "Protocol")."""

from collections.abc import Awaitable, Callable
from functools import partial

import httpx
import trio
from trio_websocket import ConnectionClosed

from .wire import (
    PING_INTERVAL,
    PING_TIMEOUT,
    Target,
    connect_namespace,
    error,
    expect_closed,
    open_polling,
    open_websocket_session,
    poll,
    push,
    receive,
    websocket,
)

# Sleeping past the server's deadline is the only way to observe a timeout from outside;
# the margin absorbs scheduling delays, it is not a speed assertion.
PAST_PING_TIMEOUT = PING_INTERVAL + PING_TIMEOUT + 0.3


# --- messages (the Engine.IO reference server echoes them) ---------------------------


async def echo_over_polling(http: httpx.AsyncClient, target: Target, body: str) -> str:
    sid, _ = await open_polling(http, target)
    response = await push(http, target, sid, body)
    assert response.status_code == 200
    assert response.text == "ok"
    answer = await poll(http, target, sid)
    assert answer.status_code == 200
    return answer.text


async def test_polling_one_text_packet(http: httpx.AsyncClient, engineio: Target) -> None:
    assert await echo_over_polling(http, engineio, "4hello") == "4hello"


async def test_polling_several_text_packets(http: httpx.AsyncClient, engineio: Target) -> None:
    payload = "4test1\x1e4test2\x1e4test3"
    assert await echo_over_polling(http, engineio, payload) == payload


async def test_polling_text_and_binary_packets(http: httpx.AsyncClient, engineio: Target) -> None:
    payload = "4hello\x1ebAQIDBA=="
    assert await echo_over_polling(http, engineio, payload) == payload


async def test_polling_utf8_text(http: httpx.AsyncClient, engineio: Target) -> None:
    payload = "4€ and 😀"
    assert await echo_over_polling(http, engineio, payload) == payload


async def test_polling_invalid_packet_closes_the_session(
    http: httpx.AsyncClient, target: Target
) -> None:
    sid, _ = await open_polling(http, target)
    response = await push(http, target, sid, "abc")
    assert response.status_code == 400
    assert (await poll(http, target, sid)).status_code == 400


async def test_polling_duplicate_get_closes_the_session(
    http: httpx.AsyncClient, target: Target
) -> None:
    sid, _ = await open_polling(http, target)
    responses: dict[str, httpx.Response] = {}

    async def get(name: str) -> None:
        responses[name] = await poll(http, target, sid)

    # Whichever GET the server takes first waits (nothing is queued for 25 s): the other is
    # the duplicate, so the outcome does not depend on which one reaches it first.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(get, "one")
        nursery.start_soon(get, "other")
    answers = sorted((r.status_code, r.text) for r in responses.values())
    assert answers[0] == (200, "1")  # the pending GET learns the session is closed
    assert answers[1][0] == 400
    assert (await poll(http, target, sid)).status_code == 400


async def test_websocket_text_packet(engineio: Target) -> None:
    async with websocket(engineio.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await ws.send_message("4hello")
        assert await receive(ws) == "4hello"


async def test_websocket_binary_packet(engineio: Target) -> None:
    async with websocket(engineio.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await ws.send_message(bytes([1, 2, 3, 4]))
        assert await receive(ws) == bytes([1, 2, 3, 4])


async def test_websocket_invalid_packet_closes(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await ws.send_message("abc")
        await expect_closed(ws)


# --- heartbeat ------------------------------------------------------------------------


class SessionEnded(Exception):
    """The server ended the session in the middle of a heartbeat cycle."""


# The suite's ping timeout (200 ms) is the whole budget for a pong. With the test suite
# running in several processes on two cores, a stall of this process or of the server can
# spend it, and the server then rightly ends the session: a fresh session is tried. A server
# that mishandles pings or pongs ends every one of them and fails.
HEARTBEAT_TRIES = 3


async def on_fresh_sessions(heartbeat: Callable[[], Awaitable[None]]) -> None:
    ended = []
    for _ in range(HEARTBEAT_TRIES):
        try:
            await heartbeat()
            return
        except SessionEnded as error:
            ended.append(str(error))
    raise AssertionError(f"every session ended mid-heartbeat: {ended}")


async def polling_ping_pong(http: httpx.AsyncClient, target: Target) -> None:
    sid, _ = await open_polling(http, target)
    # Without a CONNECT the Socket.IO server's 1 s connect timeout ends the session; three
    # ping cycles (at least 900 ms) would race it, so that server gets two.
    for cycle in range(3 if target.echoes else 2):
        response = await poll(http, target, sid)
        if response.status_code == 400 and cycle > 0:
            raise SessionEnded(f"poll {cycle}: {response.text}")
        assert response.status_code == 200
        assert response.text == "2"
        answer = await push(http, target, sid, "3")
        if answer.status_code == 400:
            raise SessionEnded(f"pong {cycle}: {answer.text}")
        assert answer.status_code == 200


async def test_polling_ping_pong(http: httpx.AsyncClient, target: Target) -> None:
    await on_fresh_sessions(partial(polling_ping_pong, http, target))


async def test_polling_ping_timeout(http: httpx.AsyncClient, target: Target) -> None:
    sid, _ = await open_polling(http, target)
    await trio.sleep(PAST_PING_TIMEOUT)
    assert error(await poll(http, target, sid))[:2] == (400, 1)


async def websocket_ping_pong(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        if not target.echoes:
            # Three ping cycles (at least 900 ms) would race the Socket.IO server's 1 s
            # connect timeout, which a loaded machine loses: connected, no timeout runs.
            await connect_namespace(ws)
        pings = 0
        try:
            for _ in range(3):
                assert await receive(ws, answer_pings=False) == "2"
                pings += 1
                await ws.send_message("3")
        except ConnectionClosed as closed:
            if pings == 0:
                raise
            raise SessionEnded(f"after {pings} pings: {closed.reason}") from closed


async def test_websocket_ping_pong(target: Target) -> None:
    await on_fresh_sessions(partial(websocket_ping_pong, target))


async def test_websocket_ping_timeout(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await expect_closed(ws, answer_pings=False)


# --- close ----------------------------------------------------------------------------


async def test_polling_close(http: httpx.AsyncClient, target: Target) -> None:
    # The one ordering pause this black-box suite keeps: nothing on the wire says the server
    # (a subprocess, perhaps another implementation) now holds the GET. On a loaded machine
    # the GET can still arrive after the close (and rightly get 400), so a late GET is
    # retried with a longer pause; a server that mishandles the pending GET fails each one.
    for pause in (0.05, 0.3, 1.5):
        sid, _ = await open_polling(http, target)
        pending: list[httpx.Response] = []

        async def get(sid: str = sid, into: list[httpx.Response] = pending) -> None:
            into.append(await poll(http, target, sid))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(get)
            await trio.sleep(pause)
            assert (await push(http, target, sid, "1")).status_code == 200
        if pending[0].status_code == 400 and pause < 1.5:
            continue
        assert pending[0].status_code == 200
        assert pending[0].text == "6"  # a noop ends the pending GET cleanly
        assert (await poll(http, target, sid)).status_code == 400
        return


async def test_websocket_close(target: Target) -> None:
    async with websocket(target.ws_url(EIO="4", transport="websocket")) as ws:
        await open_websocket_session(ws)
        await ws.send_message("1")
        await expect_closed(ws)
