"""A dynamic namespaces' parent and the adapter seam: children get the server's adapter, and
the parent's operators (broadcasts, volatile, acks, bulk operations) reach every child
through the children's adapters; outgoing catch-all listeners see what the adapter delivers.
Real servers, raw WebSocket clients."""

import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio

from minidiscord.app import App
from minidiscord.sockets import (
    BroadcastAckTimeout,
    ParentNamespace,
    Socket,
    SocketServer,
)
from minidiscord.sockets.parent_adapter import ParentBroadcastAdapter
from tests.sockets.test_adapter_seam import RecordingAdapter, _recording, opts
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.servers import TEST_SETTINGS, ServerFactory, serve_any_app
from tests.support.waiting import wait_until

ROOM = re.compile(r"^/room-\d+$")


def with_rooms(sio: SocketServer) -> ParentNamespace:
    """A parent of "/room-N" children whose clients join the rooms their auth names and
    answer nothing unless a test does."""
    rooms = sio.of(ROOM)

    @rooms.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.join((auth or {}).get("rooms", []))
        socket.data["name"] = (auth or {}).get("name")

    return rooms


async def enter(client: RawWebSocket, namespace: str, name: str, *rooms: str) -> str:
    """Connect ``client`` to ``namespace`` as ``name`` in ``rooms``; its socket id."""
    await client.send(f"40{namespace},{json.dumps({'name': name, 'rooms': list(rooms)})}")
    answer = await client.text()
    assert answer.startswith(f"40{namespace},"), answer
    sid: str = json.loads(answer[len(namespace) + 3 :])["sid"]
    return sid


@asynccontextmanager
async def members(
    ws_url: str, who: dict[str, tuple[str, ...]]
) -> AsyncIterator[dict[str, tuple[RawWebSocket, str]]]:
    """A client per name, ``{name: (namespace, *rooms)}``: its client and socket id."""
    async with AsyncExitStack() as stack:
        joined: dict[str, tuple[RawWebSocket, str]] = {}
        for name, (namespace, *rooms) in who.items():
            client = await stack.enter_async_context(raw_websocket(ws_url))
            joined[name] = (client, await enter(client, namespace, name, *rooms))
        yield joined


async def events(client: RawWebSocket, until: str) -> list[Any]:
    """``[namespace, event, *args]`` of each event ``client`` receives, up to ``until``."""
    seen: list[Any] = []
    while True:
        frame = await client.text()
        assert frame.startswith("42/"), frame
        namespace, _, body = frame[2:].partition(",")
        event = json.loads(body)
        seen.append([namespace, *event])
        if event[0] == until:
            return seen


def _split(frame: str) -> tuple[str, str]:
    """A ``42``/``43`` frame's namespace prefix (``"/room-1,"``, or ``""`` for "/") and body."""
    rest = frame[2:]
    if not rest.startswith("/"):
        return "", rest
    namespace, _, body = rest.partition(",")
    return namespace + ",", body


async def answer(client: RawWebSocket, text: str) -> str:
    """Read one event asking for an ack and answer it with ``text``; the event's name."""
    prefix, body = _split(await client.text())
    ack_id = body[: body.index("[")]
    await client.send(f"43{prefix}{ack_id}{json.dumps([text])}")
    event: str = json.loads(body[len(ack_id) :])[0]
    return event


