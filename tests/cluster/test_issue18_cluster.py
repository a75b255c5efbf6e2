"""Issue 18 in cluster mode: edits, an author's deletes and reactions made on one node, seen
live by everyone on every node (through the log), and in the history a newcomer gets."""

import trio

from tests.support.chatclient import ChatClient
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes


async def test_an_edit_and_a_delete_on_one_node_reach_every_node(
    start_server: ServerFactory, redis: RedisServer, nursery: trio.Nursery
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    ada = ChatClient(one.url, "ada on one", nursery=nursery)
    bob = ChatClient(two.url, "bob on two", nursery=nursery)
    late = ChatClient(two.url, "late on two", nursery=nursery)
    try:
        await ada.connect({"username": "ada"})
        await bob.connect({"username": "bob"})
        sent = await ada.send("general", "helo")
        gone = await ada.send("general", "oops")
        await bob.wait_for("message:channel", lambda _c, m: m["id"] == gone["id"])
        ack = await ada.call(
            "message:edit", {"channel": "general", "id": sent["id"], "text": "hello"}
        )
        assert ack["ok"] is True
        assert await ada.call("message:delete", {"channel": "general", "id": gone["id"]}) == {
            "ok": True
        }
        for client in (ada, bob):
            (change,) = await client.wait_for("message:edit")
            assert change == {
                "channel": "general",
                "id": sent["id"],
                "message": "hello",
                "editedAt": ack["editedAt"],
            }
            (deleted,) = await client.wait_for("message:delete")
            assert deleted == {"channel": "general", "id": gone["id"]}
        await late.connect({"username": "late"})
        (channels,) = late.received("channels")[0]
        history = next(c for c in channels if c["name"] == "general")["messages"]
        assert [(m["id"], m["message"], m.get("editedAt")) for m in history] == [
            (sent["id"], "hello", ack["editedAt"])
        ]
    finally:
        for client in (ada, bob, late):
            await client.close()


async def test_a_reaction_on_one_node_reaches_every_node(
    start_server: ServerFactory, redis: RedisServer, nursery: trio.Nursery
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    ada = ChatClient(one.url, "ada on one", nursery=nursery)
    bob = ChatClient(two.url, "bob on two", nursery=nursery)
    late = ChatClient(one.url, "late on one", nursery=nursery)
    try:
        await ada.connect({"username": "ada"})
        await bob.connect({"username": "bob"})
        sent = await ada.send("general", "react")
        await bob.wait_for("message:channel", lambda _c, m: m["id"] == sent["id"])
        ack = await bob.call(
            "reaction:add", {"channel": "general", "id": sent["id"], "emoji": "🔥"}
        )
        assert ack["ok"] is True
        for client in (ada, bob):
            (update,) = await client.wait_for("reaction:update")
            assert update == {"channel": "general", "id": sent["id"], "reactions": ack["reactions"]}
        await late.connect({"username": "late"})
        (channels,) = late.received("channels")[0]
        history = next(c for c in channels if c["name"] == "general")["messages"]
        assert history[0]["reactions"] == ack["reactions"]
    finally:
        for client in (ada, bob, late):
            await client.close()
