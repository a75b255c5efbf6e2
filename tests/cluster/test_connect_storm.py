"""Many users connecting at once to two nodes: each client learns of every other user exactly
once, from the `users` list of its greeting or from a `user:join` after it.

Which of the two depends on the order the cluster's log reader applies arrivals in (several
in one batch see each other in their `users` lists and get no `user:join` for each other),
so a storm on a cluster delivers fewer `user:join`s than one client at a time would; what
no client may miss is anyone.

Some are told twice: a user created (stored in Redis) but whose arrival the log has not
applied yet is in another connect's snapshot as an offline user, listed so in its `users`,
and announced to it with a `user:join` once applied. The client ends knowing them online,
but the web page, which shows "has joined" only for a user it did not list, shows no join
line for them. Not fixed (see docs/benchmarks.md, "The connect storm, counted per client").
"""

import contextlib
from collections import Counter

import trio

from tests.support.chatclient import ChatClient, Clients
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes
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
    # Nobody the storm did not bring, and whoever was told twice was first listed offline
    # (created, not yet shown online), then announced.
    for client in clients.made:
        told = acquaintances(client)
        assert set(told) == {name for name in names if name != client.name}
        (users,) = client.received("users")[0][:1]
        listed = {user["username"]: user["connected"] for user in users}
        joined = [user["username"] for (user,) in client.received("user:join")]
        for name, times in told.items():
            assert times in (1, 2), (client.name, name)
            if times == 2:
                assert (listed.get(name), joined.count(name)) == (False, 1), (client.name, name)
    joins = sum(len(client.received("user:join")) for client in clients.made)
    # At most each client announced to every one before it (fewer when arrivals were
    # applied together).
    assert joins <= STORM * (STORM - 1) // 2
