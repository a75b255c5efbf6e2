"""Connect middlewares (``namespace.use``) and packet middlewares (``socket.use``), over a
raw WebSocket so that every frame the server sends is checked as written."""

import json
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.lowlevel

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, Socket
from tests.sockets.test_api import Recorder
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


def guarded_app(record: Recorder) -> App:
    app = App(TEST_SETTINGS)
    sio = app.sio
    root = sio.of("/")

    @sio.use
    async def first(socket: Socket, auth: dict[str, Any] | None) -> None:
        record.add("first", auth, socket.id in root.sockets, socket.connected)
        if auth and auth.get("who") == "stranger":
            raise ConnectionRefused("who are you?", data={"code": 4001, "hint": ["token"]})
        if auth and auth.get("who") == "bug":
            raise KeyError("a bug in the middleware")
        socket.data["checked"] = True
        # Emitted before the CONNECT answer, sent after it (or never, when refused).
        socket.emit("from-middleware")

    @root.use
    async def second(socket: Socket, auth: dict[str, Any] | None) -> None:
        await trio.lowlevel.checkpoint()
        record.add("second", socket.data.get("checked"))
        if auth and auth.get("who") == "late":
            raise ConnectionRefused("refused second")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        record.add("connect", socket.id in root.sockets)

    @root.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        record.add("disconnect", reason)

    return app


async def test_middlewares_run_in_order_before_the_connect_handler(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(guarded_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"who":"friend"}')
        assert (await client.text()).startswith('40{"sid":')
        assert await client.text() == '42["from-middleware"]'
        # Before the connect handler the socket is neither in the namespace nor connected.
        assert record.events == [
            ("first", {"who": "friend"}, False, False),
            ("second", True),
            ("connect", True),
        ]


@pytest.mark.parametrize(
    ("who", "expected", "ran"),
    [
        (
            "stranger",
            '44{"message":"who are you?","data":{"code":4001,"hint":["token"]}}',
            ["first"],
        ),
        ("late", '44{"message":"refused second"}', ["first", "second"]),
        ("bug", '44{"message":"Internal server error"}', ["first"]),
    ],
)
async def test_a_middleware_refuses_with_the_reference_connect_error(
    start_server: ServerFactory, who: str, expected: str, ran: list[str]
) -> None:
    record = Recorder()
    server = await start_server(guarded_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.send(f"40{json.dumps({'who': who})}")
        assert await client.text() == expected
        # The session lives on: the same connection may try again, and get in.
        await client.send('40{"who":"friend"}')
        assert (await client.text()).startswith('40{"sid":')
        assert await client.text() == '42["from-middleware"]'
    await record.wait_for(len(ran) + 4)
    # Refused: no connect handler, no disconnect handler, not left in the namespace.
    names = [entry[0] for entry in record.events]
    assert names == [*ran, "first", "second", "connect", "disconnect"]
    await wait_until(lambda: not server.app.sio.of("/").sockets)


async def test_a_middleware_bug_is_logged(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(guarded_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"who":"bug"}')
        assert await client.text() == '44{"message":"Internal server error"}'
    assert any("a bug in the middleware" in str(r.exc_info) for r in caplog.records)


def screened_app(record: Recorder, **overrides: Any) -> App:
    app = App(replace(TEST_SETTINGS, **overrides))
    root = app.sio.of("/")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        @socket.use
        async def count(event: str, args: list[Any]) -> None:
            record.add("count", event, list(args))

        @socket.use
        async def censor(event: str, args: list[Any]) -> None:
            if event == "forbidden":
                raise PermissionError(f"{event} is not for you")
            if event == "kick-me-first":
                socket.disconnect()
            # A middleware may rewrite the arguments the handler gets.
            args[:] = [arg.upper() if isinstance(arg, str) else arg for arg in args]

        if auth and auth.get("own-error-handler"):

            @socket.on("error")
            async def own_error(socket: Socket, error: Exception) -> None:
                record.add("socket error", repr(error))

    @root.on("error")
    async def namespace_error(socket: Socket, error: Exception) -> None:
        record.add("namespace error", repr(error))

    @root.on("say")
    async def say(socket: Socket, *args: Any) -> Any:
        record.add("say", *args)
        return args

    @root.on("forbidden")
    async def forbidden(socket: Socket) -> str:
        record.add("forbidden handler ran")
        return "never"

    @root.on("kick-me-first")
    async def kick(socket: Socket) -> None:
        record.add("kick handler ran")

    return app


async def test_packet_middlewares_run_in_order_and_may_rewrite_the_arguments(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(screened_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send('423["say","hi",2]')
        assert await client.text() == '433["HI",2]'
    assert record.events[:2] == [("count", "say", ["hi", 2]), ("say", "HI", 2)]


@pytest.mark.parametrize("own", [False, True])
async def test_a_middleware_error_stops_the_event_and_reaches_the_error_handlers(
    start_server: ServerFactory, own: bool
) -> None:
    record = Recorder()
    server = await start_server(screened_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.join('{"own-error-handler":true}' if own else "")
        await client.send('427["forbidden"]')
        # No ack comes for the stopped event; the next event is answered.
        await client.send('428["say","after"]')
        assert await client.text() == '438["AFTER"]'
    error = "PermissionError('forbidden is not for you')"
    expected = [("namespace error", error)] + ([("socket error", error)] if own else [])
    assert record.events == [
        ("count", "forbidden", []),
        *expected,
        ("count", "say", ["after"]),
        ("say", "AFTER"),
    ]


async def test_a_socket_disconnected_by_a_middleware_runs_no_handler(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(screened_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send('42["kick-me-first"]')
        assert await client.text() == "41"
    assert record.events == [("count", "kick-me-first", [])]


async def test_a_client_cannot_run_the_error_handlers(start_server: ServerFactory) -> None:
    record = Recorder()
    server = await start_server(screened_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send('42["error","forged"]')
        await client.send('429["say","x"]')
        assert await client.text() == '439["X"]'
    assert [entry for entry in record.events if "error" in entry[0]] == []
