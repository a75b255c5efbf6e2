"""Every "this session cannot take this transport now" path, over real sockets on the front
end under test: what the reference server does, or (marked) where we deliberately differ.

docs/architecture.md keeps the table of these cases; each row has a test here or in
tests/conformance/test_engineio_upgrade.py (those also run against the reference).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from minidiscord.engine.reasons import CloseReason
from minidiscord.engine.state import TransportState
from tests.support.rawclient import polling_handshake, polling_url, raw_websocket
from tests.support.servers import RunningServer
from tests.support.waiting import wait_until


def _ws(server: RunningServer, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"EIO": "4", **params}.items())
    return f"{server.ws_url}/socket.io/?{query}"


async def _accepted_then_closed(url: str) -> int | None:
    """Open a WebSocket the server must accept and then close without a word; its code."""
    with trio.fail_after(5):
        async with open_websocket_url(url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
    reason = closed.value.reason
    return None if reason is None else reason.code


@asynccontextmanager
async def _upgraded(
    server: RunningServer, http: httpx.AsyncClient
) -> AsyncIterator[tuple[str, WebSocketConnection]]:
    """A polling session, joined to "/", then upgraded to WebSocket."""
    sid = (await polling_handshake(http, server.url))["sid"]
    await http.post(polling_url(server.url, sid), content="40")
    assert (await http.get(polling_url(server.url, sid))).text.startswith("40{")
    async with open_websocket_url(_ws(server, transport="websocket", sid=sid)) as ws:
        await ws.send_message("2probe")
        assert await ws.get_message() == "3probe"
        await ws.send_message("5")
        await wait_until(lambda: server.app.engine.sessions[sid].state is TransportState.WEBSOCKET)
        yield sid, ws


async def _still_serves(ws: WebSocketConnection) -> None:
    """The WebSocket still carries its session: leaving and joining "/" is answered."""
    await ws.send_message("41")
    await ws.send_message("40")
    while (frame := await ws.get_message()) == "2":
        await ws.send_message("3")
    assert str(frame).startswith("40{"), frame


async def test_a_second_websocket_after_the_upgrade_is_accepted_then_closed(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http, _upgraded(server, http) as (sid, ws):
        assert await _accepted_then_closed(_ws(server, transport="websocket", sid=sid)) == 1000
        assert server.app.engine.sessions[sid].state is TransportState.WEBSOCKET
        await _still_serves(ws)


async def test_polling_after_the_upgrade_is_refused_and_not_applied(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http, _upgraded(server, http) as (sid, ws):
        for method in ("GET", "POST"):
            # A CLOSE packet: applied, it would end the session.
            response = await http.request(method, polling_url(server.url, sid), content="1")
            assert response.status_code == 400
            assert response.json() == {"code": 3, "message": "Bad request"}
        assert server.app.engine.sessions[sid].state is TransportState.WEBSOCKET
        await _still_serves(ws)


async def test_a_websocket_asking_for_polling_opens_no_session(server: RunningServer) -> None:
    assert await _accepted_then_closed(_ws(server, transport="polling")) == 1000
    assert not server.app.engine.sessions


async def test_a_websocket_asking_for_polling_does_not_upgrade_its_session(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        assert await _accepted_then_closed(_ws(server, transport="polling", sid=sid)) == 1000
        assert server.app.engine.sessions[sid].state is TransportState.POLLING
        await http.post(polling_url(server.url, sid), content="40")
        assert (await http.get(polling_url(server.url, sid))).text.startswith("40{")


async def test_a_poll_during_the_probe_waits_and_carries_what_is_queued(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        async with open_websocket_url(_ws(server, transport="websocket", sid=sid)) as ws:
            assert server.app.engine.sessions[sid].state is TransportState.PROBING
            # Joining queues the CONNECT answer: the poll carries it, not an empty NOOP.
            await http.post(polling_url(server.url, sid), content="40")
            assert (await http.get(polling_url(server.url, sid))).text.startswith("40{")
            await ws.send_message("2probe")
            assert await ws.get_message() == "3probe"
            assert server.app.engine.sessions[sid].state is TransportState.UPGRADING
            # The client pauses polling now: a poll returns at once.
            assert (await http.get(polling_url(server.url, sid))).text == "6"
            await ws.send_message("5")
            await wait_until(
                lambda: server.app.engine.sessions[sid].state is TransportState.WEBSOCKET
            )


async def test_a_websocket_for_a_closing_session_is_accepted_then_closed(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        session = server.app.engine.sessions[sid]
        # Closed by the server with no poll waiting: it stays CLOSING until the client
        # comes for the CLOSE packet.
        session.close(CloseReason.FORCED_CLOSE)
        assert session.state is TransportState.CLOSING
        assert await _accepted_then_closed(_ws(server, transport="websocket", sid=sid)) == 1000
        assert (await http.get(polling_url(server.url, sid))).text == "1"
        await wait_until(lambda: sid not in server.app.engine.sessions)


async def test_a_websocket_for_an_unknown_session_is_refused_with_400(
    server: RunningServer,
) -> None:
    with pytest.raises(HandshakeError) as refused:
        async with open_websocket_url(_ws(server, transport="websocket", sid="nope")):
            pass
    assert getattr(refused.value, "status_code", None) == 400


# Where we differ from the reference server, on purpose.


async def test_a_second_websocket_for_a_websocket_session_is_accepted_then_closed(
    server: RunningServer,
) -> None:
    # The reference would start an upgrade from WebSocket to WebSocket (its "upgraded" flag
    # is only set by a real upgrade); no client does that, and it would hand a live
    # WebSocket session to whoever else holds its sid. It gets what an upgraded one gets.
    async with raw_websocket(server.ws_url) as client:
        url = _ws(server, transport="websocket", sid=client.sid)
        assert await _accepted_then_closed(url) == 1000
        assert server.app.engine.sessions[client.sid].state is TransportState.WEBSOCKET
        await client.join()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_websocket_session_over_plain_http_is_a_bad_request(
    server: RunningServer, method: str
) -> None:
    # The reference leaves such a request unanswered; it gets the mismatch error here, and
    # the packet it carries (a CLOSE) is not applied.
    async with raw_websocket(server.ws_url) as client, httpx.AsyncClient(timeout=10) as http:
        url = f"{server.url}/socket.io/?EIO=4&transport=websocket&sid={client.sid}"
        response = await http.request(method, url, content="1")
        assert response.status_code == 400
        assert response.json() == {"code": 3, "message": "Bad request"}
        assert server.app.engine.sessions[client.sid].state is TransportState.WEBSOCKET
        await client.join()
