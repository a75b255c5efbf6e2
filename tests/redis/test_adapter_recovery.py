"""Connection state recovery across servers on the Redis adapter: a client drops from
server A and its next connection lands on server B (a forwarder standing for the load
balancer moves it), with its pid and last offset; B gives back its socket id, rooms and
data, and every packet it missed, sent by A or by B, once and in order. Our trio client and
node's socket.io-client 4.8 (the reference client, unchanged)."""

from typing import Any

import pytest

from minidiscord.client import Client
from minidiscord.redis.adapter_node import id_key
from minidiscord.redis.connection import open_redis
from minidiscord.redis.target import parse_redis_url
from minidiscord.sockets import Recovery, Session, Socket, SocketServer
from tests.redis.adapter_cluster import cluster, node_of, node_server
from tests.support.nodeclient import run_node
from tests.support.redisserver import RedisServer
from tests.support.switchproxy import switch_proxy
from tests.support.waiting import wait_until

WINDOW = Recovery(max_disconnection_duration=60.0)


def recovering(redis_url: str) -> SocketServer:
    sio = node_server(redis_url, recovery=WINDOW)

    @sio.on("join")
    async def join(socket: Socket, room: str) -> str:
        socket.join(room)
        socket.data["joined"] = room
        return "joined"

    return sio


async def test_the_trio_client_recovers_on_another_server_with_what_both_sent(
    redis: RedisServer,
) -> None:
    a, b = recovering(redis.url), recovering(redis.url)
    client = Client(transports=("websocket",), reconnection_delay=0.3, reconnection_delay_max=0.3)
    got: list[tuple[str, tuple[Any, ...]]] = []
    client.on_any(lambda event, *args: got.append((event, args)))
    async with (
        cluster([a, b]) as (on_a, on_b),
        switch_proxy(on_a.port) as proxy,
        client.connect(proxy.url) as socket,
    ):
        first_id = socket.id
        assert first_id is not None
        assert await socket.call("join", "r", timeout=5) == ["joined"]
        a.to("r").emit("before", 0)
        await wait_until(lambda: len(got) == 1)

        # The balancer moves it: its connection to A is cut, the next one goes to B.
        proxy.switch(on_b.port)
        await wait_until(lambda: not a.of("/").sockets)
        a.to("r").emit("missed", 1)
        a.to("elsewhere").emit("other", 9)
        # B's broadcast after A's in the stream: B has read A's first.
        read = node_of(b).read_position
        await wait_until(lambda: node_of(b).read_position != read)
        b.to("r").emit("missed", 2)

        await wait_until(lambda: socket.connected and len(got) == 3)
        assert socket.recovered
        assert socket.id == first_id
        assert set(b.of("/").sockets) == {first_id}
        restored = b.of("/").sockets[first_id]
        assert restored.rooms == {first_id, "r"}
        assert restored.data["joined"] == "r"
        a.to("r").emit("after", 3)
        await wait_until(lambda: len(got) == 4)

    assert [(event, args[:-1]) for event, args in got] == [
        ("before", (0,)),
        ("missed", (1,)),
        ("missed", (2,)),
        ("after", (3,)),
    ]
    # The offsets are the stream's ids: the same on every server, each its own, increasing.
    offsets = [args[-1] for _, args in got]
    assert len(set(offsets)) == 4
    assert offsets == sorted(offsets, key=lambda offset: tuple(map(int, offset.split("-"))))


async def test_a_session_is_given_back_once_on_whichever_server_asks(redis: RedisServer) -> None:
    a, b = recovering(redis.url), recovering(redis.url)
    async with cluster([a, b]):
        a.to("r").emit("one")
        node = node_of(a)
        await wait_until(lambda: node.own_position != "0-0")
        offset = node.own_position
        a.of("/").adapter.persist_session(Session("sid-1", "pid-1", frozenset({"r"}), {"k": 1}))
        a.to("r").emit("two")
        a.to("s").emit("not for it")
        # A has sent all three (and the session, queued before them), and B has read them.
        await wait_until(lambda: node.own_position != offset)
        sent = id_key(node.own_position)
        await wait_until(lambda: id_key(node_of(b).read_position) >= sent)
        # Kept in Redis for the recovery window.
        async with open_redis(parse_redis_url(redis.url)) as client:
            ttl = await client.pttl(b"test:session:pid-1")
        assert 50_000 < ttl <= 60_000

        async def restored() -> Session | None:
            return await b.of("/").adapter.restore_session("pid-1", offset)

        session = await restored()
        assert session is not None
        assert (session.sid, session.rooms, session.data) == ("sid-1", frozenset({"r"}), {"k": 1})
        assert [frames[0][:9] for frames in session.missed] == ['42["two",']
        assert await restored() is None
        assert await a.of("/").adapter.restore_session("pid-1", offset) is None


@pytest.mark.node
async def test_node_socket_io_client_recovers_on_another_server(redis: RedisServer) -> None:
    a, b = recovering(redis.url), recovering(redis.url)
    async with cluster([a, b]) as (on_a, on_b), switch_proxy(on_a.port) as proxy:

        @a.on("join")
        async def join(socket: Socket, room: str) -> str:
            socket.join(room)
            a.to(room).emit("before", 0)
            return "joined"

        @a.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            # The client closed its transport on "before": it will come back through B.
            proxy.switch(on_b.port)
            a.to("r").emit("missed", 1)
            a.to("elsewhere").emit("other", 9)
            a.to("r").emit("missed", 2)

        first, *rest = await run_node("recovery.mjs", proxy.url, "websocket")
        assert (first["connect"], first["recovered"]) == (1, False)
        connects = [line for line in rest if "connect" in line]
        assert connects == [{"connect": 2, "id": first["id"], "recovered": True}]
        events = [(line["event"], line["args"][:-1]) for line in rest if "event" in line]
        assert events == [("before", [0]), ("missed", [1]), ("missed", [2])]
