"""The broadcast operators against a real server, seen on the wire by raw clients: rooms and
exceptions, volatile, local, broadcast acks with a timeout, fetch_sockets, sockets_join,
sockets_leave, disconnect_sockets, close_room and server-side emits."""

import re
from typing import Any

import httpx
import pytest
import trio

from minidiscord.sockets import BroadcastAckTimeout, SocketServer
from tests.sockets.operators_app import clients, events, join, operators_app
from tests.support.rawclient import polling_connect, polling_url, read_until_closed
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

ROOMS = {"ann": ("a",), "bob": ("a", "b"), "cat": ("b", "c"), "dan": ()}


async def test_to_several_rooms_reaches_each_member_once_and_except_leaves_some_out(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with clients(server.ws_url, ROOMS) as joined:
        sio.to("a").to("b").except_("c").emit("ab-not-c", 1)
        sio.in_(["a", "c"]).emit("a-or-c")
        sio.except_(["a", "b"]).emit("neither")
        sio.emit("end")
        seen = {name: await events(client, "end") for name, (client, _) in joined.items()}
    assert seen == {
        "ann": [["ab-not-c", 1], ["a-or-c"], ["end"]],
        "bob": [["ab-not-c", 1], ["a-or-c"], ["end"]],
        "cat": [["a-or-c"], ["end"]],
        "dan": [["neither"], ["end"]],
    }


async def test_socket_operators_leave_the_socket_out(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with clients(server.ws_url, ROOMS) as joined:
        bob = sio.of("/").sockets[joined["bob"][1]]
        bob.except_("c").emit("not-bob-not-c")
        bob.to("a").emit("a-but-bob")
        bob.broadcast.local.emit("all-but-bob")
        sio.emit("end")
        seen = {name: await events(client, "end") for name, (client, _) in joined.items()}
    assert seen == {
        "ann": [["not-bob-not-c"], ["a-but-bob"], ["all-but-bob"], ["end"]],
        "bob": [["end"]],
        "cat": [["all-but-bob"], ["end"]],
        "dan": [["not-bob-not-c"], ["all-but-bob"], ["end"]],
    }


async def test_local_reaches_the_same_sockets_with_one_server(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with clients(server.ws_url, ROOMS) as joined:
        sio.local.to("b").emit("local-b")
        sio.of("/").local.emit("local-all")
        sio.emit("end")
        seen = {name: await events(client, "end") for name, (client, _) in joined.items()}
    assert seen == {
        "ann": [["local-all"], ["end"]],
        "bob": [["local-b"], ["local-all"], ["end"]],
        "cat": [["local-b"], ["local-all"], ["end"]],
        "dan": [["local-all"], ["end"]],
    }


async def test_volatile_is_dropped_while_a_websocket_client_has_frames_waiting(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    namespace = server.app.sio.of("/")
    async with clients(server.ws_url, {"ann": ()}) as joined:
        client, sid = joined["ann"]
        socket = namespace.sockets[sid]
        await wait_until(lambda: socket.writable)
        namespace.to(sid).volatile.emit("first")  # the writer is idle: it takes this now
        # The socket's own emit waits for the writer (a broadcast may have gone straight
        # to the socket on the native front end, and left nothing waiting).
        socket.emit("waiting")
        assert not socket.writable
        namespace.to(sid).volatile.emit("second")  # "waiting" is not written yet: dropped
        namespace.to(sid).emit("third")  # not volatile: queued behind it
        namespace.volatile.emit("fourth")  # dropped too
        namespace.emit("end")
        assert await events(client, "end") == [["first"], ["waiting"], ["third"], ["end"]]
        # Once the writer has caught up, a volatile packet goes out again.
        await wait_until(lambda: socket.writable)
        namespace.volatile.emit("later")
        namespace.emit("end")
        assert await events(client, "end") == [["later"], ["end"]]


async def test_a_sockets_own_volatile_emit_is_dropped_while_frames_wait(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    namespace = server.app.sio.of("/")
    async with clients(server.ws_url, {"ann": ()}) as joined:
        client, sid = joined["ann"]
        socket = namespace.sockets[sid]
        await wait_until(lambda: socket.writable)
        assert socket.volatile.emit("first", 1)
        assert not socket.volatile.emit("second", 2)
        socket.emit("end")
        assert await events(client, "end") == [["first", 1], ["end"]]


async def test_volatile_reaches_a_polling_client_only_while_its_get_waits(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    namespace = server.app.sio.of("/")
    async with httpx.AsyncClient(timeout=10) as http:
        sid = await polling_connect(http, server.url)
        (socket,) = namespace.sockets.values()
        assert not socket.writable  # no GET is waiting
        namespace.volatile.emit("dropped")
        namespace.emit("queued")
        assert (await http.get(polling_url(server.url, sid))).text == '42["queued"]'

        answer: list[str] = []

        async def poll() -> None:
            answer.append((await http.get(polling_url(server.url, sid))).text)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await wait_until(lambda: socket.writable)
            namespace.volatile.emit("taken")
        assert answer == ['42["taken"]']


async def test_emit_with_ack_gathers_one_answer_per_recipient(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    answers: list[Any] = []
    async with clients(server.ws_url, ROOMS) as joined:
        ann, bob = joined["ann"][0], joined["bob"][0]

        async def ask() -> None:
            answers.extend(await sio.to("a").timeout(5).emit_with_ack("question", 7))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            asked = await ann.text()
            # Encoded once: every recipient gets the same frame, with the same ack id.
            assert await bob.text() == asked
            match = re.fullmatch(r'42(\d+)\["question",7\]', asked)
            assert match is not None, asked
            ack_id = match[1]
            await bob.send(f'43{ack_id}["bob: 7"]')
            # Only the first ack argument is the client's answer (as the reference has it).
            await ann.send(f'43{ack_id}[{{"ann": 7}},"ignored"]')
    assert sorted(answers, key=str) == ["bob: 7", {"ann": 7}]


async def test_emit_with_ack_timeout_names_how_many_did_not_answer(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    async with clients(server.ws_url, ROOMS) as joined:
        ann, bob, cat = (joined[name][0] for name in ("ann", "bob", "cat"))
        failure: list[BroadcastAckTimeout] = []

        async def ask() -> None:
            with pytest.raises(BroadcastAckTimeout) as caught:
                await sio.in_(["a", "b"]).timeout(1.0).emit_with_ack("question")
            failure.append(caught.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            asked = await ann.text()
            ack_id = asked[2 : asked.index("[")]
            await ann.send(f'43{ack_id}["yes"]')
            assert await bob.text() == asked
            assert await cat.text() == asked
        (error,) = failure
        assert error.missing == 2
        assert error.responses == ["yes"]
        assert "2 of 3 clients did not acknowledge 'question'" in str(error)
        # A late answer is ignored: nobody waits for it any more.
        await bob.send(f'43{ack_id}["late"]')
        sio.emit("end")
        assert await events(bob, "end") == [["end"]]
        assert sio.of("/").sockets[joined["bob"][1]].connected


async def test_emit_with_ack_needs_a_timeout_and_with_no_recipient_answers_at_once(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    with pytest.raises(ValueError, match="timeout"):
        await sio.to("a").emit_with_ack("question")
    with trio.fail_after(1):
        assert await sio.to("nobody-here").timeout(30).emit_with_ack("question") == []


async def test_a_broadcast_ack_and_a_sockets_own_ack_never_share_an_id(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    results: dict[str, Any] = {}
    async with clients(server.ws_url, {"ann": ()}) as joined:
        client, sid = joined["ann"]
        socket = sio.of("/").sockets[sid]

        async def own() -> None:
            results["own"] = await socket.call("own", timeout=5)

        async def broadcast() -> None:
            results["broadcast"] = await sio.timeout(5).emit_with_ack("broadcast")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(own)
            first = await client.text()
            nursery.start_soon(broadcast)
            second = await client.text()
            ids = {frame[2 : frame.index("[")] for frame in (first, second)}
            assert len(ids) == 2, (first, second)
            for frame in (second, first):
                event = frame[frame.index("[") + 2 : frame.index('"', frame.index("[") + 2)]
                await client.send(f'43{frame[2 : frame.index("[")]}["{event} answered"]')
    assert results == {"own": ["own answered"], "broadcast": ["broadcast answered"]}


async def test_fetch_sockets_returns_the_selected_sockets_and_acts_on_them(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    namespace = sio.of("/")
    async with clients(server.ws_url, ROOMS) as joined:
        ann_client, ann_sid = joined["ann"]
        assert {s.id for s in await sio.fetch_sockets()} == {sid for _, sid in joined.values()}
        (ann,) = await sio.in_("a").except_("b").fetch_sockets()
        assert ann.id == ann_sid
        assert ann.rooms == {ann_sid, "a"}
        assert ann.data == {"name": "ann"}
        assert ann.handshake.auth == {"name": "ann", "rooms": ["a"]}
        assert ann.handshake.address.startswith("127.0.0.1:")

        ann.emit("hello", 1)
        assert await events(ann_client, "hello") == [["hello", 1]]
        ann.join(["x", "y"])
        ann.leave("a")
        assert namespace.sockets[ann_sid].rooms == {ann_sid, "x", "y"}

        async with trio.open_nursery() as nursery:
            answer: list[Any] = []

            async def ask() -> None:
                answer.append(await ann.emit_with_ack("question", timeout=5))

            nursery.start_soon(ask)
            asked = await ann_client.text()
            await ann_client.send(f'43{asked[2 : asked.index("[")]}["sure"]')
        assert answer == ["sure"]

        ann.disconnect()
        assert await ann_client.text() == "41"
        await wait_until(lambda: ann_sid not in namespace.sockets)
        # Only the namespace: the connection goes on and may join again.
        await join(ann_client, "ann again")


async def test_sockets_join_and_leave_honour_to_and_except(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    namespace = sio.of("/")
    async with clients(server.ws_url, ROOMS) as joined:
        sid = {name: s for name, (_, s) in joined.items()}
        sio.in_("a").except_("b").sockets_join(["x", "y"])
        sio.except_(["a", "b"]).sockets_join("x")
        assert set(namespace.rooms["x"]) == {sid["ann"], sid["dan"]}
        assert set(namespace.rooms["y"]) == {sid["ann"]}
        sio.in_("x").sockets_leave("y")
        assert "y" not in namespace.rooms
        sio.of("/").to("c").sockets_leave(["b", "c"])
        assert namespace.sockets[sid["cat"]].rooms == {sid["cat"]}
        assert set(namespace.rooms["b"]) == {sid["bob"]}


async def test_close_room_makes_every_member_leave_it(start_server: ServerFactory) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    namespace = sio.of("/")
    async with clients(server.ws_url, ROOMS) as joined:
        sio.close_room("b")
        assert "b" not in namespace.rooms
        assert namespace.sockets[joined["bob"][1]].rooms == {joined["bob"][1], "a"}
        sio.to("b").emit("to-b")
        sio.emit("end")
        for client, _ in joined.values():
            assert await events(client, "end") == [["end"]]


async def test_disconnect_sockets_honours_the_selection_and_close(
    start_server: ServerFactory,
) -> None:
    server = await start_server(operators_app())
    sio = server.app.sio
    namespace = sio.of("/")
    async with clients(server.ws_url, ROOMS) as joined:
        sid = {name: s for name, (_, s) in joined.items()}
        sio.in_("a").except_("b").disconnect_sockets()
        assert await joined["ann"][0].text() == "41"
        await wait_until(lambda: sid["ann"] not in namespace.sockets)
        assert joined["ann"][0].sid in server.app.engine.sessions  # the connection stays

        sio.in_("c").disconnect_sockets(close=True)
        cat = joined["cat"][0]
        assert "41" in await read_until_closed(cat)
        await wait_until(lambda: cat.sid not in server.app.engine.sessions)

        sio.emit("end")
        for name in ("bob", "dan"):
            assert await events(joined[name][0], "end") == [["end"]]
        assert set(namespace.sockets) == {sid["bob"], sid["dan"]}


async def test_server_side_emit_alone_reaches_no_other_server() -> None:
    sio = SocketServer()
    received: list[tuple[Any, ...]] = []

    @sio.of("/").on_server_side("ping")
    async def ping(*args: Any) -> str:
        received.append(args)
        return "pong"

    sio.server_side_emit("ping", 1)
    with trio.fail_after(1):
        assert await sio.server_side_emit_with_ack("ping", 1, timeout=5) == []
        assert await sio.of("/").adapter.server_count() == 1
    # Its own handlers answer other servers' emits, never its own.
    assert received == []
    assert await sio.of("/").server_side.receive("ping", [2]) == "pong"
    assert received == [(2,)]
    assert await sio.of("/").server_side.receive("unknown", []) is None
