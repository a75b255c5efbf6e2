"""A node's presence calls to Redis: the ups and downs asked for while one call is in
flight go together in the next, in the order asked for."""

import time
from collections.abc import AsyncIterator

import orjson
import pytest
import trio
import trio.testing

from minidiscord.chat.cluster.keys import ClusterKeys
from minidiscord.chat.cluster.presence import UNSHOWN_SECONDS, ClusterPresence
from minidiscord.chat.models import User
from minidiscord.redis.connection import RedisClient, open_redis
from minidiscord.redis.target import parse_redis_url
from scripts.cluster_bench import RedisSnapshot
from tests.support.redisserver import RedisServer
from tests.support.waiting import wait_until

KEYS = ClusterKeys("chat")


@pytest.fixture
async def client(redis: RedisServer) -> AsyncIterator[RedisClient]:
    async with open_redis(parse_redis_url(redis.url)) as opened:
        yield opened


async def _node(client: RedisClient, nursery: trio.Nursery) -> ClusterPresence:
    presence = ClusterPresence(client, KEYS, "node-a")
    await presence.beat(10_000, 5_000, first=True)
    await nursery.start(presence.run_calls)
    return presence


def _script_calls(redis: RedisServer) -> int:
    assert redis.process is not None
    return RedisSnapshot.take(redis.port, redis.process.pid).calls.get("evalsha", 0)


async def _log(client: RedisClient) -> list[tuple[object, str]]:
    entries = await client.xrange(KEYS.log)
    return [
        (entry.field_values[b"k"], orjson.loads(entry.field_values[b"d"]).get("socket", ""))
        for entry in entries
        if entry.field_values[b"k"] != b"node"
    ]


async def test_a_burst_of_ups_and_downs_is_one_call_each_in_order(
    redis: RedisServer, client: RedisClient, nursery: trio.Nursery
) -> None:
    presence = await _node(client, nursery)
    users = [User(f"u{n}", f"user{n}", seq=n) for n in range(20)]
    positions: list[int] = []
    asked: list[int] = []

    async def up(n: int) -> None:
        asked.append(n)  # no checkpoint before up() queues it
        positions.append(await presence.up(f"s{n}", users[n]))

    before = _script_calls(redis)
    async with trio.open_nursery() as ups:
        for n in range(20):
            ups.start_soon(up, n)
    # The first may go alone, the others queue behind it (each alone: 20 round trips).
    assert _script_calls(redis) - before <= 2
    head = int(await client.get(KEYS.seq) or 0)
    # Each caller waits for a position at or after its own `online` entry.
    assert max(positions) == head
    assert min(positions) >= 2
    assert sorted(await client.hkeys(KEYS.online)) == sorted(u.user_id.encode() for u in users)

    # Downs are queued without waiting: asked for together, they are one call too.
    before = _script_calls(redis)
    for n in range(10):
        presence.down(f"s{n}")
    await wait_until(lambda: _script_calls(redis) - before == 1)
    await trio.testing.wait_all_tasks_blocked()
    assert _script_calls(redis) - before == 1
    entries = await _log(client)
    assert entries == [(b"online", f"s{n}") for n in asked] + [(b"offline", "") for _ in range(10)]
    offline = [
        orjson.loads(entry.field_values[b"d"])["user"]["userId"]
        for entry in await client.xrange(KEYS.log)
        if entry.field_values[b"k"] == b"offline"
    ]
    assert offline == [f"u{n}" for n in range(10)]
    online = await client.hkeys(KEYS.online)
    assert sorted(online) == sorted(u.user_id.encode() for u in users[10:])


async def _online_entries(client: RedisClient) -> list[tuple[str, bool]]:
    """Each `online` entry's user and whether it is the user's first ever."""
    found = []
    for entry in await client.xrange(KEYS.log):
        if entry.field_values[b"k"] == b"online":
            data = orjson.loads(entry.field_values[b"d"])
            found.append((data["user"]["userId"], data["first"]))
    return found


async def test_the_online_entry_that_takes_a_users_unshown_mark_is_its_first(
    client: RedisClient, nursery: trio.Nursery
) -> None:
    presence = await _node(client, nursery)
    new, known = User("new", "new"), User("known", "known")
    # As the store marks a user it creates: not yet shown to anyone.
    await client.zadd(KEYS.unshown, {"new": int(time.time() * 1000)})
    await presence.up("s1", new)
    await presence.up("s2", known)
    presence.down("s1")
    await presence.up("s3", new)
    assert await _online_entries(client) == [("new", True), ("known", False), ("new", False)]
    assert await client.zcard(KEYS.unshown) == 0


async def test_a_heartbeat_drops_the_unshown_marks_older_than_any_connect_takes(
    client: RedisClient, nursery: trio.Nursery
) -> None:
    presence = await _node(client, nursery)
    now = int(time.time() * 1000)
    stale = now - int(UNSHOWN_SECONDS * 1000) - 5_000
    await client.zadd(KEYS.unshown, {"stale": stale, "fresh": now})
    await presence.beat(10_000, 5_000, first=False)
    assert await client.zrange(KEYS.unshown, 0, -1) == (b"fresh",)
    # Listed offline since: its arrival is a coming online, not news.
    await presence.up("s1", User("stale", "stale"))
    await presence.up("s2", User("fresh", "fresh"))
    assert await _online_entries(client) == [("stale", False), ("fresh", True)]
