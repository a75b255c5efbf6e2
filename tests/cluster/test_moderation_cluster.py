"""Moderation in cluster mode: a deletion, a timeout, a kick, a ban and a role change made on
one node reach the user's tabs and everyone else on every node (through the log)."""

from minidiscord.chat.models import Role
from tests.support.accounts import account_with_role, register
from tests.support.chatclient import ChatClient, Clients
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes


async def test_moderation_on_one_node_reaches_every_node(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    token = await account_with_role(one.app, one.url, "mod", Role.MODERATOR)
    moderator = await clients.join(one.url, {"token": token}, "mod")
    tom = await clients.join(one.url, {"username": "tom"}, "tom on one")
    tom_there = await clients.join(two.url, {"sessionId": tom.session["sessionId"]}, "tom on two")
    watcher = await clients.join(two.url, {"username": "ann"}, "watcher on two")
    tom_id = tom.session["userId"]

    sent = await tom_there.send("general", "spam")
    await moderator.wait_for("message:channel", lambda _c, m: m.get("id") == sent["id"])
    ack = await moderator.call("message:delete", {"channel": "general", "id": sent["id"]})
    assert ack == {"ok": True}
    for client in (watcher, tom, tom_there):
        (gone,) = await client.wait_for("message:delete")
        assert gone == {"channel": "general", "id": sent["id"]}
    newcomer = await clients.join(two.url, {"username": "late"}, "late on two")
    general = next(c for c in newcomer.received("channels")[0][0] if c["name"] == "general")
    assert sent["id"] not in [m["id"] for m in general["messages"]]

    # A timeout given on one node holds on the other.
    ack = await moderator.call("user:timeout", {"userId": tom_id, "seconds": 600})
    assert ack["ok"] is True
    refused = await tom_there.send("general", "let me")
    assert refused["ok"] is False
    assert refused["until"] == ack["until"]

    # A kick on one node lets go of the tabs on both.
    assert await moderator.call("user:kick", {"userId": tom_id}) == {"ok": True}
    for tab in (tom, tom_there):
        (reason,) = await tab.wait_for("disconnect")
        assert reason == "io server disconnect"

    # A banned account's tab on the other node goes too, and it cannot come back there.
    eve_token = await register(one.url, "eve")
    eve_there = await clients.join(two.url, {"token": eve_token}, "eve on two")
    ack = await moderator.call(
        "user:ban", {"userId": eve_there.session["userId"], "reason": "spam"}
    )
    assert ack == {"ok": True, "reason": "spam"}
    await eve_there.wait_for("disconnect")
    again = ChatClient(two.url, "eve again", nursery=clients._nursery)
    refusal = await again.connect_refused({"token": eve_token})
    assert refusal["message"] == "this account is banned: spam"

    # A role given on one node: everyone on the other is told.
    admin_token = await account_with_role(one.app, one.url, "root", Role.ADMIN)
    admin = await clients.join(one.url, {"token": admin_token}, "root")
    mia_token = await register(one.url, "mia")
    mia = await clients.join(two.url, {"token": mia_token}, "mia on two")
    ack = await admin.call("user:role", {"userId": mia.session["userId"], "role": "moderator"})
    assert ack == {"ok": True, "role": "moderator"}
    (changed,) = await watcher.wait_for("user:role")
    assert changed == {"userId": mia.session["userId"], "role": "moderator"}
