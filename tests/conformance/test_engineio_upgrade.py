"""Upgrade from long-polling to WebSocket (engine.io-protocol, "Upgrade")."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import trio
from trio_websocket import WebSocketConnection

from .wire import (
    Target,
    error,
    expect_accepted_then_closed,
    open_polling,
    poll,
    push,
    receive,
    websocket,
)


@asynccontextmanager
async def probed(
    http: httpx.AsyncClient, target: Target
) -> AsyncIterator[tuple[str, WebSocketConnection]]:
    """A polling session and a WebSocket for it whose probe is answered: the upgrade is
    half done, the client's UPGRADE packet is next."""
    sid, _ = await open_polling(http, target)
    async with websocket(target.ws_url(EIO="4", transport="websocket", sid=sid)) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        yield sid, ws


async def still_carried_by(ws: WebSocketConnection, target: Target) -> None:
    """The session lives on over ``ws``: a message is echoed, or the heartbeat goes on there."""
    if target.echoes:
        await ws.send_message("4hello")
        assert await receive(ws) == "4hello"
    else:
        assert await receive(ws, answer_pings=False) == "2"
        await ws.send_message("3")


async def test_upgrade(http: httpx.AsyncClient, target: Target) -> None:
    async with probed(http, target) as (sid, ws):
        # The server ends the polling transport with a noop for the next (or pending) GET.
        response = await poll(http, target, sid)
        assert response.status_code == 200
        assert response.text == "6"
        await ws.send_message("5")
        await still_carried_by(ws, target)


async def test_a_get_open_across_the_probe_gets_a_noop(
    http: httpx.AsyncClient, target: Target
) -> None:
    sid, _ = await open_polling(http, target)
    pending: list[httpx.Response] = []
    answered = trio.Event()

    async def get() -> None:
        pending.append(await poll(http, target, sid))
        answered.set()

    async with (
        websocket(target.ws_url(EIO="4", transport="websocket", sid=sid)) as ws,
        trio.open_nursery() as nursery,
    ):
        # Whether the GET reaches the server before or after the probe, it is answered at
        # once rather than held until the next ping.
        nursery.start_soon(get)
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        with trio.fail_after(2):
            await answered.wait()
        # A ping may have gone out on the GET before the probe; then the noop follows.
        assert pending[0].status_code == 200
        assert pending[0].text in ("6", "2")
        await ws.send_message("5")


async def test_messages_queued_before_upgrade_arrive_over_websocket(
    http: httpx.AsyncClient, engineio: Target
) -> None:
    async with probed(http, engineio) as (sid, ws):
        assert (await poll(http, engineio, sid)).text == "6"
        # Sent while the polling transport is paused: the echo must not be lost.
        response = await http.post(engineio.polling(sid), content="4queued")
        assert response.status_code == 200
        await ws.send_message("5")
        assert await receive(ws) == "4queued"


async def test_polling_is_refused_after_upgrade(http: httpx.AsyncClient, target: Target) -> None:
    async with probed(http, target) as (sid, ws):
        await ws.send_message("5")
        await still_carried_by(ws, target)  # the upgrade is done
        assert error(await poll(http, target, sid)) == (400, 3, "Bad request")
        # Not applied: a CLOSE over polling would end the session.
        assert error(await push(http, target, sid, "1")) == (400, 3, "Bad request")
        await still_carried_by(ws, target)


async def test_second_websocket_is_accepted_then_closed_after_upgrade(
    http: httpx.AsyncClient, target: Target
) -> None:
    # No HTTP error: standard clients report that as an error event.
    sid, _ = await open_polling(http, target)
    url = target.ws_url(EIO="4", transport="websocket", sid=sid)
    async with websocket(url) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        await ws.send_message("5")
        await still_carried_by(ws, target)  # the upgrade is done
        await expect_accepted_then_closed(url)
        # The session goes on, untouched, over the first WebSocket.
        await still_carried_by(ws, target)


async def test_a_poll_before_the_probe_is_served_as_usual(
    http: httpx.AsyncClient, engineio: Target
) -> None:
    # The client pauses polling only once its probe is answered; until then a poll carries
    # what is queued (here the echo of a POST) instead of returning empty at once.
    sid, _ = await open_polling(http, engineio)
    async with websocket(engineio.ws_url(EIO="4", transport="websocket", sid=sid)) as ws:
        assert (await push(http, engineio, sid, "4before the probe")).text == "ok"
        assert (await poll(http, engineio, sid)).text == "4before the probe"
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        assert (await poll(http, engineio, sid)).text == "6"
        await ws.send_message("5")
        await ws.send_message("4after")
        assert await receive(ws) == "4after"


async def test_a_websocket_asking_for_polling_is_accepted_then_closed(
    http: httpx.AsyncClient, engineio: Target
) -> None:
    # The polling transport takes no WebSocket: no session opens, and a polling session
    # named in it is not upgraded.
    await expect_accepted_then_closed(engineio.ws_url(EIO="4", transport="polling"))
    sid, _ = await open_polling(http, engineio)
    await expect_accepted_then_closed(engineio.ws_url(EIO="4", transport="polling", sid=sid))
    assert (await push(http, engineio, sid, "4still polling")).text == "ok"
    assert (await poll(http, engineio, sid)).text == "4still polling"


async def test_a_websocket_for_an_upgraded_session_asking_for_polling_is_closed(
    http: httpx.AsyncClient, engineio: Target
) -> None:
    async with probed(http, engineio) as (sid, ws):
        await ws.send_message("5")
        await still_carried_by(ws, engineio)  # the upgrade is done
        await expect_accepted_then_closed(engineio.ws_url(EIO="4", transport="polling", sid=sid))
        await ws.send_message("4hello")
        assert await receive(ws) == "4hello"
