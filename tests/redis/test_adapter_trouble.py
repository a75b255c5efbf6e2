"""The Redis adapter when Redis is in trouble, or a server dies: local delivery never stops,
nothing hangs (requests to the other servers fail within their bound), what the other
servers miss is counted, and once Redis is back they get what is sent after. A server that
dies stops counting within the heartbeat's expiry; one that stops cleanly, at once."""

import logging

import pytest
import trio

from minidiscord.redis.adapter import FetchSocketsTimeout
from minidiscord.redis.adapter_node import id_key
from minidiscord.sockets import Adapter, Recovery, ServerSideEmitTimeout, SocketServer
from tests.redis.adapter_cluster import FAST, cluster, lost, node_of, node_server
from tests.sockets.operators_app import clients, events, rooms_from_auth
from tests.support.rawclient import RawWebSocket
from tests.support.redisserver import RedisServer
from tests.support.servers import serve_any_app
from tests.support.waiting import wait_until

# A request fails within this: a Redis call's bound, then the writer's report.
BOUND = FAST["call_timeout"] * 2 + 1.0
LEAVINGS = 15


async def after_outage(client: RawWebSocket, sent: int) -> list[int]:
    """The "during" events a client of the other server got before "after": some of those
    sent while Redis was out may still have been taken by it (a frozen Redis applies what
    was already in its socket when it thaws), never twice nor out of order."""
    seen = await events(client, "after")
    assert seen[-1] == ["after"]
    numbers = [args[1] for args in seen[:-1]]
    assert all(name == "during" for name, _ in seen[:-1])
    assert numbers == sorted(set(numbers))
    assert set(numbers) <= set(range(sent))
    return numbers


async def requests_fail_in_time(sio: SocketServer) -> None:
    with trio.fail_after(BOUND):
        with pytest.raises(FetchSocketsTimeout, match="1 of 1 servers"):
            await sio.fetch_sockets()
    with trio.fail_after(BOUND):
        with pytest.raises(ServerSideEmitTimeout):
            await sio.server_side_emit_with_ack("anyone", timeout=1.0)
    with trio.fail_after(BOUND):
        # The last count the heartbeats saw.
        assert await sio.of("/").adapter.server_count() == 2


async def test_a_frozen_redis_stops_nothing_local_and_others_resume_after(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "minidiscord.redis.adapter")
    # A small queue, so that it fills while Redis is frozen.
    one, two = node_server(redis.url, queue_size=8), node_server(redis.url)
    async with (
        cluster([one, two]) as (first, second),
        clients(first.ws_url, {"ann": ()}) as on_one,
        clients(second.ws_url, {"bob": ()}) as on_two,
    ):
        ann, bob = on_one["ann"][0], on_two["bob"][0]
        redis.freeze()
        sent = 50
        for number in range(sent):
            one.emit("during", number)
        one.emit("after")
        with trio.fail_after(2):
            assert await events(ann, "after") == [
                *(["during", number] for number in range(sent)),
                ["after"],
            ]
        await requests_fail_in_time(one)
        assert lost(one, "queue full") > 0
        redis.thaw()
        await wait_until(lambda: node_of(one).available and node_of(two).available, 10)
        one.emit("after")
        await after_outage(bob, sent)
    # Said in the log too: when Redis went and came back, and how much was dropped.
    assert "lost Redis" in caplog.text
    assert "dropped" in caplog.text
    assert "reaches Redis at" in caplog.text


