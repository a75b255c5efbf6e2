"""What must hold on every node of a cluster: an ended login session's tabs go wherever
they are connected, a timeout holds on a node started after it was given, and an offline
user's new role is in every node's users list."""

from minidiscord.chat.models import Role
from tests.support.accounts import PASSWORD, account_with_role, api, login, register
from tests.support.chatclient import Clients, let_go
from tests.support.redisserver import RedisServer
from tests.support.servers import ServerFactory, start_nodes


async def test_ending_a_login_session_lets_its_tabs_go_on_every_node(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    laptop = await register(one.url, "ada")
    phone, tablet, desk = [await login(one.url, "ada") for _ in range(3)]
    laptop_tab = await clients.join(two.url, {"token": laptop}, "laptop on two")
    phone_tab = await clients.join(two.url, {"token": phone}, "phone on two")
    tablet_tab = await clients.join(two.url, {"token": tablet}, "tablet on two")
    desk_tab = await clients.join(one.url, {"token": desk}, "desk on one")

    # Logged out through node one: the laptop's tab on node two goes.
    assert (await api(one.url, "logout", {}, token=laptop)).status_code == 200
    await let_go(laptop_tab)
    # The others revoked by their owner through node one.
    ended = await api(one.url, "sessions/revoke", {"others": True}, token=desk)
    assert ended.json()["ended"] == 2
    await let_go(phone_tab)
    await let_go(tablet_tab)
    # A password changed through node one ends the other sessions, on node two too.
    tv = await login(one.url, "ada")
    tv_tab = await clients.join(two.url, {"token": tv}, "tv on two")
    changed = await api(
        one.url, "password", {"current": PASSWORD, "new": "another secret"}, token=desk
    )
    assert changed.json()["ended"] == 1
    await let_go(tv_tab)
    # The session that asked keeps its tab.
    assert (await desk_tab.send("general", "still here"))["ok"] is True
    assert "disconnect" not in desk_tab.names()


async def test_a_timeout_holds_on_a_node_started_after_it(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    (one,) = await start_nodes(start_server, redis.url, 1)
    token = await account_with_role(one.app, one.url, "mod", Role.MODERATOR)
    moderator = await clients.join(one.url, {"token": token}, "mod")
    tom = await clients.join(one.url, {"username": "tom"}, "tom")
    ack = await moderator.call("user:timeout", {"userId": tom.session["userId"], "seconds": 600})
    assert ack["ok"] is True
    (late,) = await start_nodes(start_server, redis.url, 1)
    tom_late = await clients.join(late.url, {"sessionId": tom.session["sessionId"]}, "tom on late")
    refused = await tom_late.send("general", "let me")
    assert refused["ok"] is False
    assert refused["until"] == ack["until"]


async def test_an_offline_users_new_role_is_in_every_nodes_users_list(
    start_server: ServerFactory, redis: RedisServer, clients: Clients
) -> None:
    one, two = await start_nodes(start_server, redis.url, 2)
    token = await account_with_role(one.app, one.url, "root", Role.ADMIN)
    admin = await clients.join(one.url, {"token": token}, "root")
    mia = await clients.join(two.url, {"token": await register(one.url, "mia")}, "mia")
    mia_id = mia.session["userId"]
    ack = await admin.call("user:role", {"userId": mia_id, "role": "moderator"})
    assert ack == {"ok": True, "role": "moderator"}
    await admin.wait_for("user:role")
    # A node started now mirrors her online with it.
    (late,) = await start_nodes(start_server, redis.url, 1)
    there = await clients.join(late.url, {"username": "there"}, "there")
    listed = {u["userId"]: u for u in there.received("users")[0][0]}
    assert (listed[mia_id]["role"], listed[mia_id]["connected"]) == ("moderator", True)
    # Going offline after it, she is shown with the role she has now.
    await mia.disconnect()
    (gone,) = await admin.wait_for("user:disconnect")
    assert (gone["userId"], gone["role"]) == (mia_id, "moderator")
    for node in (one, two, late):
        newcomer = await clients.join(node.url, {"username": f"new on {node.port}"}, "newcomer")
        listed = {u["userId"]: u for u in newcomer.received("users")[0][0]}
        assert (listed[mia_id]["role"], listed[mia_id]["connected"]) == ("moderator", False)
