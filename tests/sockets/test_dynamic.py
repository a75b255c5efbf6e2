"""Dynamic namespaces: ``sio.of(regex)`` and ``sio.of(predicate)`` make a parent whose
children are created on first connect, over a raw WebSocket."""

import re
from typing import Any

import pytest
import trio

from minidiscord.app import App
from minidiscord.sockets import ConnectionRefused, ParentNamespace, Socket
from tests.sockets.test_api import Recorder
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


def dynamic_app(record: Recorder, *, cleanup: bool = False) -> tuple[App, ParentNamespace]:
    app = App(TEST_SETTINGS)
    app.sio.cleanup_empty_child_namespaces = cleanup
    rooms = app.sio.of(re.compile(r"^/room-\d+$"))

    @rooms.use
    async def members_only(socket: Socket, auth: dict[str, Any] | None) -> None:
        if not auth or auth.get("member") is not True:
            raise ConnectionRefused("members only", data={"room": socket.namespace.name})

    @rooms.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        record.add("connect", socket.namespace.name)
        socket.emit("welcome", socket.namespace.name)
        socket.join("table")

    @rooms.on("shout")
    async def shout(socket: Socket, text: str) -> None:
        rooms.emit("shouted", text)

    @rooms.on("whisper")
    async def whisper(socket: Socket, text: str) -> None:
        rooms.to("table").except_("quiet").emit("whispered", text)

    @rooms.on("quiet")
    async def quiet(socket: Socket) -> str:
        socket.join("quiet")
        return "ok"

    async def staff(name: str, auth: dict[str, Any] | None) -> bool:
        return name.startswith("/staff-") and auth is not None and auth.get("staff") is True

    staff_rooms = app.sio.of(staff)

    @staff_rooms.on("connect")
    async def staff_connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        record.add("staff connect", socket.namespace.name)

    def failing(name: str, auth: dict[str, Any] | None) -> bool:
        raise RuntimeError("a broken predicate")

    app.sio.of(failing)
    return app, rooms


async def join(client: RawWebSocket, namespace: str, auth: str = '{"member":true}') -> str:
    await client.send(f"40{namespace},{auth}")
    return await client.text()


async def test_a_child_is_created_on_first_connect_with_the_parents_handlers(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    app, rooms = dynamic_app(record)
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        assert (await join(client, "/room-7")).startswith('40/room-7,{"sid":')
        assert await client.text() == '42/room-7,["welcome","/room-7"]'
        child = app.sio.namespaces["/room-7"]
        assert rooms.children == {"/room-7": child}
        assert len(child.sockets) == 1
        # A handler added to the parent later applies to its existing children too.

        @rooms.on("late")
        async def late(socket: Socket) -> str:
            return socket.namespace.name

        await client.send('42/room-7,1["late"]')
        assert await client.text() == '43/room-7,1["/room-7"]'
    assert record.events == [("connect", "/room-7")]


async def test_a_parents_middlewares_apply_to_its_children(
    start_server: ServerFactory,
) -> None:
    app, _ = dynamic_app(Recorder())
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        assert (
            await join(client, "/room-3", "")
            == '44/room-3,{"message":"members only","data":{"room":"/room-3"}}'
        )


@pytest.mark.parametrize(
    ("namespace", "auth"),
    [("/room-x", '{"member":true}'), ("/staff-1", '{"staff":false}'), ("/other", "")],
)
async def test_a_name_no_parent_matches_is_an_invalid_namespace(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture, namespace: str, auth: str
) -> None:
    app, _ = dynamic_app(Recorder())
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        assert await join(client, namespace, auth) == (
            f'44{namespace},{{"message":"Invalid namespace"}}'
        )
    assert namespace not in app.sio.namespaces
    # The failing predicate was asked, and its failure logged.
    assert any("a broken predicate" in str(r.exc_info) for r in caplog.records)


async def test_an_async_predicate_sees_the_name_and_auth(start_server: ServerFactory) -> None:
    record = Recorder()
    app, _ = dynamic_app(record)
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        assert (await join(client, "/staff-9", '{"staff":true}')).startswith("40/staff-9,{")
    assert record.events == [("staff connect", "/staff-9")]


async def test_broadcasting_on_the_parent_reaches_every_child(
    start_server: ServerFactory,
) -> None:
    app, _ = dynamic_app(Recorder())
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as one, raw_websocket(server.ws_url) as two:
        await join(one, "/room-1")
        assert await one.text() == '42/room-1,["welcome","/room-1"]'
        await join(two, "/room-2")
        assert await two.text() == '42/room-2,["welcome","/room-2"]'
        await two.send('42/room-2,["shout","hello"]')
        assert await one.text() == '42/room-1,["shouted","hello"]'
        assert await two.text() == '42/room-2,["shouted","hello"]'
        # to/except_ on the parent select in every child.
        await one.send('42/room-1,1["quiet"]')
        assert await one.text() == '43/room-1,1["ok"]'
        await one.send('42/room-1,["whisper","psst"]')
        assert await two.text() == '42/room-2,["whispered","psst"]'
        await two.send('42/room-2,1["quiet"]')
        assert await two.text() == '43/room-2,1["ok"]'
        await two.send('42/room-2,["shout","end"]')
        # "one" is quiet: the whisper never reached it; the next frame is the shout.
        assert await one.text() == '42/room-1,["shouted","end"]'


@pytest.mark.parametrize("cleanup", [False, True])
async def test_empty_children_are_forgotten_only_with_cleanup(
    start_server: ServerFactory, cleanup: bool
) -> None:
    app, rooms = dynamic_app(Recorder(), cleanup=cleanup)
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        await join(client, "/room-5")
        await client.text()  # welcome
        # A refused client leaves nothing behind either.
        await join(client, "/room-6", "")
    await wait_until(lambda: not app.sio.namespaces.get("/room-5", rooms).sockets)
    if cleanup:
        assert "/room-5" not in app.sio.namespaces
        assert "/room-6" not in app.sio.namespaces
        assert rooms.children == {}
    else:
        assert set(rooms.children) == {"/room-5", "/room-6"}
        assert "/room-5" in app.sio.namespaces


def test_of_a_name_a_pattern_matches_makes_the_child() -> None:
    app, rooms = dynamic_app(Recorder())
    child = app.sio.of("/room-12")
    assert rooms.children["/room-12"] is child
    assert app.sio.of("/room-12") is child
    assert app.sio.of("/elsewhere") is not child
    assert "/elsewhere" not in rooms.children


async def test_cleanup_waits_for_a_client_still_in_the_middlewares(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    app.sio.cleanup_empty_child_namespaces = True
    rooms = app.sio.of(re.compile(r"^/room-\d+$"))
    gate = trio.Event()
    waiting = trio.Event()

    @rooms.use
    async def slow(socket: Socket, auth: dict[str, Any] | None) -> None:
        if auth and auth.get("slow"):
            waiting.set()
            await gate.wait()

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as late:
        async with raw_websocket(server.ws_url) as first:
            assert (await join(first, "/room-1", "")).startswith("40/room-1,{")
            child = app.sio.namespaces["/room-1"]
            await late.send('40/room-1,{"slow":true}')
            await waiting.wait()
        await wait_until(lambda: not child.sockets)
        # The first client left while the late one was in the middlewares: kept for it.
        assert app.sio.namespaces["/room-1"] is child
        gate.set()
        assert (await late.text()).startswith("40/room-1,{")
        assert len(child.sockets) == 1
        assert rooms.children == {"/room-1": child}
    await wait_until(lambda: "/room-1" not in app.sio.namespaces)