async def test_a_killed_redis_back_on_its_aof_resumes_delivery(redis: RedisServer) -> None:
    one, two = node_server(redis.url), node_server(redis.url)
    async with (
        cluster([one, two]) as (first, second),
        clients(first.ws_url, {"ann": ()}) as on_one,
        clients(second.ws_url, {"bob": ()}) as on_two,
    ):
        ann, bob = on_one["ann"][0], on_two["bob"][0]
        one.emit("before")
        assert await events(bob, "before") == [["before"]]
        await redis.kill()
        sent = 5
        for number in range(sent):
            one.emit("during", number)
        one.emit("after")
        with trio.fail_after(2):
            assert (await events(ann, "after"))[-1] == ["after"]
        await requests_fail_in_time(one)
        assert lost(one, "redis unavailable") > 0
        await redis.start()
        await wait_until(lambda: node_of(one).available and node_of(two).available, 10)
        one.emit("after")
        # The servers read on from where they were: the stream survived in the AOF.
        assert await after_outage(bob, sent) == []


async def join_then_leave(sio: SocketServer, adapter: Adapter) -> None:
    """Serve ``sio`` until ``adapter``'s server counts it, then shut it down cleanly."""
    async with trio.open_nursery() as nursery:
        served = await serve_any_app(nursery, rooms_from_auth(sio))
        await wait_until(lambda: node_of(sio).servers == 2)
        assert await adapter.server_count() == 2
        served.shutdown.set()


async def test_a_dead_server_stops_counting_within_the_heartbeat_expiry(
    redis: RedisServer,
) -> None:
    one = node_server(redis.url)
    adapter = one.of("/").adapter
    async with cluster([one]):
        dying = node_server(redis.url)
        with trio.CancelScope() as crash:
            async with trio.open_nursery() as nursery:
                await serve_any_app(nursery, rooms_from_auth(dying))
                await wait_until(lambda: node_of(dying).servers == 2)
                # Cancelled without its shutdown: it never says it left, as after SIGKILL.
                crash.cancel()
        assert await adapter.server_count() == 2
        died = trio.current_time()
        with trio.fail_after(FAST["heartbeat_timeout"] + 1.0):
            while await adapter.server_count() != 1:  # noqa: ASYNC110 - a Redis query, no event
                await trio.sleep(0.05)
        # Not before its last heartbeat expired.
        assert (
            trio.current_time() - died
            > FAST["heartbeat_timeout"] - FAST["heartbeat_interval"] - 0.2
        )

        await join_then_leave(node_server(redis.url), adapter)
        # A server that shuts down says so: it stops counting at once.
        assert await adapter.server_count() == 1


async def test_a_server_leaving_mid_heartbeat_is_not_counted_again(redis: RedisServer) -> None:
    """Heartbeats back to back, so that one is in flight whenever a server starts to leave:
    it must not land after the server said it left (Redis runs commands on two connections
    in whatever order it reads them)."""
    one = node_server(redis.url)
    adapter = one.of("/").adapter
    async with cluster([one]):
        for _ in range(LEAVINGS):
            await join_then_leave(node_server(redis.url, heartbeat_interval=0.001), adapter)
            assert await adapter.server_count() == 1


async def test_with_recovery_a_dead_redis_still_delivers_here_without_offsets(
    redis: RedisServer,
) -> None:
    # A broadcast that gets an offset is delivered here once Redis gave it its id: with
    # Redis gone, it is delivered here all the same, without one.
    one = node_server(redis.url, recovery=Recovery())
    async with cluster([one]) as (first,), clients(first.ws_url, {"ann": ()}) as on_one:
        ann = on_one["ann"][0]
        one.emit("kept", 1)
        ((name, number, offset),) = await events(ann, "kept")
        assert (name, number) == ("kept", 1)
        assert offset == node_of(one).own_position
        await redis.kill()
        with trio.fail_after(BOUND):
            one.emit("unkept", 2)
            one.emit("unkept", 3)
            assert await events(ann, "unkept") == [["unkept", 2]]
            assert await events(ann, "unkept") == [["unkept", 3]]
        await redis.start()
        await wait_until(lambda: node_of(one).available, 10)
        one.emit("kept", 4)
        ((_, number, later),) = await events(ann, "kept")
        assert number == 4
        assert id_key(later) > id_key(offset)