async def test_children_get_the_servers_adapter_and_the_parent_broadcasts_through_them(
    nursery: trio.Nursery,
) -> None:
    sio = SocketServer(adapter=_recording)
    rooms = with_rooms(sio)
    assert isinstance(rooms.adapter, ParentBroadcastAdapter)
    server = await serve_any_app(nursery, sio)
    try:
        async with members(server.ws_url, {"ann": ("/room-1", "a"), "bob": ("/room-2",)}) as m:
            (ann, ann_sid), (bob, _) = m["ann"], m["bob"]
            one, two = sio.namespaces["/room-1"], sio.namespaces["/room-2"]
            # Made with the server's factory, as every namespace; never silently in memory.
            assert isinstance(one.adapter, RecordingAdapter)
            assert isinstance(two.adapter, RecordingAdapter)
            # A child made by sio.of(name) too.
            assert isinstance(sio.of("/room-3").adapter, RecordingAdapter)
            one.adapter.take()
            two.adapter.take()

            rooms.to("a").emit("news", 1)
            rooms.emit("end")
            # Each child's adapter got the packet under the child's own namespace name.
            for child in (one, two):
                assert isinstance(child.adapter, RecordingAdapter)
                recorded = child.adapter.take()
                assert [(c[0], c[2]) for c in recorded] == [
                    ("broadcast", ["news", 1]),
                    ("broadcast", ["end"]),
                ]
                assert recorded[0][3] == opts(["a"])
            assert await events(ann, "end") == [["/room-1", "news", 1], ["/room-1", "end"]]
            assert await events(bob, "end") == [["/room-2", "end"]]
            assert sio.namespaces["/room-1"].sockets[ann_sid].rooms == {ann_sid, "a"}
    finally:
        server.shutdown.set()


async def test_a_parents_operators_reach_every_child(start_server: ServerFactory) -> None:
    app = App(TEST_SETTINGS)
    rooms = with_rooms(app.sio)
    server = await start_server(app)
    who = {"ann": ("/room-1", "a"), "bob": ("/room-2", "a"), "cat": ("/room-2",)}
    async with members(server.ws_url, who) as m:
        (ann, ann_sid), (bob, bob_sid), (cat, cat_sid) = m["ann"], m["bob"], m["cat"]
        one, two = app.sio.namespaces["/room-1"], app.sio.namespaces["/room-2"]

        rooms.except_("a").emit("not-a")
        rooms.local.to("a").emit("local-a")
        rooms.emit("end")
        assert await events(ann, "end") == [["/room-1", "local-a"], ["/room-1", "end"]]
        assert await events(bob, "end") == [["/room-2", "local-a"], ["/room-2", "end"]]
        assert await events(cat, "end") == [["/room-2", "not-a"], ["/room-2", "end"]]

        # Acks from clients of two children, each under its own namespace. Ann also has an
        # ack of her own pending: a parent and its children draw ids from one counter, so
        # the broadcast's id is not hers and each reply reaches its own waiter.
        own: list[tuple[Any, ...]] = []
        one.sockets[ann_sid].emit("own", callback=lambda *args: own.append(args))

        async def ann_answers() -> None:
            assert await answer(ann, "mine") == "own"
            assert await answer(ann, "ann") == "vote"

        async with trio.open_nursery() as answering:
            answering.start_soon(ann_answers)
            answering.start_soon(answer, bob, "bob")
            with trio.fail_after(5):
                answers = await rooms.to("a").timeout(5).emit_with_ack("vote")
        assert sorted(answers) == ["ann", "bob"]
        assert own == [("mine",)]
        assert not one.sockets[ann_sid]._acks
        assert not two.sockets[bob_sid]._acks

        # One that does not answer: the parent counts the missing client across children.
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann again")
            with pytest.raises(BroadcastAckTimeout) as timed_out:
                await rooms.to("a").timeout(0.5).emit_with_ack("again")
        assert (timed_out.value.responses, timed_out.value.missing) == (["ann again"], 1)
        assert (await bob.text()).endswith('["again"]')
        # Given up: bob's pending ack is forgotten through its child's adapter.
        assert not two.sockets[bob_sid]._acks

        fetched = {s.data["name"]: s for s in await rooms.fetch_sockets()}
        assert set(fetched) == {"ann", "bob", "cat"}
        assert fetched["cat"].rooms == {cat_sid}
        fetched["cat"].join("b")
        fetched["cat"].emit("to-cat")
        assert await events(cat, "to-cat") == [["/room-2", "to-cat"]]
        assert two.sockets[cat_sid].rooms == {cat_sid, "b"}
        rooms.in_("a").sockets_join("c")
        assert one.sockets[ann_sid].rooms == {ann_sid, "a", "c"}
        assert two.sockets[bob_sid].rooms == {bob_sid, "a", "c"}
        rooms.in_("c").sockets_leave("a")
        assert set(rooms.adapter.rooms["c"]) == {ann_sid, bob_sid}
        assert "a" not in rooms.adapter.rooms
        assert rooms.adapter.sockets(frozenset({"b", "c"})) == {ann_sid, bob_sid, cat_sid}

        rooms.in_("c").disconnect_sockets()
        assert await ann.text() == "41/room-1,"
        assert await bob.text() == "41/room-2,"
        await wait_until(lambda: not one.sockets and set(two.sockets) == {cat_sid})


