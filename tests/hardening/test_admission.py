"""Admission limits: a global cap (503), and per-address session and connect-rate limits (429)."""

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import HandshakeError

from minidiscord.limits import Rate
from tests.conftest import ServerFactory
from tests.rawclient import polling_handshake, raw_websocket, wait_until

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


async def test_global_cap_refuses_handshakes_with_503(start_server: ServerFactory) -> None:
    server = await start_server(max_connections=2)
    async with httpx.AsyncClient() as http:
        first = (await polling_handshake(http, server.url))["sid"]
        await polling_handshake(http, server.url)
        refused = await http.get(server.url + HANDSHAKE)
        assert refused.status_code == 503
        assert refused.json() == {"message": "the server is full"}
        with pytest.raises(HandshakeError):
            async with raw_websocket(server.ws_url):
                pass
        # Room again once a session ends.
        server.app.engine.sessions[first].close("test", flush=False)
        await wait_until(lambda: len(server.app.engine.sessions) < 2)
        assert (await http.get(server.url + HANDSHAKE)).status_code == 200


async def test_sessions_per_address_are_capped(start_server: ServerFactory) -> None:
    server = await start_server(ip_max_sessions=3)
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            await polling_handshake(http, server.url)
        refused = await http.get(server.url + HANDSHAKE)
        assert refused.status_code == 429
        assert "sessions from one address" in refused.json()["message"]


async def test_new_sessions_per_address_are_rate_limited(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server(
        ip_connect_rate=Rate(burst=5, per_second=1.0), connect_timeout=1000.0
    )
    async with httpx.AsyncClient() as http:
        for _ in range(5):
            await polling_handshake(http, server.url)
        refused = await http.get(server.url + HANDSHAKE)
        assert refused.status_code == 429
        assert "retry in 1.0 s" in refused.json()["message"]
        await trio.sleep(1.0)
        assert (await http.get(server.url + HANDSHAKE)).status_code == 200
