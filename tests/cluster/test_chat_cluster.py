"""One chat on several nodes sharing a real redis-server: every client sees what it would
on one server, whichever node it and the others are on."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio
import trio.testing
from coredis.tokens import PureToken

from minidiscord.app import ChatApp
from minidiscord.chat.cluster.node import ClusterNode
from minidiscord.chat.cluster.presence import Beat
from minidiscord.chat.models import User
from minidiscord.redis.connection import RedisUnavailable, open_redis
from minidiscord.redis.target import parse_redis_url
from tests.support.chatclient import ChatClient
from tests.support.redisserver import RedisServer
from tests.support.servers import (
    RunningServer,
    ServerFactory,
    holding_users_on_shutdown,
    start_nodes,
)

# How long a node shutting down holds its users online: a reconnect to another node comes
# well within it, even on a loaded machine.
GRACE = 3.0

MakeClient = Callable[[str, RunningServer], ChatClient]


@pytest.fixture
async def clients(nursery: trio.Nursery) -> AsyncIterator[MakeClient]:
    """A factory of recording clients on a given node, all closed at the end."""
    made: list[ChatClient] = []

    def make(name: str, node: RunningServer) -> ChatClient:
        client = ChatClient(node.url, name, nursery=nursery)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def join(make: MakeClient, name: str, node: RunningServer, **auth: Any) -> ChatClient:
    client = make(name, node)
    await client.connect(auth if "sessionId" in auth else {"username": name, **auth})
    return client


def cluster(node: RunningServer) -> Any:
    app = node.app
    assert isinstance(app, ChatApp)
    assert app.cluster is not None
    return app.cluster


def texts(client: ChatClient, channel: str = "general") -> list[str]:
    return [m["message"] for m in client.messages(channel)]


async def test_messages_from_every_node_reach_every_client_once_in_one_order(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    nodes = await start_nodes(start_server, redis.url, 3)
    people = [await join(clients, f"user{i}", nodes[i % 3]) for i in range(6)]
    sent: list[str] = []

    async def send_all(client: ChatClient) -> None:
        for n in range(10):
            text = f"{client.name} #{n}"
            ack = await client.send("general", text)
            assert ack["ok"] is True, ack
            sent.append(text)

    async with trio.open_nursery() as senders:
        for client in people:
            senders.start_soon(send_all, client)
    for client in people:
        await client.wait_for("message:channel", count=len(sent))
    orders = [texts(client) for client in people]
    assert sorted(orders[0]) == sorted(sent)  # each exactly once
    assert all(order == orders[0] for order in orders)  # the same order on every node
    ids = [m["id"] for m in people[0].messages("general")]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all([m["id"] for m in c.messages("general")] == ids for c in people)


async def test_a_sender_sees_its_own_message_before_its_ack(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    alice = await join(clients, "alice", a)
    bob = await join(clients, "bob", b)
    ack = await alice.send("general", "hello")
    assert ack["ok"] is True
    assert [m["id"] for m in alice.messages("general")] == [ack["id"]]
    await bob.wait_for("message:channel")
    assert texts(bob) == ["hello"]


async def test_tabs_on_two_nodes_are_one_online_user(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    watcher = await join(clients, "watcher", a)
    tab1 = await join(clients, "alice", a)
    alice_id = tab1.session["userId"]
    tab2 = await join(clients, "tab2", b, sessionId=tab1.session["sessionId"])
    assert tab2.session["userId"] == alice_id
    users = {u["userId"]: u["connected"] for u in tab2.received("users")[-1][0]}
    assert users[alice_id] is True
    assert users[watcher.session["userId"]] is True
    await tab1.disconnect()
    # Only the last tab going makes alice offline: the marker comes after anything the
    # first tab's going could have caused.
    await watcher.send("general", "marker")
    await watcher.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
    assert watcher.received("user:disconnect") == []
    await tab2.disconnect()
    (gone,) = await watcher.wait_for("user:disconnect")
    assert gone == {"userId": alice_id, "username": "alice", "connected": False, "role": "guest"}
    joins = [args[0]["userId"] for args in watcher.received("user:join")]
    assert joins == [alice_id]
    assert watcher.received("user:connect") == []


async def test_a_newcomer_on_another_node_sees_who_is_online(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    alice = await join(clients, "alice", a)
    bob = await join(clients, "bob", b)
    (joined,) = await alice.wait_for("user:join")
    assert joined["userId"] == bob.session["userId"]
    listed = {u["username"]: u["connected"] for u in bob.received("users")[0][0]}
    assert listed == {"alice": True, "bob": True}
    assert bob.received("user:join") == []  # not its own announcement


async def test_a_session_restores_on_another_node(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    watcher = await join(clients, "watcher", b)
    alice = await join(clients, "alice", a)
    await alice.send("general", "before")
    session = alice.session
    await alice.disconnect()
    await watcher.wait_for("user:disconnect")
    again = await join(clients, "again", b, sessionId=session["sessionId"])
    assert again.session["userId"] == session["userId"]
    assert again.session["sessionId"] == session["sessionId"]
    (back,) = await watcher.wait_for("user:connect")
    assert back["userId"] == session["userId"]
    general = next(c for c in again.received("channels")[0][0] if c["name"] == "general")
    assert [m["message"] for m in general["messages"]] == ["before"]


async def test_leaving_on_one_node_ends_the_users_tabs_on_every_node(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    watcher = await join(clients, "watcher", b)
    tab1 = await join(clients, "alice", a)
    tab2 = await join(clients, "tab2", b, sessionId=tab1.session["sessionId"])
    ack = await tab1.call("user:leave")
    assert ack == {"ok": True}
    (reason,) = await tab2.wait_for("disconnect")
    assert reason == "io server disconnect"
    await tab1.wait_for("disconnect")
    (left,) = await watcher.wait_for("user:leave")
    assert left["userId"] == tab1.session["userId"]
    assert tab2.received("user:leave") == []
    await watcher.send("general", "marker")
    await watcher.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
    # Left is not offline: nobody hears of its sockets closing.
    assert watcher.received("user:disconnect") == []
    late = await join(clients, "late", a)
    assert tab1.session["userId"] not in [u["userId"] for u in late.received("users")[0][0]]
    # The session ended everywhere: it names a new user now.
    stale = await join(clients, "stale", b, sessionId=tab1.session["sessionId"])
    assert stale.session["userId"] != tab1.session["userId"]


class HeldReads:
    """Stands in for a node reader's Redis client: its reads can be held before they go
    out (the reader is then stuck where it is, as on a slow or cut-off node)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.hold = False
        self.held = trio.Event()
        self.release = trio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def xread(self, *args: Any, **kwargs: Any) -> Any:
        if self.hold:
            self.held.set()
            await self.release.wait()
            self.hold = False
        return await self._client.xread(*args, **kwargs)


