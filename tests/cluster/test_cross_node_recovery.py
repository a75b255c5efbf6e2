"""Connection state recovery of the chat across nodes: a client drops from node A and its
next connection lands on node B (a forwarder standing for the load balancer cuts it, holds
it away while a client on node C talks, then sends it to B). Within the window it gets its
socket back on B, with every message and presence event it missed once and in order and no
new greeting, and nobody sees it go offline; past the window, or once B no longer holds
what it missed, it gets a new socket and a fresh greeting. Our trio client and node's
socket.io-client 4.8 (unchanged)."""

from typing import Any

import pytest
import trio
from coredis.tokens import PureToken

from benchkit.processes import free_port
from minidiscord.app import ChatApp
from minidiscord.chat.cluster.node import ClusterNode
from minidiscord.client import Client
from minidiscord.redis.connection import open_redis
from minidiscord.redis.target import parse_redis_url
from tests.chat.test_recovery import Seen, chat_client, send
from tests.cluster.test_chat_cluster import HeldReads
from tests.support.nodeclient import run_node
from tests.support.redisserver import RedisServer
from tests.support.servers import (
    RunningServer,
    ServerFactory,
    holding_users_on_shutdown,
    start_nodes,
)
from tests.support.switchproxy import SwitchProxy, switch_proxy
from tests.support.waiting import wait_until

# Longer than a client takes to come back here: nobody may see it go offline.
GRACE = 10.0
# What a node shutting down holds its users for (it sleeps that long as it stops).
SHUTDOWN_GRACE = 3.0


def node_of(server: RunningServer) -> ClusterNode:
    app = server.app
    assert isinstance(app, ChatApp)
    assert app.cluster is not None
    return app.cluster


def sockets_of(server: RunningServer) -> set[str]:
    return set(server.app.sio.of("/").sockets)


def returning_client(name: str, delay: float = 0.1) -> Client:
    """A client that signs in as ``name`` and, once it has a session, restores it (what the
    chat's own page does): a connect that is not a recovery is still the same user."""
    session: dict[str, Any] = {}

    def auth() -> dict[str, Any]:
        if "sessionId" in session:
            return {"sessionId": session["sessionId"]}
        return {"username": name}

    client = chat_client(auth=auth, reconnection_delay=0.1, reconnection_delay_max=0.2)
    client.on("session", lambda data, *_offset: session.update(data))
    return client


async def gone_from(server: RunningServer, sid: str) -> None:
    """Until ``server`` let the socket go and kept its session in Redis."""
    await wait_until(lambda: sid not in sockets_of(server))
    await wait_until(lambda: node_of(server).recovery.sessions.pending == 0)


async def cut_away(proxy: SwitchProxy, server: RunningServer, sid: str | None) -> str:
    """Cut the proxied client off ``server`` and hold it away (nothing listens where the
    proxy now points) until the server let its socket go; the socket's id."""
    assert sid is not None
    proxy.switch(free_port())
    await gone_from(server, sid)
    return sid


def story(seen: Seen) -> list[tuple[str, str]]:
    """What a client was told of messages and of other users, in order."""
    told = []
    for event, args in seen.events:
        if event == "message:channel":
            told.append((event, f"{args[0]}: {args[1]['message']}"))
        elif event.startswith("user:"):
            told.append((event, args[0]["username"]))
    return told


