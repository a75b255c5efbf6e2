"""Admission limits: a global cap (503), and per-address session and connect-rate limits (429)."""

import httpx
import pytest
import trio
import trio.testing
from trio_websocket import HandshakeError

from minidiscord.engine import CloseReason
from minidiscord.limits import Rate
from tests.support.rawclient import polling_connect, polling_handshake, polling_url, raw_websocket
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


async def test_global_cap_refuses_handshakes_with_503(start_server: ServerFactory) -> None:
    server = await start_server(max_connections=2)
    async with httpx.AsyncClient() as http:
        first = await polling_connect(http, server.url)
        await polling_connect(http, server.url)
        refused = await http.get(server.url + HANDSHAKE)
        assert refused.status_code == 503
        assert refused.json() == {"message": "the server is full"}
        with pytest.raises(HandshakeError):
            async with raw_websocket(server.ws_url):
                pass
        # Room again once a session ends.
        server.app.engine.sessions[first].close(CloseReason.FORCED_CLOSE, flush=False)
        await wait_until(lambda: len(server.app.engine.sessions) < 2)
        assert (await http.get(server.url + HANDSHAKE)).status_code == 200


async def test_sessions_per_address_are_capped(start_server: ServerFactory) -> None:
    server = await start_server(ip_max_sessions=3)
    async with httpx.AsyncClient() as http:
        for _ in range(3):
            await polling_connect(http, server.url)
        refused = await http.get(server.url + HANDSHAKE)
        assert refused.status_code == 429
        assert "sessions from one address" in refused.json()["message"]


async def test_half_open_sessions_give_way_to_new_ones_from_their_address(
    start_server: ServerFactory,
) -> None:
    # 1,000 handshakes that never connect no longer lock the address (or anyone) out: the
    # oldest half-open session is closed to admit the newcomer.
    server = await start_server(ip_max_sessions=3)
    async with httpx.AsyncClient() as http:
        real = await polling_connect(http, server.url)
        half_open = [(await polling_handshake(http, server.url))["sid"] for _ in range(2)]
        for _ in range(20):
            half_open.append((await polling_handshake(http, server.url))["sid"])
        sessions = server.app.engine.sessions
        await wait_until(lambda: set(sessions) == {real, *half_open[-2:]})
        # The newest half-open one still works: it connects and becomes real.
        newest = half_open[-1]
        await http.post(polling_url(server.url, newest), content="40")
        assert (await http.get(polling_url(server.url, newest))).text.startswith("40{")
        # Two real sessions and one half-open: the next handshake evicts the half-open one.
        await polling_handshake(http, server.url)
        await wait_until(lambda: half_open[-2] not in sessions)
        assert {real, newest} <= set(sessions)


async def test_half_open_sessions_give_way_when_the_server_is_full(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_connections=2)
    async with httpx.AsyncClient() as http:
        real = await polling_connect(http, server.url)
        stale = (await polling_handshake(http, server.url))["sid"]
        fresh = await polling_connect(http, server.url)
        await wait_until(lambda: set(server.app.engine.sessions) == {real, fresh})
        assert stale not in server.app.engine.sessions


async def test_half_open_sessions_expire_after_the_connect_timeout(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # A heartbeat longer than the timeout, so that the heartbeat is not what ends it.
    server = await start_server(ping_interval=60.0, ping_timeout=20.0)
    assert server.app.settings.connect_timeout == 45.0  # the default, the reference's
    async with httpx.AsyncClient() as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        await trio.sleep(44.0)
        assert sid in server.app.engine.sessions
        await trio.sleep(2.0)
        assert sid not in server.app.engine.sessions


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
