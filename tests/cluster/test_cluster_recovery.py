"""Connection state recovery on a node of a cluster: a client that blips back to its node
misses nothing sent from another node meanwhile, sees nothing twice, and its user's
presence goes through the log like any other."""

from tests.chat.test_recovery import GRACE, Seen, chat_client, cut, send
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes
from tests.support.waiting import wait_until


async def test_a_blip_on_one_node_misses_nothing_sent_from_another(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, recovery_window=60.0, presence_grace=GRACE)
    alice, bob = chat_client(auth={"username": "alice"}), chat_client(auth={"username": "bob"})
    seen, watching = Seen(alice), Seen(bob)
    async with alice.connect(a.url) as sa, bob.connect(b.url) as sb:
        await wait_until(lambda: bool(seen.named("user:join")))
        await send(sb, "general", "before")
        await wait_until(lambda: seen.texts("general") == ["before"])
        cut(a, alice)
        await wait_until(lambda: not sa.connected)
        await send(sb, "general", "while away")
        await wait_until(lambda: sa.connected)
        assert sa.recovered
        await send(sb, "general", "after")
        await wait_until(lambda: "after" in seen.texts("general"))
    assert seen.texts("general") == ["before", "while away", "after"]
    # Back within the grace: never offline for the others.
    assert watching.named("user:disconnect") == []


async def test_a_client_recovered_after_the_grace_comes_back_online_for_everyone(
    start_server: ServerFactory, redis: RedisServer
) -> None:
    a, b = await start_nodes(start_server, redis.url, 2, recovery_window=60.0, presence_grace=0.0)
    alice = chat_client(auth={"username": "alice"}, reconnection_delay=0.5)
    bob = chat_client(auth={"username": "bob"})
    seen, watching = Seen(alice), Seen(bob)
    async with alice.connect(a.url) as sa, bob.connect(b.url) as sb:
        await wait_until(lambda: bool(seen.named("user:join")))
        cut(a, alice)
        gone = await watching.first("user:disconnect")
        await wait_until(lambda: sa.connected)
        assert sa.recovered
        back = await watching.first("user:connect")
        assert gone["userId"] == back["userId"] == seen.named("session")[0][0]["userId"]
        await send(sb, "general", "after")
        await wait_until(lambda: seen.texts("general") == ["after"])
        assert len(seen.named("users")) == 1
        # Told to everyone else: a user's own sockets hear nothing of its presence.
        assert seen.named("user:connect") == []
