"""Transport edge cases against a real hypercorn server: upgrade, limits, garbage, quirks."""

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from tests.support.rawclient import (
    polling_handshake,
    polling_url,
    raw_websocket,
    read_until_closed,
    websocket_handshake_head,
)
from tests.support.servers import RunningServer, ServerFactory
from tests.support.waiting import wait_until


async def _server_still_serves(server: RunningServer) -> None:
    async with raw_websocket(server.ws_url) as client:
        await client.send("40")
        assert (await client.text()).startswith("40{")


async def test_upgrade_answers_the_pending_poll_with_noop(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http, trio.open_nursery() as nursery:
        sid = (await polling_handshake(http, server.url))["sid"]
        await http.post(polling_url(server.url, sid), content="40")
        assert (await http.get(polling_url(server.url, sid))).text.startswith("40{")

        pending: list[str] = []

        async def poll() -> None:
            pending.append((await http.get(polling_url(server.url, sid))).text)

        nursery.start_soon(poll)
        session = server.app.engine.sessions[sid]
        await wait_until(lambda: session._poll_scope is not None)  # the GET waits
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with open_websocket_url(url) as ws:
            await ws.send_message("2probe")
            assert await ws.get_message() == "3probe"
            await wait_until(lambda: bool(pending))
            assert pending == ["6"]
            await ws.send_message("5")
            await wait_until(lambda: session.transport == "websocket")
            # The session now lives on the WebSocket; polling it is a bad request.
            refused = await http.get(polling_url(server.url, sid))
            assert refused.status_code == 400
            assert refused.json() == {"code": 3, "message": "Bad request"}
            await ws.send_message('42["ping"]')
            await ws.send_message("41")


async def _closed_cleanly(ws: WebSocketConnection) -> int | None:
    """The close code of a WebSocket the server closes without sending anything."""
    with pytest.raises(ConnectionClosed) as closed:
        await ws.get_message()
    reason = closed.value.reason
    return None if reason is None else reason.code


async def test_a_second_websocket_while_upgrading_is_accepted_then_closed(
    server: RunningServer,
) -> None:
    # As the reference server: no HTTP error (clients treat that as an error event); the
    # second WebSocket is closed and the upgrade in progress goes on untouched.
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        await http.post(polling_url(server.url, sid), content="40")
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with open_websocket_url(url) as first:
            await first.send_message("2probe")
            assert await first.get_message() == "3probe"
            async with open_websocket_url(url) as second:
                assert await _closed_cleanly(second) == 1000
            await first.send_message("5")
            await wait_until(lambda: server.app.engine.sessions[sid].transport == "websocket")
            async with open_websocket_url(url) as third:
                assert await _closed_cleanly(third) == 1000
            await first.send_message('42["still upgraded"]')
            assert server.app.engine.sessions[sid].transport == "websocket"


async def test_two_upgrades_at_the_same_instant_one_wins(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        await http.post(polling_url(server.url, sid), content="40")
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        answers: dict[int, str] = {}
        finish = trio.Event()

        async def upgrade(index: int) -> None:
            # Both handshakes are in flight together: neither waits for the other.
            async with open_websocket_url(url) as ws:
                try:
                    await ws.send_message("2probe")
                    answers[index] = str(await ws.get_message())
                except ConnectionClosed as closed:
                    answers[index] = f"closed {closed.reason and closed.reason.code}"
                    return
                await ws.send_message("5")
                await finish.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(upgrade, 1)
            nursery.start_soon(upgrade, 2)
            await wait_until(lambda: len(answers) == 2)
            await wait_until(lambda: server.app.engine.sessions[sid].transport == "websocket")
            finish.set()
        assert sorted(answers.values()) == ["3probe", "closed 1000"]
    assert "BusyResourceError" not in caplog.text
    assert "Traceback" not in caplog.text


async def test_failed_upgrade_leaves_the_session_on_polling(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        url = f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with open_websocket_url(url) as ws:
            await ws.send_message("not a probe")
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
        assert server.app.engine.sessions[sid].transport == "polling"
        await http.post(polling_url(server.url, sid), content="40")
        assert (await http.get(polling_url(server.url, sid))).text.startswith("40{")


@pytest.mark.parametrize("frame", ["", "9", "x", "0{}", "5"])
async def test_garbage_engineio_packet_closes_only_that_client(
    server: RunningServer, frame: str
) -> None:
    async with raw_websocket(server.ws_url) as bystander:
        await bystander.send("40")
        assert (await bystander.text()).startswith("40{")
        async with raw_websocket(server.ws_url) as client:
            await client.send(frame)
            await read_until_closed(client)
        await bystander.send('42["still here"]')
        await _server_still_serves(server)


@pytest.mark.parametrize("frame", ["4garbage", "42not json", '42["connect"]', "4" + "[" * 5000])
async def test_garbage_socketio_packet_closes_only_that_client(
    server: RunningServer, frame: str
) -> None:
    async with raw_websocket(server.ws_url) as client:
        await client.send("40")
        assert (await client.text()).startswith("40{")
        await client.send(frame)
        await read_until_closed(client)
    await _server_still_serves(server)


async def test_websocket_message_over_max_payload_closes_the_connection(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_payload=1000)
    async with raw_websocket(server.ws_url) as client:
        assert client.handshake["maxPayload"] == 1000
        await client.send("4" + "x" * 1000)
        await read_until_closed(client)
    await _server_still_serves(server)


async def test_post_over_max_payload_is_413_and_ends_the_session(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_payload=1000)
    async with httpx.AsyncClient(timeout=10) as http:
        sid = (await polling_handshake(http, server.url))["sid"]
        response = await http.post(polling_url(server.url, sid), content="4" + "x" * 2000)
        assert response.status_code == 413
        await wait_until(lambda: sid not in server.app.engine.sessions)


async def test_overlapping_polls_end_the_session(server: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http, trio.open_nursery() as nursery:
        sid = (await polling_handshake(http, server.url))["sid"]
        first: list[httpx.Response] = []

        async def poll() -> None:
            first.append(await http.get(polling_url(server.url, sid)))

        nursery.start_soon(poll)
        session = server.app.engine.sessions[sid]
        await wait_until(lambda: session._poll_scope is not None)  # the first GET waits
        second = await http.get(polling_url(server.url, sid))
        assert second.status_code == 400
        assert second.json()["code"] == 3
        await wait_until(lambda: bool(first))
        # The session closed: the pending poll is told so with a CLOSE packet.
        assert first[0].text == "1"


async def test_bytes_after_a_websocket_upgrade_request_do_not_hurt_the_server(
    server: RunningServer,
) -> None:
    # hypercorn's trio worker was reported to crash on data that follows the upgrade
    # request before the handshake completes; the server must go on serving.
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    request = (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await stream.send_all(request.encode() + b"\x81\x05hello" * 10 + b"junk" * 100)
    with trio.move_on_after(2):
        while await stream.receive_some(65536):
            pass
    await stream.aclose()
    await _server_still_serves(server)


async def test_vanished_websocket_client_is_noticed(server: RunningServer) -> None:
    with trio.CancelScope() as vanish:
        async with raw_websocket(server.ws_url) as client:
            await client.send("40")
            assert (await client.text()).startswith("40{")
            sid = client.sid
            # Drop the TCP connection without a closing handshake; the cancel stops the
            # client's reader, which may be blocked handing on a message nobody reads.
            await client.ws._stream.aclose()
            vanish.cancel()
    await wait_until(lambda: sid not in server.app.engine.sessions)


async def test_websocket_compression_offers_are_declined(server: RunningServer) -> None:
    # Per-recipient compression would undo encode-once fan-out and cost a zlib state each.
    offer = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    head = await websocket_handshake_head(server.port, offer)
    assert head.startswith(b"http/1.1 101")
    assert b"sec-websocket-extensions" not in head
