"""Catch-all listeners (``on_any``, ``on_any_outgoing`` and their kin) and a socket's own
handlers (``socket.on``), against a real server over a raw WebSocket."""

from typing import Any

import pytest

from minidiscord.app import App
from minidiscord.sockets import Socket
from tests.sockets.test_api import Recorder
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


def watched_app(record: Recorder) -> App:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join("room")
        if not auth or not auth.get("watch"):
            return

        def first(event: str, *args: Any) -> None:
            record.add("in", "first", event, *args)

        def second(event: str, *args: Any) -> None:
            record.add("in", "second", event, *args)

        def outgoing(event: str, *args: Any) -> None:
            record.add("out", event, *args)

        def broken(event: str, *args: Any) -> None:
            raise RuntimeError("a broken observer")

        socket.on_any(second)
        socket.prepend_any(first)
        socket.on_any(broken)
        socket.on_any_outgoing(outgoing)
        socket.prepend_any_outgoing(broken)
        socket.data["listeners"] = (first, second, outgoing, broken)

    @root.on("echo")
    async def echo(socket: Socket, *args: Any) -> Any:
        return args

    @root.on("emit-to-me")
    async def emit_to_me(socket: Socket, text: str) -> None:
        socket.emit("direct", text, {"n": 1})
        socket.emit("asked", text, callback=lambda *answer: record.add("answer", *answer))

    @root.on("broadcast")
    async def broadcast(socket: Socket, text: str) -> None:
        root.emit("everyone", text)
        root.to("room").emit("in-room", text)
        socket.broadcast.emit("not-to-me", text)

    @root.on("forget")
    async def forget(socket: Socket, which: str) -> None:
        first, _, _, broken = socket.data["listeners"]
        if which == "one":
            socket.off_any(first)
            socket.off_any_outgoing(broken)
        else:
            socket.off_any()
            socket.off_any_outgoing()
        record.add(
            "left",
            [f.__name__ for f in socket.listeners_any()],
            [f.__name__ for f in socket.listeners_any_outgoing()],
        )

    return app


async def joined(client: RawWebSocket, auth: str = "") -> None:
    await client.join(auth)


async def test_incoming_listeners_see_every_event_in_order_before_its_handler(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    record = Recorder()
    server = await start_server(watched_app(record))
    async with raw_websocket(server.ws_url) as client:
        await joined(client, '{"watch":true}')
        await client.send('421["echo","a",[1,2]]')
        assert await client.text() == '431["a",[1,2]]'
        await client.send('42["no-handler",null]')
        await client.send('422["echo"]')
        assert await client.text() == "432[]"
    assert [entry for entry in record.events if entry[0] == "in"] == [
        ("in", "first", "echo", "a", [1, 2]),
        ("in", "second", "echo", "a", [1, 2]),
        ("in", "first", "no-handler", None),
        ("in", "second", "no-handler", None),
        ("in", "first", "echo"),
        ("in", "second", "echo"),
    ]
    # A failing listener is logged and costs nothing else.
    assert any("a broken observer" in str(r.exc_info) for r in caplog.records)


async def test_outgoing_listeners_see_emits_and_broadcasts_but_not_acks(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(watched_app(record))
    async with raw_websocket(server.ws_url) as watcher, raw_websocket(server.ws_url) as other:
        await joined(watcher, '{"watch":true}')
        await joined(other)
        await watcher.send('425["echo","acked"]')
        assert await watcher.text() == '435["acked"]'
        await watcher.send('42["emit-to-me","hi"]')
        assert await watcher.text() == '42["direct","hi",{"n":1}]'
        question = await watcher.text()
        assert question == '420["asked","hi"]'
        await other.send('42["broadcast","news"]')
        assert await watcher.text() == '42["everyone","news"]'
        assert await watcher.text() == '42["in-room","news"]'
        assert await watcher.text() == '42["not-to-me","news"]'
    assert [entry for entry in record.events if entry[0] == "out"] == [
        ("out", "direct", "hi", {"n": 1}),
        ("out", "asked", "hi"),
        ("out", "everyone", "news"),
        ("out", "in-room", "news"),
        ("out", "not-to-me", "news"),
    ]


@pytest.mark.parametrize("which", ["one", "all"])
async def test_listeners_can_be_removed(start_server: ServerFactory, which: str) -> None:
    record = Recorder()
    server = await start_server(watched_app(record))
    root = server.app.sio.of("/")
    async with raw_websocket(server.ws_url) as client:
        await joined(client, '{"watch":true}')
        assert len(root.watching_outgoing) == 1
        await client.send(f'42["forget","{which}"]')
        await client.send('422["echo","after"]')
        assert await client.text() == '432["after"]'
        await client.send('42["broadcast","later"]')
        assert await client.text() == '42["everyone","later"]'
    await wait_until(lambda: not root.sockets)
    left = next(entry for entry in record.events if entry[0] == "left")
    if which == "one":
        assert left == ("left", ["second", "broken"], ["outgoing"])
        assert ("in", "second", "echo", "after") in record.events
        assert ("in", "first", "echo", "after") not in record.events
        assert ("out", "everyone", "later") in record.events
    else:
        assert left == ("left", [], [])
        assert not [
            entry
            for entry in record.events[record.events.index(left) :]
            if entry[0] in ("in", "out")
        ]
    # A socket that left is no longer watched.
    assert not root.watching_outgoing


async def test_a_socket_handler_takes_the_event_from_the_namespace_handler(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    root = app.sio.of("/")
    record = Recorder()

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        if auth and auth.get("own"):

            @socket.on("whoami")
            async def own(socket: Socket, text: str) -> str:
                return f"own {text}"

            @socket.on("disconnect")
            async def own_disconnect(socket: Socket, reason: str) -> None:
                record.add("own disconnect", reason)

    @root.on("whoami")
    async def shared(socket: Socket, text: str) -> str:
        return f"shared {text}"

    @root.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        record.add("namespace disconnect", reason)

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as plain, raw_websocket(server.ws_url) as special:
        await joined(plain)
        await joined(special, '{"own":true}')
        await plain.send('421["whoami","x"]')
        await special.send('421["whoami","y"]')
        assert await plain.text() == '431["shared x"]'
        assert await special.text() == '431["own y"]'
        await special.send("41")
        await record.wait_for(2)
    # Lifecycle handlers: the namespace's, then the socket's own.
    assert record.events[:2] == [
        ("namespace disconnect", "client namespace disconnect"),
        ("own disconnect", "client namespace disconnect"),
    ]
    await record.wait_for(3)
    assert record.events[2] == ("namespace disconnect", "transport close")
