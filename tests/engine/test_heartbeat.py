"""The server's heartbeat finds peers that stopped answering, on both transports (MockClock)."""

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed

from tests.support.rawclient import polling_handshake, polling_url, raw_websocket
from tests.support.servers import ServerFactory


async def test_websocket_peer_that_never_pongs_is_closed(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    async with raw_websocket(server.ws_url) as client:
        assert client.handshake["pingInterval"] == 25000
        assert client.handshake["pingTimeout"] == 20000
        started = trio.current_time()
        assert await client.receive() == "2"
        assert trio.current_time() - started == pytest.approx(25.0, abs=0.5)
        # No pong: the server gives up ping_timeout later and closes the transport.
        with pytest.raises(ConnectionClosed):
            await client.receive()
        assert trio.current_time() - started == pytest.approx(45.0, abs=0.5)
    assert client.sid not in server.app.engine.sessions


async def test_websocket_peer_that_pongs_stays(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    async with raw_websocket(server.ws_url) as client:
        for _ in range(5):
            assert await client.receive() == "2"
            await client.send("3")
        assert client.sid in server.app.engine.sessions


async def test_polling_peer_that_stops_polling_expires(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    async with httpx.AsyncClient() as http:
        handshake = await polling_handshake(http, server.url)
        sid = handshake["sid"]
        assert sid in server.app.engine.sessions
        await trio.sleep(46.0)
        assert sid not in server.app.engine.sessions
        response = await http.get(polling_url(server.url, sid))
        assert response.status_code == 400
        assert response.json() == {"code": 1, "message": "Session ID unknown"}


async def test_polling_peer_that_answers_pings_stays(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=1000.0)
    async with httpx.AsyncClient(timeout=None) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        for _ in range(3):
            response = await http.get(polling_url(server.url, sid))
            assert response.text == "2"
            response = await http.post(polling_url(server.url, sid), content="3")
            assert response.text == "ok"
        assert sid in server.app.engine.sessions


async def test_connect_timeout_closes_a_session_without_socketio_connect(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(ping_interval=25.0, ping_timeout=20.0, connect_timeout=10.0)
    async with raw_websocket(server.ws_url) as client:
        started = trio.current_time()
        with pytest.raises(ConnectionClosed):
            await client.receive()
        assert trio.current_time() - started == pytest.approx(10.0, abs=0.5)
