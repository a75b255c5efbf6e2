"""The Redis adapter carries every operator and bulk operation across servers: two
SocketServers on one redis-server, raw WebSocket clients on each. Broadcasts with rooms,
except, volatile and local; close_room; acks from clients of both servers, and a timeout naming how
many did not answer; fetch_sockets with RemoteSockets of the other server acting through
the adapter; sockets_join/leave, disconnect_sockets; server-side emits with answers; and a
dynamic namespace's children, which answer the parent's server-side events."""

import re
from typing import Any

import pytest
import trio

from minidiscord.redis.adapter import RedisAdapter
from minidiscord.sockets import BroadcastAckTimeout, ServerSideEmitTimeout, Socket, SocketServer
from tests.redis.adapter_cluster import cluster, node_server
from tests.sockets.operators_app import clients, events
from tests.support.rawclient import RawWebSocket, raw_websocket
from tests.support.redisserver import RedisServer
from tests.support.waiting import wait_until


async def answer(client: RawWebSocket, text: str) -> None:
    """Answer the next event the client gets, which asks for an ack, with ``text``."""
    asked = await client.text()
    await client.send(f'43{asked[2 : asked.index("[")]}["{text}"]')


async def test_broadcasts_acks_bulk_operations_and_server_side_emits_cross_servers(
    redis: RedisServer,
) -> None:
    one, two = node_server(redis.url), node_server(redis.url)
    heard: list[tuple[str, Any]] = []
    for name, sio in (("one", one), ("two", two)):

        @sio.of("/").on_server_side("ping")
        async def ping(value: int, name: str = name) -> str:
            heard.append((name, value))
            return f"pong from {name}"

    async with (
        cluster([one, two]) as (first, second),
        clients(first.ws_url, {"ann": ("a",)}) as on_one,
        clients(second.ws_url, {"bob": ("a",), "cat": ()}) as on_two,
    ):
        (ann, ann_sid), (bob, bob_sid), (cat, _) = on_one["ann"], on_two["bob"], on_two["cat"]
        assert await one.of("/").adapter.server_count() == 2

        one.to("a").emit("to-a")
        one.local.emit("local")
        two.except_("a").emit("not-a")
        one.emit("end", {"nested": [1, None]})
        assert await events(ann, "end") == [["to-a"], ["local"], ["end", {"nested": [1, None]}]]
        assert await events(bob, "end") == [["to-a"], ["end", {"nested": [1, None]}]]
        assert await events(cat, "end") == [["not-a"], ["end", {"nested": [1, None]}]]
        # Every client idle: a volatile broadcast reaches them all, on both servers.
        two.volatile.emit("light")
        for client in (ann, bob, cat):
            assert await events(client, "light") == [["light"]]

        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann")
            answering.start_soon(answer, bob, "bob")
            answers = await one.to("a").timeout(5).emit_with_ack("question")
        assert sorted(answers) == ["ann", "bob"]
        # Bob (on the other server) says nothing: the timeout counts him as missing.
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann again")
            with pytest.raises(BroadcastAckTimeout, match="1 of 2 clients") as caught:
                await one.to("a").timeout(1).emit_with_ack("question")
        assert (caught.value.responses, caught.value.missing) == (["ann again"], 1)
        assert (await bob.text()).startswith("42")
        # Local: only this server's count is waited for.
        async with trio.open_nursery() as answering:
            answering.start_soon(answer, ann, "ann alone")
            with trio.fail_after(2):
                assert await one.local.to("a").timeout(5).emit_with_ack("q") == ["ann alone"]

        fetched = {s.data["name"]: s for s in await one.fetch_sockets()}
        assert set(fetched) == {"ann", "bob", "cat"}
        remote_bob = fetched["bob"]
        assert (remote_bob.id, remote_bob.rooms) == (bob_sid, frozenset({bob_sid, "a"}))
        assert remote_bob.handshake.address.startswith("127.0.0.1:")
        assert remote_bob.handshake.auth == {"name": "bob", "rooms": ["a"]}
        remote_bob.emit("from-one", b"\x00\xff".hex())
        assert await events(bob, "from-one") == [["from-one", "00ff"]]
        remote_bob.join("b")
        await wait_until(lambda: two.of("/").sockets[bob_sid].rooms == {bob_sid, "a", "b"})
        one.in_("b").sockets_leave("a")
        await wait_until(lambda: two.of("/").sockets[bob_sid].rooms == {bob_sid, "b"})
        assert {s.data["name"] for s in await one.local.fetch_sockets()} == {"ann"}
        assert {s.data["name"] for s in await two.in_("a").fetch_sockets()} == {"ann"}

        assert await one.server_side_emit_with_ack("ping", 1) == ["pong from two"]
        two.server_side_emit("ping", 2)
        await wait_until(lambda: ("one", 2) in heard)
        assert heard == [("two", 1), ("one", 2)]

        one.in_("b").disconnect_sockets()
        assert await bob.text() == "41"
        await wait_until(lambda: bob_sid not in two.of("/").sockets)
        assert ann_sid in one.of("/").sockets
        # close_room: every socket in the room leaves it, on every server.
        two.close_room("a")
        await wait_until(lambda: "a" not in one.of("/").rooms)
        assert one.of("/").sockets[ann_sid].rooms == {ann_sid}