def general_history(client: ChatClient) -> list[str]:
    channels = client.received("channels")[0][0]
    general = next(c for c in channels if c["name"] == "general")
    return [m["message"] for m in general["messages"]]


async def test_a_message_shown_while_a_newcomers_snapshot_was_read_is_its_history(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    sender = await join(clients, "sender", a)
    store = b.app.store  # type: ignore[attr-defined]
    read = store.snapshot
    held, release = trio.Event(), trio.Event()

    async def held_snapshot(channels: Any, limit: int, **users: Any) -> Any:
        result = await read(channels, limit, **users)
        if channels and not held.is_set():
            held.set()
            await release.wait()  # read done: what is stored from now on is not in it
        return result

    store.snapshot = held_snapshot
    newcomer = clients("newcomer", b)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(newcomer.connect, {"username": "newcomer"})
        await held.wait()
        ack = await sender.send("general", "in between")
        assert ack["ok"] is True
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    await sender.send("general", "marker")
    await newcomer.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
    assert general_history(newcomer) == ["in between"]
    assert texts(newcomer) == ["marker"]


async def test_a_message_stored_but_not_yet_shown_by_the_newcomers_node_comes_once(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    sender = await join(clients, "sender", a)
    reader = cluster(b).reader
    reads = HeldReads(reader._client)
    reader._client = reads
    reads.hold = True
    await reads.held.wait()
    ack = await sender.send("general", "in flight")  # shown on a, not yet on b
    assert ack["ok"] is True
    newcomer = clients("newcomer", b)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(newcomer.connect, {"username": "newcomer"})
        await trio.testing.wait_all_tasks_blocked()
        assert newcomer.received("channels") == []  # waiting for its node to catch up
        reads.release.set()
    await sender.send("general", "marker")
    await newcomer.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
    assert general_history(newcomer) + texts(newcomer) == ["in flight", "marker"]


async def test_a_dead_nodes_users_go_offline_and_come_back_when_it_does(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, node_timeout=1.0)
    watcher = await join(clients, "watcher", a)
    alice = await join(clients, "alice", b)
    alice_id = alice.session["userId"]
    node = cluster(b)
    beat = node.presence.beat

    async def no_heartbeat(*args: Any, **kwargs: Any) -> bool:
        raise RedisUnavailable("the test stopped this node's heartbeat")

    node.presence.beat = no_heartbeat
    started = trio.current_time()
    (gone,) = await watcher.wait_for("user:disconnect")
    assert gone["userId"] == alice_id
    # Within the node timeout plus a heartbeat or two (generous for a loaded machine).
    assert trio.current_time() - started < 1.0 + 3.0
    assert "heartbeat" in (await b.app.health() or "")
    node.presence.beat = beat  # it comes back: it finds it was reaped and repairs
    (back,) = await watcher.wait_for("user:connect")
    assert back == {"userId": alice_id, "username": "alice", "connected": True, "role": "guest"}
    # A newcomer sees alice online, and alice's tab was never disturbed.
    late = await join(clients, "late", a)
    listed = {u["userId"]: u["connected"] for u in late.received("users")[0][0]}
    assert listed[alice_id] is True
    assert "disconnect" not in alice.names()


async def http_get(node: RunningServer, path: str) -> tuple[int, str]:
    """(status, body) of a GET on ``node``, over a connection of its own (no client pool:
    a node whose Redis is frozen must still answer this at once)."""
    stream = await trio.open_tcp_stream("127.0.0.1", node.port)
    async with stream:
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        reply = b""
        while chunk := await stream.receive_some(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def healthz(node: RunningServer) -> tuple[int, str]:
    return await http_get(node, "/healthz")


async def wait_for_health(node: RunningServer, status: int) -> str:
    with trio.fail_after(15):
        while True:
            code, body = await healthz(node)
            if code == status:
                return body
            await trio.sleep(0.1)


async def test_a_frozen_redis_refuses_sends_in_time_then_delivery_resumes_in_order(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    alice = await join(clients, "alice", a)
    bob = await join(clients, "bob", b)
    acked = []
    for n in range(3):
        ack = await alice.send("general", f"before {n}")
        assert ack["ok"] is True
        acked.append(f"before {n}")
    redis.freeze()
    try:
        started = trio.current_time()
        ack = await bob.send("general", "while frozen")
        assert ack["ok"] is False
        assert "could not store" in ack["error"]
        assert trio.current_time() - started < 5.0  # the 2 s bound, with room for load
        reason = await wait_for_health(a, 503)
        assert "unavailable" in reason
    finally:
        redis.thaw()
    await wait_for_health(a, 200)
    await wait_for_health(b, 200)
    for n in range(3):
        ack = await bob.send("general", f"after {n}")
        assert ack["ok"] is True
        acked.append(f"after {n}")
    for client in (alice, bob):
        await client.wait_for("message:channel", lambda _c, m: m["message"] == "after 2")
    # Redis ran the refused message when it woke, past its deadline: it wrote nothing, so
    # no one is shown it.
    assert texts(alice) == texts(bob) == acked


async def test_redis_killed_and_restarted_on_its_aof_loses_nothing_acknowledged(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    alice = await join(clients, "alice", a)
    bob = await join(clients, "bob", b)
    acked = []
    for n in range(5):
        ack = await (alice if n % 2 else bob).send("general", f"one {n}")
        assert ack["ok"] is True
        acked.append(f"one {n}")
    await redis.kill()
    ack = await alice.send("general", "while down")
    assert ack["ok"] is False
    await redis.start()
    await wait_for_health(a, 200)
    await wait_for_health(b, 200)
    for n in range(5):
        ack = await (alice if n % 2 else bob).send("general", f"two {n}")
        assert ack["ok"] is True
        acked.append(f"two {n}")
    for client in (alice, bob):
        await client.wait_for("message:channel", lambda _c, m: m["message"] == "two 4")
    assert texts(alice) == texts(bob) == acked
    late = await join(clients, "late", b)
    assert general_history(late) == acked


async def test_connects_are_refused_with_a_reason_while_redis_is_frozen(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    (a,) = await start_nodes(start_server, redis.url, 1)
    alice = await join(clients, "alice", a)
    redis.freeze()
    try:
        refused = clients("refused", a)
        with trio.fail_after(10):  # the store read's 2 s bound, with room for load
            data = await refused.connect_refused({"sessionId": alice.session["sessionId"]})
        assert "try again later" in data["message"]
    finally:
        redis.thaw()
    await wait_for_health(a, 200)
    again = await join(clients, "again", a, sessionId=alice.session["sessionId"])
    assert again.session["userId"] == alice.session["userId"]


async def test_a_node_left_behind_by_the_logs_trimming_resyncs_its_clients(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    sender = await join(clients, "sender", a)
    behind = await join(clients, "behind", b)
    reader = cluster(b).reader
    reads = HeldReads(reader._client)
    reader._client = reads
    reads.hold = True
    await reads.held.wait()
    for n in range(3):
        assert (await sender.send("general", f"missed {n}"))["ok"] is True
    # What MAXLEN does to a log that outgrew it, done at once: the entries node b has not
    # read yet are gone.
    async with open_redis(parse_redis_url(redis.url)) as client:
        await client.xtrim(cluster(a).keys.log, PureToken.MAXLEN, 1)
    reads.release.set()
    (reason,) = await behind.wait_for("disconnect")
    assert reason == "transport close"  # so a socket.io client reconnects
    again = await join(clients, "again", b, sessionId=behind.session["sessionId"])
    assert general_history(again) == ["missed 0", "missed 1", "missed 2"]
    assert (await sender.send("general", "after"))["ok"] is True
    await again.wait_for("message:channel", lambda _c, m: m["message"] == "after")
    assert texts(again) == ["after"]


async def test_a_node_shutting_down_lets_its_users_go_after_the_presence_grace(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    # A long node timeout: only the goodbye can make alice offline within the test.
    a, b = await start_nodes(
        start_server, redis.url, 2, node_timeout=60.0, **holding_users_on_shutdown(0.5)
    )
    watcher = await join(clients, "watcher", a)
    alice = await join(clients, "alice", b)
    await b.stop_as_the_command_does()
    await alice.wait_for("disconnect")
    (gone,) = await watcher.wait_for("user:disconnect")
    assert gone["userId"] == alice.session["userId"]


async def test_users_reconnecting_to_another_node_within_the_grace_never_show_offline(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    # Time for a loaded machine to reconnect: a reconnect after the grace is a real offline.
    a, b = await start_nodes(
        start_server, redis.url, 2, node_timeout=60.0, **holding_users_on_shutdown(GRACE)
    )
    watcher = await join(clients, "watcher", a)
    alice = await join(clients, "alice", b)
    node_b = cluster(b).node_id
    await b.stop_as_the_command_does()
    await alice.wait_for("disconnect")
    # What a standard client does at a transport close: reconnect, here to the other node.
    again = await join(clients, "again", a, sessionId=alice.session["sessionId"])
    # Node b may use its whole shutdown timeout (hypercorn waits out open connections first,
    # then the grace, then the goodbye's bounded calls): the wait covers it on a loaded machine.
    stopping = holding_users_on_shutdown(GRACE)["shutdown_timeout"]
    async with open_redis(parse_redis_url(redis.url)) as client:
        with trio.fail_after(stopping + 10):
            # Polled: Redis has no event for it.
            while await client.zscore(cluster(a).keys.nodes, node_b) is not None:  # noqa: ASYNC110
                await trio.sleep(0.05)  # until node b said goodbye
    await again.send("general", "marker")
    await watcher.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
    assert watcher.received("user:disconnect") == []
    assert watcher.received("user:connect") == []


async def registered(redis: RedisServer, node: RunningServer) -> bool:
    """Whether ``node`` is in the cluster's list of live nodes."""
    async with open_redis(parse_redis_url(redis.url)) as client:
        return await client.zscore(cluster(node).keys.nodes, cluster(node).node_id) is not None


async def test_a_node_that_said_goodbye_never_beats_again(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    # A beat every 0.1 s: a dozen would come while the test waits.
    (a,) = await start_nodes(start_server, redis.url, 1, node_timeout=0.4)
    assert await registered(redis, a)
    # Its tasks still run, as they do while a stopping server closes its stores.
    await cluster(a).leave()
    await trio.sleep(12 * cluster(a).heartbeat_interval)
    assert not await registered(redis, a)


async def test_the_goodbye_waits_for_a_beat_in_flight(
    start_server: ServerFactory,
    redis: RedisServer,
    nursery: trio.Nursery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (a,) = await start_nodes(start_server, redis.url, 1)
    node: ClusterNode = cluster(a)
    in_flight, release = trio.Event(), trio.Event()
    beat = node.presence.beat

    async def held_beat(*args: Any, **kwargs: Any) -> Beat:
        in_flight.set()
        await release.wait()
        return await beat(*args, **kwargs)

    monkeypatch.setattr(node.presence, "beat", held_beat)
    await in_flight.wait()
    left = trio.Event()

    async def leave() -> None:
        await node.leave()
        left.set()

    nursery.start_soon(leave)
    # Ample for the goodbye's own Redis calls, were it not waiting for the beat.
    await trio.testing.wait_all_tasks_blocked(cushion=0.1)
    assert not left.is_set()
    release.set()
    await left.wait()
    assert not await registered(redis, a)


async def test_a_redis_frozen_longer_than_the_node_timeout_reaps_no_node(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, node_timeout=1.0)
    alice = await join(clients, "alice", a)
    bob = await join(clients, "bob", b)
    redis.freeze()
    try:
        await trio.sleep(2.5)  # the outage itself: past every node's expiry
    finally:
        redis.thaw()
    await wait_for_health(a, 200)
    await wait_for_health(b, 200)
    # Heartbeats resumed (a few rounds): a reap would have happened by now.
    await trio.sleep(2.0)
    assert (await bob.send("general", "marker"))["ok"] is True
    for client in (alice, bob):
        await client.wait_for("message:channel", lambda _c, m: m["message"] == "marker")
        assert client.received("user:disconnect") == []


async def metrics_of(node: RunningServer) -> dict[str, float]:
    _, body = await http_get(node, "/metrics")
    return {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line.startswith("minidiscord_") and len(line.split()) == 2
    }


PARTS = ("reader", "heartbeat")


async def test_metrics_show_the_cluster_and_the_bus(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, node_timeout=1.0)
    alice = await join(clients, "alice", a)
    assert (await alice.send("general", "hello"))["ok"] is True
    with trio.fail_after(10):
        # Both nodes counted, and the message applied, as of b's next heartbeat.
        while (seen := await metrics_of(b))["minidiscord_cluster_nodes"] != 2:  # noqa: ASYNC110
            await trio.sleep(0.05)
    assert seen["minidiscord_bus_lag_entries"] == 0
    assert seen["minidiscord_redis_trouble"] == 0
    assert 0 <= seen["minidiscord_bus_lag_seconds"] < 5
    # The message's hop from a to b was timed.
    assert seen["minidiscord_bus_delay_seconds_count"] == 1
    assert seen['minidiscord_redis_reconnects_total{part="reader"}'] == 0
    redis.freeze()
    try:
        with trio.fail_after(15):
            while (await metrics_of(b))["minidiscord_redis_trouble"] != 1:  # noqa: ASYNC110
                await trio.sleep(0.1)
    finally:
        redis.thaw()
    with trio.fail_after(15):
        # Redis is back: whichever of the reader and the heartbeat noticed it counts a
        # reconnect.
        while (seen := await metrics_of(b))["minidiscord_redis_trouble"] != 0:  # noqa: ASYNC110
            await trio.sleep(0.1)
    reconnects = [seen[f'minidiscord_redis_reconnects_total{{part="{part}"}}'] for part in PARTS]
    assert sum(reconnects) >= 1


async def test_presence_leaves_nothing_behind_in_redis(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    tab1 = await join(clients, "alice", a)
    tab2 = await join(clients, "tab2", b, sessionId=tab1.session["sessionId"])
    bob = await join(clients, "bob", b)
    keys = cluster(a).keys
    async with open_redis(parse_redis_url(redis.url)) as client:
        assert await client.hlen(keys.online) == 2
        assert await client.hget(keys.online, tab1.session["userId"]) == b"2"  # two nodes
        for client_ in (tab1, tab2, bob):
            await client_.disconnect()
        with trio.fail_after(10):
            while await client.hlen(keys.online):  # noqa: ASYNC110 - polled: no event
                await trio.sleep(0.05)
        assert await client.hlen(keys.online_user) == 0
        for node in (a, b):
            node_id = cluster(node).node_id
            assert await client.hlen(keys.node_prefix() + node_id) == 0
            assert await client.hlen(keys.node_users_prefix() + node_id) == 0


async def test_a_node_out_of_step_with_redis_repairs_it_at_its_next_heartbeat(
    start_server: ServerFactory, redis: RedisServer, clients: MakeClient
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, node_timeout=1.0)
    watcher = await join(clients, "watcher", a)
    presence = cluster(b).presence
    # A registration Redis holds but the node does not (as when an `up` timed out, was
    # refused to its client, and Redis applied it when it woke): a ghost online user.
    ghost = User("ghost-user", "ghost")
    await presence.up("ghost-socket", ghost)
    await watcher.wait_for("user:connect", lambda u: u["userId"] == "ghost-user")
    presence._sockets.pop("ghost-socket")
    presence.out_of_step = True
    (gone,) = await watcher.wait_for("user:disconnect")
    assert gone == {
        "userId": "ghost-user",
        "username": "ghost",
        "connected": False,
        "role": "guest",
    }
    assert presence.out_of_step is False


async def test_a_user_going_offline_while_a_connect_reads_is_listed_offline(
    start_server: ServerFactory,
    redis: RedisServer,
    clients: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Redis leaves the users online anywhere out of a connect's snapshot (the node mirrors
    # them). One who goes offline between that read and the join is in neither: the node
    # lists them from the log's `offline` entries after the snapshot's position.
    a, b = await start_nodes(start_server, redis.url, 2)
    watcher = await join(clients, "watcher", a)
    alice = await join(clients, "alice", b)
    alice_id = alice.session["userId"]
    app = a.app
    assert isinstance(app, ChatApp)
    store = app.store
    read = store.snapshot
    held, release = trio.Event(), trio.Event()

    async def held_snapshot(*args: Any, **kwargs: Any) -> Any:
        snapshot = await read(*args, **kwargs)
        if args and args[0] and not held.is_set():
            held.set()
            await release.wait()
        return snapshot

    monkeypatch.setattr(store, "snapshot", held_snapshot)
    newcomer = clients("newcomer", a)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(newcomer.connect, {"username": "newcomer"})
        await held.wait()
        await alice.disconnect()
        await watcher.wait_for("user:disconnect")  # node A applied alice's offline entry
        release.set()
    users = {u["userId"]: u["connected"] for u in newcomer.received("users")[-1][0]}
    assert users == {
        watcher.session["userId"]: True,
        alice_id: False,
        newcomer.session["userId"]: True,
    }