async def test_a_client_recovers_on_another_node_with_what_a_third_node_sent(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b, c = await start_nodes(
        start_server, redis.url, 3, recovery_window=60.0, presence_grace=GRACE
    )
    alice, bob = returning_client("alice"), chat_client(auth={"username": "bob"})
    seen, watching = Seen(alice), Seen(bob)
    async with (
        switch_proxy(a.port) as proxy,
        bob.connect(c.url) as on_c,
        alice.connect(proxy.url) as socket,
    ):
        await wait_until(lambda: bool(seen.named("users")))
        await send(on_c, "general", "before")
        await wait_until(lambda: seen.texts("general") == ["before"])
        first_id = await cut_away(proxy, a, socket.id)
        await send(on_c, "general", "away 1")
        carol = chat_client(auth={"username": "carol"}, reconnection=False)
        async with carol.connect(c.url) as on_c2:
            await send(on_c2, "react", "away 2")
        await wait_until(lambda: bool(watching.named("user:disconnect")))
        await send(on_c, "general", "away 3")

        proxy.switch(b.port)
        await wait_until(lambda: socket.connected)
        assert socket.recovered
        assert socket.id == first_id
        assert sockets_of(b) == {first_id}
        await send(on_c, "general", "after")
        await wait_until(lambda: "after" in seen.texts("general"))
        # Recovered as the same user, in its rooms.
        restored = b.app.sio.of("/").sockets[first_id]
        assert restored.data["user"].username == "alice"
        assert {"welcome", "general", "react"} <= restored.rooms

    assert story(seen) == [
        ("message:channel", "general: before"),
        ("message:channel", "general: away 1"),
        ("user:join", "carol"),
        ("message:channel", "react: away 2"),
        ("user:disconnect", "carol"),
        ("message:channel", "general: away 3"),
        ("message:channel", "general: after"),
    ]
    # No new greeting.
    assert [len(seen.named(name)) for name in ("session", "channels", "users")] == [1, 1, 1]
    # Offsets are log positions: a message's is its id's entry, the same on every node.
    for _channel, message, offset in seen.named("message:channel"):
        assert offset == f"0-{message['id']}"
    # Back within the grace, on another node: never offline for the others.
    assert [name for name, who in story(watching) if who == "alice"] == ["user:join"]


async def test_past_the_window_the_client_gets_a_new_socket_and_a_fresh_greeting(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b, c = await start_nodes(start_server, redis.url, 3, recovery_window=1.0, presence_grace=0.0)
    alice, bob = returning_client("alice"), chat_client(auth={"username": "bob"})
    seen = Seen(alice)
    async with (
        switch_proxy(a.port) as proxy,
        bob.connect(c.url) as on_c,
        alice.connect(proxy.url) as socket,
    ):
        await wait_until(lambda: bool(seen.named("users")))
        first_id = await cut_away(proxy, a, socket.id)
        await send(on_c, "general", "away")
        keys = node_of(a).keys
        async with open_redis(parse_redis_url(redis.url)) as client:
            with trio.fail_after(10):
                # Polled: Redis has no event for an expiry.
                while await client.keys(keys.recovery("*")):  # noqa: ASYNC110
                    await trio.sleep(0.05)

        proxy.switch(b.port)
        await wait_until(lambda: socket.connected and len(seen.named("users")) == 2)
        assert not socket.recovered
        assert socket.id != first_id
        await send(on_c, "general", "after")
        await wait_until(lambda: "after" in seen.texts("general"))

    # The same user, greeted afresh: what it missed is in its new history, and only there.
    first, again = seen.named("session")
    assert first[0]["userId"] == again[0]["userId"]
    general = next(c for c in seen.named("channels")[1][0] if c["name"] == "general")
    assert [m["message"] for m in general["messages"]] == ["away"]
    assert seen.texts("general") == ["after"]


async def test_a_node_that_resynced_past_the_offset_greets_the_client_afresh(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b, c = await start_nodes(
        start_server, redis.url, 3, recovery_window=60.0, presence_grace=GRACE
    )
    alice, bob = returning_client("alice"), chat_client(auth={"username": "bob"})
    seen = Seen(alice)
    async with (
        switch_proxy(a.port) as proxy,
        bob.connect(c.url) as on_c,
        alice.connect(proxy.url) as socket,
    ):
        await wait_until(lambda: bool(seen.named("users")))
        first_id = await cut_away(proxy, a, socket.id)
        # Node b falls behind; the log is trimmed past what it has read (what MAXLEN does to
        # a node away too long), so b resyncs and no longer holds what alice missed.
        reader: Any = node_of(b).reader  # its Redis client is swapped for one that holds
        reads = HeldReads(reader._client)
        reader._client = reads
        reads.hold = True
        await reads.held.wait()
        await send(on_c, "general", "away 1")
        await send(on_c, "general", "away 2")
        async with open_redis(parse_redis_url(redis.url)) as client:
            await client.xtrim(node_of(a).keys.log, PureToken.MAXLEN, 1)
        behind = reader.position
        reads.release.set()
        await wait_until(lambda: node_of(b).recovery.tail.complete_after > behind)

        proxy.switch(b.port)
        await wait_until(lambda: socket.connected and len(seen.named("users")) == 2)
        assert not socket.recovered
        assert socket.id != first_id

    general = next(c for c in seen.named("channels")[1][0] if c["name"] == "general")
    assert [m["message"] for m in general["messages"]] == ["away 1", "away 2"]
    assert seen.texts("general") == []


async def test_the_clients_of_a_node_shutting_down_recover_on_another(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    # A node timeout that only the goodbye can beat; b holds its users as it stops, long
    # enough for alice to come back on a even on a loaded machine.
    a, b = await start_nodes(
        start_server,
        redis.url,
        2,
        recovery_window=60.0,
        node_timeout=60.0,
        **holding_users_on_shutdown(SHUTDOWN_GRACE),
    )
    # socket.io-client's first reconnection comes after 0.5-1.5 s; this one after 0.3 s.
    alice, bob = returning_client("alice", delay=0.3), chat_client(auth={"username": "bob"})
    seen, watching = Seen(alice), Seen(bob)
    async with (
        switch_proxy(b.port) as proxy,
        bob.connect(a.url) as on_a,
        alice.connect(proxy.url) as socket,
    ):
        await wait_until(lambda: bool(seen.named("users")))
        first_id = socket.id
        # The balancer's next connections go to a; node b shuts down as the command does
        # (its clients' transports closed cleanly, then the front end and the lifespan).
        proxy.backend = a.port
        await b.stop_as_the_command_does()
        await wait_until(lambda: not socket.connected)
        await send(on_a, "general", "meanwhile")
        await wait_until(lambda: socket.connected, timeout=10)
        assert socket.recovered
        assert socket.id == first_id
        await wait_until(lambda: "meanwhile" in seen.texts("general"))
        await send(on_a, "general", "marker")
        await wait_until(lambda: "marker" in watching.texts("general"))
    assert seen.texts("general") == ["meanwhile", "marker"]
    assert len(seen.named("users")) == 1
    assert [name for name, who in story(watching) if who == "alice"] == ["user:join"]


async def test_a_user_who_left_from_a_tab_on_another_node_is_not_recovered(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b, c = await start_nodes(
        start_server, redis.url, 3, recovery_window=60.0, presence_grace=GRACE
    )
    tab1 = chat_client(
        auth={"username": "alice", "connectErrors": True},
        reconnection_delay=0.1,
        reconnection_delay_max=0.2,
    )
    seen1 = Seen(tab1)
    async with switch_proxy(a.port) as proxy, tab1.connect(proxy.url) as socket:
        session = await seen1.first("session")
        await wait_until(lambda: bool(seen1.named("users")))
        first_id = await cut_away(proxy, a, socket.id)
        tab2 = chat_client(auth={"sessionId": session["sessionId"]})
        async with tab2.connect(c.url) as on_c:
            ack = await on_c.call("user:leave", timeout=5)
            assert ack[0]["ok"]
        # Node b has shown the leave.
        head = node_of(c).reader.position
        await wait_until(lambda: node_of(b).reader.position >= head)
        proxy.switch(b.port)
        # Not any connect error: an attempt that met the held connection fails too.
        await wait_until(lambda: "session has ended" in str(socket.of("/").connect_error))
    assert first_id not in sockets_of(b)


@pytest.mark.node
async def test_node_socket_io_client_recovers_on_another_node(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b, c = await start_nodes(
        start_server, redis.url, 3, recovery_window=60.0, presence_grace=GRACE
    )
    bob = chat_client(auth={"username": "bob"})
    watching = Seen(bob)
    done: list[list[Any]] = []
    async with switch_proxy(a.port) as proxy, bob.connect(c.url) as on_c:

        async def run_client() -> None:
            done.append(await run_node("chat_recovery.mjs", proxy.url, "nodealice", timeout=40))

        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_client)
                await wait_until(lambda: "ready" in watching.texts("general"), timeout=30)
                (sid,) = sockets_of(a)
                first_id = await cut_away(proxy, a, sid)
                await send(on_c, "general", "away 1")
                await send(on_c, "react", "away 2")
                proxy.switch(b.port)
                await wait_until(lambda: sockets_of(b) == {first_id}, timeout=30)
                await send(on_c, "general", "after")

    (lines,) = done
    connects = [line for line in lines if "connect" in line]
    assert [(c["id"], c["recovered"]) for c in connects] == [(first_id, False), (first_id, True)]
    events = [line for line in lines if "event" in line]
    assert [e["event"] for e in events if e["event"] in ("session", "channels", "users")] == [
        "session",
        "channels",
        "users",
    ]
    messages = [e["args"] for e in events if e["event"] == "message:channel"]
    assert [(channel, m["message"]) for channel, m, _ in messages] == [
        ("general", "ready"),
        ("general", "away 1"),
        ("react", "away 2"),
        ("general", "after"),
    ]
    assert all(offset == f"0-{m['id']}" for _, m, offset in messages)
    assert [name for name, who in story(watching) if who == "nodealice"] == ["user:join"]
