"""Where a socket's life meets the adapter: rooms joined in connect middlewares (before the
socket is in its namespace, so before its adapter knows it), and a socket whose
``disconnecting`` handler is running (still in its rooms, sent nothing). Real server, raw
WebSocket clients."""

import json
from typing import Any

import trio

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, Socket
from tests.support.rawclient import raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


async def test_rooms_joined_in_a_connect_middleware_are_the_adapters_once_connected(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    seen: dict[str, Any] = {}

    @root.use
    async def place(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join(["lobby", "vip"])
        socket.leave("vip")
        seen.setdefault("in middleware", socket.rooms)
        if auth and auth.get("refuse"):
            seen["refused"] = socket.id
            raise ConnectionRefused("not today")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        seen["in connect"] = socket.rooms

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client, raw_websocket(server.ws_url) as refused:
        sid = json.loads((await client.join())[2:])["sid"]
        assert seen["in middleware"] == {"lobby"}
        assert seen["in connect"] == {sid, "lobby"}
        assert root.sockets[sid].rooms == {sid, "lobby"}
        root.to("lobby").emit("hi")
        assert await client.text() == '42["hi"]'

        await refused.send('40{"refuse":true}')
        assert await refused.text() == '44{"message":"not today"}'
        # A refused socket leaves no trace in the adapter.
        assert set(root.rooms["lobby"]) == {sid}
        assert not root.adapter.socket_rooms(seen["refused"])


async def test_a_disconnecting_socket_keeps_its_rooms_but_is_sent_and_awaited_nothing(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    entered, release = trio.Event(), trio.Event()
    seen: dict[str, Any] = {}
    heard: list[str] = []

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join("red")
        if auth and auth.get("leaving"):
            socket.on_any_outgoing(lambda event, *args: heard.append(event))

            @socket.on("disconnecting")
            async def disconnecting(socket: Socket, reason: str) -> None:
                seen["rooms"] = socket.rooms
                socket.join("late")
                entered.set()
                await release.wait()

    server = await start_server(app)
    async with (
        raw_websocket(server.ws_url) as leaving,
        raw_websocket(server.ws_url) as staying,
    ):
        leaving_sid = json.loads((await leaving.join('{"leaving":true}'))[2:])["sid"]
        staying_sid = json.loads((await staying.join())[2:])["sid"]
        socket = root.sockets[leaving_sid]
        root.emit("before")
        assert await staying.text() == '42["before"]'
        assert heard == ["before"]

        await leaving.send("41")
        with trio.fail_after(5):
            await entered.wait()
        # The adapter still has it in its rooms while its disconnecting handler runs.
        assert seen["rooms"] == {leaving_sid, "red"}
        assert set(root.rooms["red"]) == {leaving_sid, staying_sid}
        assert set(root.rooms["late"]) == {leaving_sid}
        # It is sent nothing: its listeners hear of nothing, a volatile packet is not for it,
        # and a broadcast with acks does not wait for an answer it will never give.
        assert not socket.writable
        root.to("red").emit("during")
        assert await staying.text() == '42["during"]'
        assert heard == ["before"]

        async def answer() -> None:
            asked = await staying.text()
            await staying.send(f"43{asked[2 : asked.index('[')]}" + '["staying"]')

        async with trio.open_nursery() as answering:
            answering.start_soon(answer)
            with trio.fail_after(2):
                assert await root.to("red").timeout(5).emit_with_ack("vote") == ["staying"]

        # Its handler done, it leaves every room, the one joined in the handler too.
        release.set()
        await wait_until(lambda: leaving_sid not in root.sockets)
        assert not root.adapter.socket_rooms(leaving_sid)
        assert set(root.rooms["red"]) == {staying_sid}
        assert "late" not in root.rooms


async def test_a_room_joined_twice_is_held_once_and_left_at_once(
    start_server: ServerFactory,
) -> None:
    # The adapter keeps each socket's rooms as dict keys (smaller than a set): joins,
    # leaves and the rooms read back must still behave as a set's.
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        sid = json.loads((await client.join())[2:])["sid"]
        socket = root.sockets[sid]
        socket.join(["red", "blue"])
        socket.join("red")
        assert root.adapter.socket_rooms(sid) == {sid, "red", "blue"}
        assert socket.rooms == {sid, "red", "blue"}
        socket.leave("red")
        socket.leave("green")  # never joined: nothing to do
        assert socket.rooms == {sid, "blue"}
        assert "red" not in root.rooms
        assert set(root.rooms["blue"]) == {sid}
        (details,) = await app.sio.in_("blue").fetch_sockets()
        assert details.rooms == {sid, "blue"}
        await client.send("41")
        await wait_until(lambda: sid not in root.sockets)
        assert not root.adapter.socket_rooms(sid)
        assert "blue" not in root.rooms