async def test_a_server_side_emit_names_the_servers_that_did_not_answer(
    redis: RedisServer,
) -> None:
    servers = [node_server(redis.url) for _ in range(3)]
    release = trio.Event()
    slow = {"on": False}
    for index, sio in enumerate(servers):

        @sio.of("/").on_server_side("count")
        async def count(index: int = index) -> int:
            if index == 2 and slow["on"]:
                await release.wait()
            return index

    async with cluster(servers):
        assert sorted(await servers[0].server_side_emit_with_ack("count", timeout=5)) == [1, 2]
        # Servers without the namespace say so at once: no answers, and no waiting.
        with trio.fail_after(1):
            assert await servers[0].of("/other").server_side_emit_with_ack("count") == []
        slow["on"] = True
        with pytest.raises(ServerSideEmitTimeout, match="1 of 2 servers") as caught:
            await servers[0].server_side_emit_with_ack("count", timeout=1)
        assert caught.value.responses == [1]
        release.set()


async def test_dynamic_children_broadcast_and_answer_across_servers(redis: RedisServer) -> None:
    one, two = node_server(redis.url), node_server(redis.url)
    for sio in (one, two):
        parent = sio.of(re.compile(r"^/room-\d+$"))

        @parent.on_server_side("where")
        async def where(sio_name: str = "one" if sio is one else "two") -> str:
            return sio_name

        @parent.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
            socket.join("inside")

    async with (
        cluster([one, two]) as (first, second),
        raw_websocket(first.ws_url) as on_one,
        raw_websocket(second.ws_url) as on_two,
    ):
        for client in (on_one, on_two):
            await client.send("40/room-1,")
            assert (await client.text()).startswith("40/room-1,{")
        one.of("/room-1").to("inside").emit("hi")
        for client in (on_one, on_two):
            assert await client.text() == '42/room-1,["hi"]'
        # The child on the other server answers with its parent's handler.
        assert await one.of("/room-1").server_side_emit_with_ack("where") == ["two"]


def test_each_server_needs_a_factory_of_its_own() -> None:
    # Nothing is connected before the server's lifespan: no Redis needed to check this.
    factory = RedisAdapter.factory("redis://127.0.0.1:1/0")
    SocketServer(adapter=factory)
    with pytest.raises(ValueError, match="a factory of its own"):
        SocketServer(adapter=factory)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"max_len": 0}, "at least 1"),
        ({"block": 0}, "positive"),
        ({"heartbeat_interval": 5.0, "heartbeat_timeout": 5.0}, "longer than"),
    ],
)
def test_options_that_cannot_work_are_refused(options: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        RedisAdapter.factory("redis://127.0.0.1:1/0", **options)
