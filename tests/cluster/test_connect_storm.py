"""Many users connecting at once to two nodes: each client learns of every other user exactly
once, from the `users` list of its greeting or from a `user:join` after it.

Which of the two depends on the order the cluster's log reader applies arrivals in (several
in one batch see each other in their `users` lists and get no `user:join` for each other),
so a storm on a cluster delivers fewer `user:join`s than one client at a time would; what
no client may miss is anyone, and none may be told of anyone twice.

Twice was what a user created (stored in Redis) but whose arrival the log had not applied
yet used to be: in another connect's snapshot as an offline user, then announced to it with
a `user:join`. The store marks a user it creates as not yet shown (``P:unshown``) and a
connect snapshot leaves such users out; the presence script that logs the user's first
arrival takes the mark away in the same step, and that entry is the `user:join`. The last
tests here take that apart: a user whose arrival never comes (its node crashed) is hidden
until the heartbeat drops its mark, and a never-shown user's later arrival is its join.
"""

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import trio

from minidiscord.app import ChatApp
from minidiscord.chat.store.redis import RedisStore
from minidiscord.redis.connection import open_redis
from minidiscord.redis.target import parse_redis_url
from tests.support.chatclient import ChatClient, Clients
from tests.support.redisserver import RedisServer
from tests.support.servers import RunningServer, ServerFactory, start_nodes
from tests.support.waiting import wait_until

STORM = 30


def acquaintances(client: ChatClient) -> Counter[str]:
    """How many times ``client`` was told of each other user: in the first `users` list
    it received, and in each `user:join`."""
    (users,) = client.received("users")[0][:1]
    told = Counter(user["username"] for user in users)
    told.update(user["username"] for (user,) in client.received("user:join"))
    told.pop(client.name, None)
    return told


async def test_a_storm_on_two_nodes_tells_every_client_of_every_other_user_exactly_once(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    nodes = await start_nodes(start_server, redis.url, 2)
    names = [f"storm{number}" for number in range(STORM)]
    async with trio.open_nursery() as nursery:
        for number, name in enumerate(names):
            node = nodes[number % 2]
            nursery.start_soon(clients.join, node.url, {"username": name}, name)
    everyone = Counter(names)

    def missing() -> dict[str, list[str]]:
        return {
            client.name: sorted(set(everyone) - set(acquaintances(client)) - {client.name})
            for client in clients.made
            if set(acquaintances(client)) | {client.name} != set(everyone)
        }

    with contextlib.suppress(trio.TooSlowError):
        await wait_until(lambda: not missing(), timeout=20)
    assert missing() == {}
    # Nobody the storm did not bring, nobody twice.
    for client in clients.made:
        told = acquaintances(client)
        assert set(told) == {name for name in names if name != client.name}
        twice = {name: times for name, times in told.items() if times != 1}
        assert twice == {}, (client.name, twice)
    joins = sum(len(client.received("user:join")) for client in clients.made)
    # At most each client announced to every one before it (fewer when arrivals were
    # applied together).
    assert joins <= STORM * (STORM - 1) // 2


def listed(client: ChatClient) -> dict[str, bool]:
    """The users of ``client``'s greeting by name, each with whether it is online."""
    (users,) = client.received("users")[0][:1]
    return {user["username"]: user["connected"] for user in users}


def chat_store(node: RunningServer) -> RedisStore:
    app = node.app
    assert isinstance(app, ChatApp)
    assert isinstance(app.store, RedisStore)
    return app.store


def named(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda user: user["username"] == name


async def test_a_user_stored_but_never_shown_is_not_listed_and_its_first_arrival_is_its_join(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    # What a connect on b does first, as if b crashed right after: the user is stored, its
    # arrival never logged.
    ghost, session = await chat_store(b).create_user("ghost", seen=int(time.time() * 1000))
    watcher = await clients.join(a.url, {"username": "watcher"}, "watcher")
    assert "ghost" not in listed(watcher)
    # The user comes after all (as an account's user does when it logs in again; a guest's
    # session here): nobody was ever told of it, so its arrival is a `user:join`, whatever
    # connect brings it.
    await clients.join(b.url, {"sessionId": session.session_id}, "ghost")
    (joined,) = await watcher.wait_for("user:join", named("ghost"))
    assert joined["userId"] == ghost.user_id
    late = await clients.join(a.url, {"username": "late"}, "late")
    assert listed(late)["ghost"] is True
    await late.disconnect()
    await watcher.wait_for("user:disconnect", named("late"))
    assert [u["username"] for (u,) in watcher.received("user:join")] == ["ghost", "late"]
    assert watcher.received("user:connect") == []


async def test_a_user_whose_arrival_never_comes_is_listed_offline_once_its_mark_is_old(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2)
    store = chat_store(b)
    orphan, session = await store.create_user("orphan", seen=int(time.time() * 1000))
    async with open_redis(parse_redis_url(redis.url)) as client:
        assert await client.zscore(store.keys.unshown, orphan.user_id) is not None
        # Older than any connect takes to register: the one that made it never will.
        await client.zadd(store.keys.unshown, {orphan.user_id: 0})
        with trio.fail_after(10):
            # A heartbeat (every second) drops it.
            while await client.zscore(store.keys.unshown, orphan.user_id) is not None:  # noqa: ASYNC110
                await trio.sleep(0.05)
    watcher = await clients.join(a.url, {"username": "watcher"}, "watcher")
    assert listed(watcher)["orphan"] is False
    # Listed, so its arrival is no longer news: it comes online.
    await clients.join(b.url, {"sessionId": session.session_id}, "orphan")
    (back,) = await watcher.wait_for("user:connect", named("orphan"))
    assert back["userId"] == orphan.user_id
    assert watcher.received("user:join") == []
