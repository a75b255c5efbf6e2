"""Upgrade from long-polling to WebSocket (engine.io-protocol, "Upgrade")."""

import httpx
import trio

from .wire import Target, error, expect_refused, open_polling, poll, receive, websocket


async def test_upgrade(http: httpx.AsyncClient, target: Target) -> None:
    sid, _ = await open_polling(http, target)
    async with websocket(target.ws_url(EIO="4", transport="websocket", sid=sid)) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        # The server ends the polling transport with a noop for the next (or pending) GET.
        response = await poll(http, target, sid)
        assert response.status_code == 200
        assert response.text == "6"
        await ws.send_message("5")
        if target.echoes:
            await ws.send_message("4hello")
            assert await receive(ws) == "4hello"
        else:
            # The session lives on over the WebSocket: the heartbeat continues there.
            assert await receive(ws, answer_pings=False) == "2"
            await ws.send_message("3")


async def test_pending_get_gets_a_noop_on_probe(http: httpx.AsyncClient, target: Target) -> None:
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
        nursery.start_soon(get)
        await trio.sleep(0.05)
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
    sid, _ = await open_polling(http, engineio)
    async with websocket(engineio.ws_url(EIO="4", transport="websocket", sid=sid)) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        assert (await poll(http, engineio, sid)).text == "6"
        # Sent while the polling transport is paused: the echo must not be lost.
        response = await http.post(engineio.polling(sid), content="4queued")
        assert response.status_code == 200
        await ws.send_message("5")
        assert await receive(ws) == "4queued"


async def test_polling_is_refused_after_upgrade(http: httpx.AsyncClient, target: Target) -> None:
    sid, _ = await open_polling(http, target)
    async with websocket(target.ws_url(EIO="4", transport="websocket", sid=sid)) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        await ws.send_message("5")
        await trio.sleep(0.05)
        assert error(await poll(http, target, sid))[0] == 400
        if target.echoes:
            await ws.send_message("4hello")
            assert await receive(ws) == "4hello"


async def test_second_websocket_is_refused_after_upgrade(
    http: httpx.AsyncClient, target: Target
) -> None:
    sid, _ = await open_polling(http, target)
    url = target.ws_url(EIO="4", transport="websocket", sid=sid)
    async with websocket(url) as ws:
        await ws.send_message("2probe")
        assert await receive(ws) == "3probe"
        await ws.send_message("5")
        await trio.sleep(0.05)
        await expect_refused(url)
        if target.echoes:
            await ws.send_message("4hello")
            assert await receive(ws) == "4hello"
