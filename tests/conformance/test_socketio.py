"""Socket.IO protocol 5 against the reference server configuration (socket.io-protocol)."""

import json

import httpx
import trio

from .wire import (
    Target,
    connect_namespace,
    expect_closed,
    open_polling,
    open_websocket_session,
    poll,
    push,
    receive,
    receive_many,
    websocket,
)

PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def ws_url(socketio: Target) -> str:
    return socketio.ws_url(EIO="4", transport="websocket")


# --- connect --------------------------------------------------------------------------


async def test_connect_to_the_main_namespace(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message("40")
        answer = await receive(ws)
        assert isinstance(answer, str)
        assert answer.startswith("40")
        handshake = json.loads(answer[2:])
        assert set(handshake) == {"sid"}
        assert isinstance(handshake["sid"], str)
        assert await receive(ws) == '42["auth",{}]'


async def test_connect_with_a_payload(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message('40{"token":"123"}')
        answer = await receive(ws)
        assert isinstance(answer, str)
        assert set(json.loads(answer[2:])) == {"sid"}
        assert await receive(ws) == '42["auth",{"token":"123"}]'


async def test_connect_to_a_custom_namespace(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message("40/custom,")
        answer = await receive(ws)
        assert isinstance(answer, str)
        assert answer.startswith("40/custom,")
        assert set(json.loads(answer[len("40/custom,") :])) == {"sid"}
        assert await receive(ws) == '42/custom,["auth",{}]'


async def test_connect_to_a_custom_namespace_with_a_payload(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message('40/custom,{"token":"abc"}')
        answer = await receive(ws)
        assert isinstance(answer, str)
        assert answer.startswith("40/custom,")
        assert await receive(ws) == '42/custom,["auth",{"token":"abc"}]'


async def test_socket_ids_differ_from_the_engine_sid(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        engine_sid = (await open_websocket_session(ws))["sid"]
        main = await connect_namespace(ws, "/")
        custom = await connect_namespace(ws, "/custom")
        assert len({engine_sid, main, custom}) == 3


async def test_unknown_namespace_is_refused(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message("40/random")
        assert await receive(ws) == '44/random,{"message":"Invalid namespace"}'
        # The refusal concerns that namespace only; the connection stays usable.
        await connect_namespace(ws, "/")


async def test_invalid_handshake_closes(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await ws.send_message("4abc")
        await expect_closed(ws)


async def test_connect_timeout(socketio: Target) -> None:
    # Pings are answered, so only the missing CONNECT can end the connection.
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await expect_closed(ws, answer_pings=True)


async def test_connect_over_polling(http: httpx.AsyncClient, socketio: Target) -> None:
    sid, _ = await open_polling(http, socketio)
    assert (await push(http, socketio, sid, '40{"token":"p"}')).text == "ok"
    packets: list[str] = []
    with trio.fail_after(5):
        while len(packets) < 2:
            response = await poll(http, socketio, sid)
            assert response.status_code == 200
            packets += [p for p in response.text.split("\x1e") if p != "2"]
    assert packets[0].startswith("40{")
    assert set(json.loads(packets[0][2:])) == {"sid"}
    assert packets[1] == '42["auth",{"token":"p"}]'


# --- disconnect -----------------------------------------------------------------------


async def test_disconnect_from_the_main_namespace(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message("41")
        # The Engine.IO connection stays open: the next thing to come is a ping.
        assert await receive(ws, answer_pings=False) == "2"


async def test_connect_then_disconnect_a_custom_namespace(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message("40/custom")
        answer = await receive(ws)
        assert isinstance(answer, str)
        assert answer.startswith("40/custom,")
        assert await receive(ws) == '42/custom,["auth",{}]'
        await ws.send_message("41/custom")
        await ws.send_message('42["message","message to main namespace"]')
        assert await receive(ws) == '42["message-back","message to main namespace"]'


async def test_events_to_a_namespace_not_joined_are_ignored(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message('42/custom,["message","nobody"]')
        await ws.send_message('42["message","main"]')
        assert await receive(ws) == '42["message-back","main"]'


# --- events and acks ------------------------------------------------------------------


async def test_plain_text_event(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message('42["message",1,"2",{"3":[true]}]')
        assert await receive(ws) == '42["message-back",1,"2",{"3":[true]}]'


async def test_event_with_binary_attachments(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message(f'452-["message",{PH0},{PH1}]')
        await ws.send_message(bytes([1, 2, 3]))
        await ws.send_message(bytes([4, 5, 6]))
        assert await receive_many(ws, 3) == [
            f'452-["message-back",{PH0},{PH1}]',
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]


async def test_event_with_an_ack(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await receive(ws) == '43456[1,"2",{"3":[false]}]'


async def test_ack_without_arguments(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message('427["message-with-ack"]')
        assert await receive(ws) == "437[]"


async def test_binary_event_with_an_ack(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message(f'452-789["message-with-ack",{PH0},{PH1}]')
        await ws.send_message(bytes([1, 2, 3]))
        await ws.send_message(bytes([4, 5, 6]))
        assert await receive_many(ws, 3) == [
            f"462-789[{PH0},{PH1}]",
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]


async def test_events_in_a_custom_namespace(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws, "/custom")
        await ws.send_message('42/custom,12["message-with-ack","x"]')
        assert await receive(ws) == '43/custom,12["x"]'


async def test_events_and_binary_over_polling(http: httpx.AsyncClient, socketio: Target) -> None:
    sid, _ = await open_polling(http, socketio)
    await push(http, socketio, sid, "40")
    body = f'451-3["message-with-ack",{PH0}]\x1ebAQID\x1e42["message","hi"]'
    assert (await push(http, socketio, sid, body)).text == "ok"
    packets: list[str] = []
    with trio.fail_after(5):
        while len(packets) < 5:
            response = await poll(http, socketio, sid)
            packets += [p for p in response.text.split("\x1e") if p != "2"]
    assert packets[1:] == ['42["auth",{}]', f"461-3[{PH0}]", "bAQID", '42["message-back","hi"]']


# --- invalid packets close the connection ---------------------------------------------


async def closes_on(socketio: Target, message: str) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message(message)
        await expect_closed(ws)


async def test_unknown_packet_type_closes(socketio: Target) -> None:
    await closes_on(socketio, "4abc")


async def test_invalid_payload_closes(socketio: Target) -> None:
    await closes_on(socketio, "42{}")


async def test_invalid_ack_id_closes(socketio: Target) -> None:
    await closes_on(socketio, '42abc["message-with-ack",1,"2",{"3":[false]}]')


async def test_invalid_json_closes(socketio: Target) -> None:
    await closes_on(socketio, '42["message",')


async def test_unexpected_attachment_closes(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as ws:
        await open_websocket_session(ws)
        await connect_namespace(ws)
        await ws.send_message(b"\x01\x02")
        await expect_closed(ws)


async def test_a_bad_client_does_not_affect_another(socketio: Target) -> None:
    async with websocket(ws_url(socketio)) as good, websocket(ws_url(socketio)) as bad:
        await open_websocket_session(good)
        await connect_namespace(good)
        await open_websocket_session(bad)
        await bad.send_message("4abc")
        await expect_closed(bad)
        await good.send_message('42["message","still here"]')
        assert await receive(good) == '42["message-back","still here"]'
