"""The ``disconnecting`` handler: before ``disconnect``, with the reason, while the socket is
still in its rooms (the reference's order), whichever side ends the socket."""

import json
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from minidiscord.app import App
from minidiscord.sockets import Socket
from tests.sockets.test_api import Recorder
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


def leaving_app(record: Recorder) -> App:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join(["red", "blue"])
        if auth and auth.get("own"):

            @socket.on("disconnecting")
            async def own(socket: Socket, reason: str) -> None:
                record.add("own disconnecting", reason, sorted(socket.rooms) != [])

    @root.on("disconnecting")
    async def disconnecting(socket: Socket, reason: str) -> None:
        in_red = socket.id in root.rooms.get("red", ())
        record.add("disconnecting", reason, sorted(socket.rooms - {socket.id}), in_red)
        # Others still hear about it; it no longer hears anything itself.
        root.to("red").emit("leaving", socket.id)
        await trio.lowlevel.checkpoint()
        if socket.data.get("fail"):
            raise RuntimeError("a failing disconnecting handler")

    @root.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        record.add("disconnect", reason, sorted(socket.rooms))

    @root.on("leave-me")
    async def leave_me(socket: Socket, fail: bool) -> None:
        socket.data["fail"] = fail
        socket.disconnect()

    return app


@pytest.mark.parametrize(
    ("ending", "reason"),
    [
        ("41", "client namespace disconnect"),
        ('42["leave-me",false]', "server namespace disconnect"),
        ('42["leave-me",true]', "server namespace disconnect"),
        ("close", "transport close"),
    ],
)
async def test_disconnecting_runs_before_disconnect_while_the_rooms_are_known(
    start_server: ServerFactory, ending: str, reason: str
) -> None:
    record = Recorder()
    app = leaving_app(record)
    root = app.sio.of("/")
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as other:
        other_sid = json.loads((await other.join())[2:])["sid"]
        async with raw_websocket(server.ws_url) as client:
            sid = json.loads((await client.join())[2:])["sid"]
            if ending != "close":
                await client.send(ending)
            if ending.startswith("42"):
                # The server's own disconnect, before the client's close could overtake it.
                assert await client.text() == "41"
        await record.wait_for(2)
        assert record.events == [
            ("disconnecting", reason, ["blue", "red"], True),
            ("disconnect", reason, []),
        ]
        # Gone from the namespace and its rooms, even when its handler failed.
        assert set(root.sockets) == {other_sid}
        assert set(root.rooms["red"]) == {other_sid}
        # The other member heard the notice sent from the disconnecting handler.
        assert await other.text() == f'42["leaving","{sid}"]'


async def test_a_sockets_own_disconnecting_handler_runs_after_the_namespaces(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(leaving_app(record))
    async with raw_websocket(server.ws_url) as client:
        await client.join('{"own":true}')
        await client.send("41")
        await record.wait_for(3)
    assert [entry[0] for entry in record.events] == [
        "disconnecting",
        "own disconnecting",
        "disconnect",
    ]
    assert record.events[1] == ("own disconnecting", "client namespace disconnect", True)


async def test_without_a_disconnecting_handler_the_socket_leaves_at_once(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    seen: list[bool] = []

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join("red")

    @root.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        seen.append("red" in root.rooms)

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send("41")
        await wait_until(lambda: bool(seen))
    assert seen == [False]


async def test_a_hanging_disconnecting_handler_does_not_keep_sockets_in_their_rooms(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    app = App(replace(TEST_SETTINGS, ping_interval=1000.0, ping_timeout=1000.0))
    stuck, waiting = app.sio.of("/"), app.sio.of("/waiting")
    hung = trio.Event()

    for namespace in (stuck, waiting):

        @namespace.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
            socket.join("room")

    @stuck.on("disconnecting")
    async def hang(socket: Socket, reason: str) -> None:
        hung.set()
        await trio.sleep_forever()

    @waiting.on("disconnecting")
    async def never_reached(socket: Socket, reason: str) -> None:
        pass

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        await client.join()
        await client.send("40/waiting,")
        assert (await client.text()).startswith("40/waiting,")
    await hung.wait()
    # The close handler is bounded (the engine's CLOSE_HANDLER_TIMEOUT): once it is cut
    # short, every socket has left, the one whose handler hung and the one never reached.
    await wait_until(lambda: not stuck.rooms and not waiting.rooms, timeout=60)
    assert not stuck.sockets
    assert not waiting.sockets