async def test_a_parents_volatile_broadcasts_skip_children_clients_that_cannot_take_them(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    rooms = with_rooms(app.sio)
    server = await start_server(app)
    async with members(server.ws_url, {"ann": ("/room-1",), "bob": ("/room-2",)}) as m:
        (ann, _), (bob, _) = m["ann"], m["bob"]
        one, two = app.sio.namespaces["/room-1"], app.sio.namespaces["/room-2"]
        await wait_until(lambda: all(s.writable for c in (one, two) for s in c.sockets.values()))
        rooms.volatile.emit("light")
        assert await events(ann, "light") == [["/room-1", "light"]]
        assert await events(bob, "light") == [["/room-2", "light"]]

        # "busy" is still queued for both (a socket's own emit waits for its writer, and
        # there was no checkpoint since): a volatile packet with acks is sent to neither,
        # so no answer is waited for.
        for child in (one, two):
            for socket in child.sockets.values():
                socket.emit("busy")
        with trio.fail_after(1):
            assert await rooms.volatile.timeout(5).emit_with_ack("skipped") == []
        rooms.emit("end")
        assert await events(ann, "end") == [["/room-1", "busy"], ["/room-1", "end"]]
        assert await events(bob, "end") == [["/room-2", "busy"], ["/room-2", "end"]]

        # When they can take it, a volatile one with acks is sent and waited for.
        await wait_until(lambda: all(s.writable for c in (one, two) for s in c.sockets.values()))
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann")
            answering.start_soon(answer, bob, "bob")
            answers = await rooms.volatile.timeout(5).emit_with_ack("light-vote")
        assert sorted(answers) == ["ann", "bob"]


async def test_a_parent_with_no_children_answers_at_once() -> None:
    rooms = with_rooms(SocketServer())
    with trio.fail_after(1):
        assert await rooms.timeout(5).emit_with_ack("anyone") == []
        assert await rooms.fetch_sockets() == []
        assert await rooms.server_side_emit_with_ack("sync") == []
    rooms.emit("no-one")
    assert dict(rooms.rooms) == {}


async def test_outgoing_listeners_see_what_the_adapter_delivers(
    start_server: ServerFactory,
) -> None:
    app = App(TEST_SETTINGS)
    rooms = with_rooms(app.sio)
    root = app.sio.of("/")
    seen: list[tuple[str, ...]] = []

    @root.on("connect")
    async def watch(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.on_any_outgoing(lambda event, *args: seen.append(("/", event, *args)))

    @rooms.on("watch")
    async def watch_child(socket: Socket) -> None:
        socket.on_any_outgoing(lambda event, *args: seen.append(("child", event, *args)))

    server = await start_server(app)
    async with (
        raw_websocket(server.ws_url) as watcher,
        members(server.ws_url, {"bob": ("/room-1",)}) as m,
    ):
        await watcher.join()
        bob = m["bob"][0]
        await bob.send('42/room-1,["watch"]')
        await wait_until(lambda: bool(app.sio.namespaces["/room-1"].watching_outgoing))

        # A broadcast with acks goes through the adapter's broadcast_with_ack: seen.
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, watcher, "ok")
            assert await root.timeout(5).emit_with_ack("question", 1) == ["ok"]
        # A parent's broadcast is seen by a child's listener, through the child's adapter.
        rooms.emit("news", 2)
        # A volatile packet the client could not take is not sent, so not seen ("busy",
        # the socket's own emit, waits for its writer).
        (watched,) = root.sockets.values()
        watched.emit("busy")
        root.volatile.emit("dropped")
        root.emit("end")
        assert await bob.text() == '42/room-1,["news",2]'
        assert await watcher.text() == '42["busy"]'
        assert await watcher.text() == '42["end"]'
        assert seen == [
            ("/", "question", 1),
            ("child", "news", 2),
            ("/", "busy"),
            ("/", "end"),
        ]
