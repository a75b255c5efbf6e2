"""The Socket.IO server API over a raw WebSocket: namespaces, auth, acks, binary, rooms."""

import json
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.testing

from minidiscord.app import App
from minidiscord.sockets import AckTimeout, ConnectionRefused, Socket
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.waiting import wait_until


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.changed = trio.Event()

    def add(self, *entry: Any) -> None:
        self.events.append(entry)
        self.changed.set()
        self.changed = trio.Event()

    async def wait_for(self, count: int) -> None:
        with trio.fail_after(5):
            while len(self.events) < count:
                await self.changed.wait()


def make_app(record: Recorder, **overrides: Any) -> App:
    app = App(replace(TEST_SETTINGS, **overrides))
    root = app.sio.of("/")
    admin = app.sio.of("/admin")

    @root.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        if auth and auth.get("refuse"):
            raise ConnectionRefused("not welcome", data={"why": "asked"})
        socket.emit("hello", auth)
        socket.join("lobby")

    @root.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        record.add("disconnect", socket.id, reason)

    @root.on("echo")
    async def echo(socket: Socket, *args: Any) -> Any:
        return tuple(args)

    @root.on("shout")
    async def shout(socket: Socket, text: str) -> None:
        socket.to("lobby").emit("shout", text)

    @root.on("everyone")
    async def everyone(socket: Socket, text: str) -> None:
        root.emit("everyone", text)

    @root.on("kick-me")
    async def kick_me(socket: Socket) -> None:
        socket.disconnect()

    @root.on("ask")
    async def ask(socket: Socket, timeout: float | None) -> None:
        socket.emit(
            "question",
            "ready?",
            callback=lambda *args: record.add("answer", *args),
            timeout=timeout,
        )

    @root.on("call")
    async def call(socket: Socket) -> None:
        try:
            record.add("called", await socket.call("question", "sure?", timeout=3))
        except AckTimeout:
            record.add("call timed out")

    @admin.on("connect")
    async def admin_connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        record.add("admin connect", auth)

    return app


async def connect(client: RawWebSocket, namespace: str = "", auth: Any = None) -> str:
    prefix = f"{namespace}," if namespace else ""
    await client.send(f"40{prefix}{json.dumps(auth) if auth is not None else ''}")
    answer = await client.receive_skipping_pings()
    assert isinstance(answer, str)
    assert answer.startswith(f"40{prefix}{{"), answer
    sid: str = json.loads(answer[2 + len(prefix) :])["sid"]
    return sid


