"""Fan-out: encode once, deliver to every member in order, drop only the slow consumer."""

import json

import pytest
import trio

from minidiscord.app import App
from minidiscord.protocol.socketio import Packet
from minidiscord.sockets import Socket
from minidiscord.sockets.packets import frames_of
from tests.support.rawclient import RawWebSocket, raw_websocket, read_until_closed
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


def _fanout_app(**overrides: object) -> App:
    from dataclasses import replace

    app = App(replace(TEST_SETTINGS, **overrides))  # type: ignore[arg-type]
    ns = app.sio.of("/")

    @ns.on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        socket.join("room")

    @ns.on("burst")
    async def burst(socket: Socket, count: int, size: int, pace: float = 0) -> None:
        for index in range(count):
            ns.to("room").emit("item", index, "x" * size)
            # Paced like separate chat messages, so a client that reads keeps up.
            await trio.sleep(pace)

    return app


async def _connected(client: RawWebSocket) -> None:
    await client.send("40")
    assert (await client.text()).startswith("40{")


async def test_broadcast_reaches_every_member_in_order_with_one_encode(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    encodes = 0

    def counting_frames_of(packet: Packet) -> tuple[str | bytes, ...]:
        nonlocal encodes
        encodes += 1
        return frames_of(packet)

    monkeypatch.setattr("minidiscord.sockets.memory_adapter.frames_of", counting_frames_of)
    server = await start_server(_fanout_app())
    members = 20
    count = 50
    async with trio.open_nursery() as nursery:
        received: dict[int, list[int]] = {}

        async def member(number: int, ready: trio.Event, go: trio.Event) -> None:
            async with raw_websocket(server.ws_url) as client:
                await _connected(client)
                ready.set()
                if number == 0:
                    await go.wait()
                    await client.send(f'42["burst",{count},10]')
                items: list[int] = []
                while len(items) < count:
                    frame = await client.receive_skipping_pings()
                    assert isinstance(frame, str)
                    assert frame.startswith('42["item"')
                    items.append(json.loads(frame[2:])[1])
                received[number] = items

        go = trio.Event()
        for number in range(members):
            ready = trio.Event()
            nursery.start_soon(member, number, ready, go)
            await ready.wait()
        go.set()
    assert encodes == count
    assert received == {number: list(range(count)) for number in range(members)}


async def test_stalled_client_is_dropped_and_the_others_get_everything(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(_fanout_app(client_buffer=32))
    count, size = 400, 50_000  # 20 MB: more than the kernel buffers of a stalled socket
    async with raw_websocket(server.ws_url) as stalled, raw_websocket(server.ws_url) as reader:
        await _connected(stalled)
        await _connected(reader)
        stalled_sid = stalled.sid
        await reader.send(f'42["burst",{count},{size},0.002]')
        items = 0
        with trio.fail_after(30):
            while items < count:
                frame = await reader.receive_skipping_pings()
                assert isinstance(frame, str)
                assert frame.startswith('42["item"')
                items += 1
        await wait_until(lambda: stalled_sid not in server.app.engine.sessions, timeout=10)
        # The stalled client may still find some frames in its socket buffer, then the end.
        with trio.fail_after(10):
            await read_until_closed(stalled)
    assert any("slow consumer" in record.getMessage() for record in caplog.records)


async def test_client_buffer_setting_bounds_the_queue(start_server: ServerFactory) -> None:
    app = _fanout_app(client_buffer=3)
    assert app.engine.config.client_buffer == 3
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        await _connected(client)
        session = server.app.engine.sessions[client.sid]
        assert session.outbox.limit == 3


def _gated_app() -> tuple[App, trio.Event, trio.Event]:
    """A room whose members' connect handler, for the client whose auth says so, waits at
    a gate after joining (so broadcasts reach it before its CONNECT answer), and whose
    disconnecting handler, for a client the server disconnects, waits at another."""
    app = App(TEST_SETTINGS)
    ns = app.sio.of("/")
    connect_gate, leaving_gate = trio.Event(), trio.Event()

    @ns.on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        socket.join("room")
        if auth == {"wait": True}:
            await connect_gate.wait()

    @ns.on("disconnecting")
    async def disconnecting(socket: Socket, reason: str) -> None:
        await leaving_gate.wait()

    @ns.on("say")
    async def say(socket: Socket, text: str) -> None:
        ns.to("room").emit("item", text)

    @ns.on("drop")
    async def drop(socket: Socket, sid: str) -> None:
        ns.sockets[sid].disconnect()

    @ns.on("open")
    async def open_gate(socket: Socket, which: str) -> None:
        (connect_gate if which == "connect" else leaving_gate).set()

    return app, connect_gate, leaving_gate


async def _items(client: RawWebSocket, count: int) -> list[str]:
    """The next ``count`` frames, checked to be items: their texts."""
    items = []
    with trio.fail_after(10):
        for _ in range(count):
            frame = await client.text()
            assert frame.startswith('42["item"'), frame
            items.append(json.loads(frame[2:])[1])
    return items


async def test_broadcasts_wait_for_the_connect_answer_then_take_the_direct_path(
    start_server: ServerFactory,
) -> None:
    app, _, _ = _gated_app()
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as early, raw_websocket(server.ws_url) as late:
        await _connected(early)
        await late.send('40{"wait":true}')
        room = server.app.sio.of("/").rooms
        await wait_until(lambda: len(room["room"]) == 2)
        for text in ("one", "two"):
            await early.send(f'42["say","{text}"]')
        assert await _items(early, 2) == ["one", "two"]
        await early.send('42["open","connect"]')
        # The CONNECT answer first, then what was broadcast while the handler ran, then
        # the rest, in order.
        with trio.fail_after(10):
            assert (await late.text()).startswith("40{")
        await early.send('42["say","three"]')
        assert await _items(late, 3) == ["one", "two", "three"]
        assert await _items(early, 1) == ["three"]


async def test_a_leaving_socket_is_sent_nothing_while_its_disconnecting_handler_runs(
    start_server: ServerFactory,
) -> None:
    app, _, _ = _gated_app()
    server = await start_server(app)
    async with raw_websocket(server.ws_url) as sender, raw_websocket(server.ws_url) as dropped:
        await _connected(sender)
        await _connected(dropped)
        ns = server.app.sio.of("/")
        _, dropped_id = ns.rooms["room"]  # in joining order
        await sender.send(f'42["drop","{dropped_id}"]')
        with trio.fail_after(10):
            assert await dropped.text() == "41"
        # Still in the room while its disconnecting handler waits: broadcasts skip it.
        assert dropped_id in ns.rooms["room"]
        await sender.send('42["say","while leaving"]')
        assert await _items(sender, 1) == ["while leaving"]
        await sender.send('42["open","leaving"]')
        await wait_until(lambda: dropped_id not in ns.rooms["room"])
        # Back in the namespace (a new socket), it gets what is broadcast from now on only.
        await _connected(dropped)
        await sender.send('42["say","after"]')
        assert await _items(dropped, 1) == ["after"]
        assert await _items(sender, 1) == ["after"]
