"""Edits and an author's deletes in cluster mode: made on one node, seen live by everyone on
every node (through the log), and in the history a newcomer on another node gets."""

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