async def test_unknown_namespace_gets_connect_error(start_server: ServerFactory) -> None:
    server = await start_server(make_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        await client.send("40/nowhere,")
        assert await client.receive() == '44/nowhere,{"message":"Invalid namespace"}'


async def test_connect_handler_sees_auth_and_its_emits_follow_the_connect(
    start_server: ServerFactory,
) -> None:
    server = await start_server(make_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        sid = await connect(client, auth={"token": "abc"})
        assert sid != client.sid
        assert await client.receive() == '42["hello",{"token":"abc"}]'


async def test_connect_handler_can_refuse_with_a_message(start_server: ServerFactory) -> None:
    server = await start_server(make_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        await client.send('40{"refuse":true}')
        assert await client.receive() == '44{"message":"not welcome","data":{"why":"asked"}}'


async def test_second_namespace_on_the_same_connection(start_server: ServerFactory) -> None:
    record = Recorder()
    server = await start_server(make_app(record))
    async with raw_websocket(server.ws_url) as client:
        await connect(client, "/admin", {"role": "op"})
        assert record.events == [("admin connect", {"role": "op"})]


async def test_event_with_ack_is_answered_with_the_handler_result(
    start_server: ServerFactory,
) -> None:
    server = await start_server(make_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        await connect(client)
        await client.receive()  # hello
        await client.send('4217["echo",1,"two",{"three":3}]')
        assert await client.receive() == '4317[1,"two",{"three":3}]'


async def test_binary_event_and_binary_ack(start_server: ServerFactory) -> None:
    server = await start_server(make_app(Recorder()))
    async with raw_websocket(server.ws_url) as client:
        await connect(client)
        await client.receive()  # hello
        await client.send('451-3["echo",{"_placeholder":true,"num":0},"text"]')
        await client.send(b"\x00\x01\x02")
        assert await client.receive() == '461-3[{"_placeholder":true,"num":0},"text"]'
        assert await client.receive() == b"\x00\x01\x02"


async def test_server_emit_with_callback_gets_the_ack(start_server: ServerFactory) -> None:
    record = Recorder()
    server = await start_server(make_app(record))
    async with raw_websocket(server.ws_url) as client:
        await connect(client)
        await client.receive()  # hello
        await client.send('42["ask",null]')
        question = await client.receive()
        assert isinstance(question, str)
        assert question.endswith('["question","ready?"]')
        ack_id = question[2 : question.index("[")]
        await client.send(f'43{ack_id}["yes",42]')
        await record.wait_for(1)
        assert record.events == [("answer", "yes", 42)]


async def test_server_emit_with_timeout_reports_the_timeout(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    record = Recorder()
    server = await start_server(make_app(record, ping_interval=1000.0, ping_timeout=1000.0))
    async with raw_websocket(server.ws_url) as client:
        await connect(client)
        await client.receive()  # hello
        await client.send('42["ask",2]')
        await client.receive()  # the question, never acknowledged
        started = trio.current_time()
        await record.wait_for(1)
        assert trio.current_time() - started == pytest.approx(2, abs=0.1)
        (entry,) = record.events
        assert entry[0] == "answer"
        assert isinstance(entry[1], AckTimeout)


async def test_call_awaits_the_ack_from_another_task(start_server: ServerFactory) -> None:
    record = Recorder()
    server = await start_server(make_app(record))
    async with raw_websocket(server.ws_url) as client:
        sid = await connect(client)
        await client.receive()  # hello
        socket = server.app.sio.of("/").sockets[sid]
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                record.add("called", await socket.call("question", "sure?", timeout=3))

            nursery.start_soon(call)
            question = await client.receive()
            assert isinstance(question, str)
            ack_id = question[2 : question.index("[")]
            await client.send(f'43{ack_id}["certain"]')
        assert record.events == [("called", ["certain"])]


async def test_room_broadcast_skips_the_sender_and_namespace_emit_reaches_all(
    start_server: ServerFactory,
) -> None:
    server = await start_server(make_app(Recorder()))
    async with (
        raw_websocket(server.ws_url) as alice,
        raw_websocket(server.ws_url) as bob,
        raw_websocket(server.ws_url) as carol,
    ):
        for client in (alice, bob, carol):
            await connect(client)
            await client.receive()  # hello
        await alice.send('42["shout","hi"]')
        assert await bob.receive() == '42["shout","hi"]'
        assert await carol.receive() == '42["shout","hi"]'
        await alice.send('42["everyone","all"]')
        for client in (alice, bob, carol):
            assert await client.receive() == '42["everyone","all"]'


async def test_server_side_disconnect_and_client_disconnect_reasons(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(make_app(record))
    async with raw_websocket(server.ws_url) as client:
        first = await connect(client)
        await client.receive()  # hello
        await client.send('42["kick-me"]')
        assert await client.receive() == "41"
        await record.wait_for(1)
        second = await connect(client)
        await client.receive()  # hello
        await client.send("41")
        await record.wait_for(2)
    assert record.events == [
        ("disconnect", first, "server namespace disconnect"),
        ("disconnect", second, "client namespace disconnect"),
    ]


async def test_transport_close_runs_the_disconnect_handler_once(
    start_server: ServerFactory,
) -> None:
    record = Recorder()
    server = await start_server(make_app(record))
    async with raw_websocket(server.ws_url) as client:
        sid = await connect(client)
        await client.receive()  # hello
    await record.wait_for(1)
    namespace = server.app.sio.of("/")
    await wait_until(lambda: not namespace.sockets and "lobby" not in namespace.rooms)
    assert record.events == [("disconnect", sid, "transport close")]


async def test_a_slow_connect_handler_does_not_spend_the_clients_connect_timeout(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    # The client sent CONNECT in time; the application taking longer than the connect
    # timeout to answer (a busy server, a slow store) is not the client's delay.
    app = App(replace(TEST_SETTINGS, connect_timeout=10.0, ping_interval=300.0))

    @app.sio.of("/").on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        await trio.sleep(30.0)

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        answer = await client.join()
        assert json.loads(answer[2:])["sid"]
        await trio.sleep(60.0)
        assert client.sid in server.app.engine.sessions


async def test_a_refused_connect_leaves_the_connect_timeout_running(
    start_server: ServerFactory, autojump_clock: trio.testing.MockClock
) -> None:
    app = App(replace(TEST_SETTINGS, connect_timeout=10.0, ping_interval=300.0))

    @app.sio.of("/").on("connect")
    async def connect(socket: Socket, auth: object) -> None:
        raise ConnectionRefused("no")

    server = await start_server(app)
    async with raw_websocket(server.ws_url) as client:
        started = trio.current_time()
        for _ in range(5):  # refused again and again: still half-open, still expiring
            await client.send("40")
            assert (await client.text()).startswith("44{")
            await trio.sleep(1.0)
        await wait_until(lambda: client.sid not in server.app.engine.sessions, timeout=20)
        assert trio.current_time() - started <= 11.0
