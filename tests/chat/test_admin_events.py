"""The admin view's server side on a real server: `admin:users`, `user:revoke-sessions`,
`admin:invite` and `admin:prune-guests` (admins only), and `GET /api/config` (the modes a
login page offers)."""

from dataclasses import replace

import trio

from minidiscord.app import create_app
from minidiscord.chat.accounts.records import digest
from minidiscord.chat.models import Role
from minidiscord.chat.moderation.service import DAY_MS, MAX_PRUNE_DAYS
from minidiscord.redis.target import parse_redis_url
from tests.chat import test_moderation
from tests.chat.test_moderation import Room
from tests.support.accounts import PASSWORD, account_with_role, api, login, register
from tests.support.chatclient import Clients
from tests.support.redisserver import RedisServer
from tests.support.servers import TEST_SETTINGS, ServerFactory

# The moderation tests' server with its clients.
room = test_moderation.room


async def test_the_config_says_the_servers_modes(start_server: ServerFactory) -> None:
    default = await start_server()
    answer = await api(default.url, "config")
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "auth": "open", "registration": "open"}
    strict = await start_server(auth="accounts", registration="invite")
    assert (await api(strict.url, "config")).json() == {
        "ok": True,
        "auth": "accounts",
        "registration": "invite",
    }
    # It is read, never written.
    assert (await api(default.url, "config", {})).status_code == 405


async def test_logging_out_an_ended_session_still_clears_its_cookie(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    token = await register(server.url, "ada")
    cookie = {"cookie": f"minidiscord_session={token}"}
    assert (await api(server.url, "logout", {}, headers=cookie)).status_code == 200
    again = await api(server.url, "logout", {}, headers=cookie)
    assert again.status_code == 401
    assert "Max-Age=0" in again.headers["set-cookie"]


async def test_only_an_admin_lists_users(room: Room) -> None:
    guest = await room.connect({"username": "grace"}, "guest")
    member = await room.as_role("mia", Role.MEMBER)
    moderator = await room.as_role("mod", Role.MODERATOR)
    for actor in (guest, member, moderator):
        ack = await actor.call("admin:users", {})
        assert ack == {"ok": False, "error": "only an admin may do that"}
        ack = await actor.call("user:revoke-sessions", {"userId": member.session["userId"]})
        assert ack == {"ok": False, "error": "only an admin may do that"}
        assert await actor.call("admin:invite", {}) == {
            "ok": False,
            "error": "only an admin may do that",
        }
        ack = await actor.call("admin:prune-guests", {"days": 1})
        assert ack == {"ok": False, "error": "only an admin may do that"}
    # Nothing was done meanwhile: no guest went, nothing was audited.
    admin = await room.as_role("root", Role.ADMIN)
    listed = (await admin.call("admin:users", {}))["users"]
    assert "grace" in {u["username"] for u in listed}
    assert (await admin.call("audit:list", {}))["entries"] == []


async def test_an_admin_lists_and_searches_users_with_roles_presence_and_bans(room: Room) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    moderator = await room.as_role("mod", Role.MODERATOR)
    spammer = await room.connect({"username": "spammer"}, "spammer")
    await moderator.call("user:ban", {"userId": spammer.session["userId"], "reason": "spam"})
    await spammer.wait_for("disconnect")
    ack = await admin.call("admin:users", {})
    assert ack["ok"] is True
    listed = {u["username"]: u for u in ack["users"]}
    assert ack["total"] == len(ack["users"]) == 3
    assert listed["root"]["role"] == "admin"
    assert listed["root"]["online"] is True
    assert listed["mod"]["role"] == "moderator"
    assert listed["mod"]["banned"] is None
    assert listed["spammer"] == {
        "userId": spammer.session["userId"],
        "username": "spammer",
        "role": "guest",
        "online": False,
        "lastSeen": listed["spammer"]["lastSeen"],
        "banned": "spam",
    }
    assert listed["spammer"]["lastSeen"] > 0
    found = await admin.call("admin:users", {"search": "SPAM"})
    assert [u["username"] for u in found["users"]] == ["spammer"]
    limited = await admin.call("admin:users", {"limit": 1})
    assert limited["total"] == 3
    assert len(limited["users"]) == 1
    for fields, error in [
        ({"search": 5}, "search must be a string"),
        ({"search": "x" * 65}, "search must be a string"),
        ({"limit": 0}, "limit must be a positive integer"),
        ({"limit": True}, "limit must be a positive integer"),
    ]:
        ack = await admin.call("admin:users", fields)
        assert ack["ok"] is False
        assert error in ack["error"]


async def test_an_admin_revokes_a_users_sessions_and_its_tabs_go(room: Room) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    token = await register(room.url, "mia")
    laptop = await room.connect({"token": token}, "laptop")
    guest = await room.connect({"username": "grace"}, "guest")
    user_id = laptop.session["userId"]
    ack = await admin.call("user:revoke-sessions", {"userId": user_id})
    assert ack == {"ok": True, "ended": 1}
    (reason,) = await laptop.wait_for("disconnect")
    assert reason == "io server disconnect"
    refused = await api(room.url, "sessions", token=token)
    assert refused.status_code == 401
    entries = (await admin.call("audit:list", {}))["entries"]
    assert entries[0]["action"] == "revoke sessions"
    assert "mia" in entries[0]["target"]
    # A guest has no login sessions; an admin cannot end another admin's; nor its own.
    ack = await admin.call("user:revoke-sessions", {"userId": guest.session["userId"]})
    assert ack == {"ok": False, "error": "a guest has no login sessions"}
    other = await room.as_role("boss", Role.ADMIN)
    ack = await admin.call("user:revoke-sessions", {"userId": other.session["userId"]})
    assert ack == {"ok": False, "error": "a admin cannot act on a admin"}
    ack = await admin.call("user:revoke-sessions", {"userId": admin.session["userId"]})
    assert ack == {"ok": False, "error": "you cannot do that to yourself"}
    ack = await admin.call("user:revoke-sessions", {"userId": 7})
    assert ack == {"ok": False, "error": "userId must be a user's id"}


async def test_a_newcomer_sees_a_changed_role_in_the_users_list(room: Room) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    mia = await room.as_role("mia", Role.MEMBER)
    # A connect before the change: the users list as it was.
    before = await room.connect({"username": "early"}, "early")
    ((listed,),) = before.received("users")
    assert {u["username"]: u["role"] for u in listed}["mia"] == "member"
    ack = await admin.call("user:role", {"userId": mia.session["userId"], "role": "moderator"})
    assert ack == {"ok": True, "role": "moderator"}
    late = await room.connect({"username": "late"}, "late")
    ((listed,),) = late.received("users")
    assert {u["username"]: u["role"] for u in listed}["mia"] == "moderator"


async def test_an_admins_invite_code_registers_one_account_on_an_invite_only_server(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    now = [1_800_000_000_000]
    app = create_app(replace(TEST_SETTINGS, registration="invite"), clock=lambda: now[0])
    room = Room(await start_server(app), nursery)
    # The first admin, as `minidiscord admin create-admin` makes it (nobody may register).
    await app.accounts.create_account("root", PASSWORD, Role.ADMIN)
    admin = await room.connect({"token": await login(room.url, "root")}, "root")
    made = await admin.call("admin:invite", {})
    assert made["ok"] is True
    assert made["expires"] == now[0] + 7 * DAY_MS
    code = made["code"]
    assert isinstance(code, str)
    assert len(code) >= 40
    assert code != (await admin.call("admin:invite", {}))["code"]
    await register(room.url, "ada", invite=code)
    again = await api(
        room.url, "register", {"username": "bob", "password": PASSWORD, "invite": code}
    )
    assert again.status_code == 403
    assert "invite code is unknown, used or expired" in again.json()["error"]
    assert await admin.call("admin:invite", "now") == {
        "ok": False,
        "error": "expected one object argument",
    }
    for client in room.clients:
        await client.close()


async def test_making_an_invite_is_audited_by_its_digest_never_its_code(room: Room) -> None:
    root = await room.as_role("root", Role.ADMIN)
    codes = [(await root.call("admin:invite", {}))["code"] for _ in range(2)]
    listed = await root.call("audit:list", {"limit": 2})
    assert listed["ok"] is True
    entries = listed["entries"]
    assert [e["action"] for e in entries] == ["make invite", "make invite"]
    # Newest first: each names its invite by the start of the digest the store keeps.
    assert [e["target"] for e in entries] == [
        f"invite {digest(code).hex()[:12]}" for code in reversed(codes)
    ]
    assert all(e["actor"].startswith("root") for e in entries), entries
    assert all(e["detail"].startswith("expires ") for e in entries), entries
    assert all(code not in str(listed) for code in codes)
    # A member makes none, and none is audited.
    member = await room.as_role("mia", Role.MEMBER)
    assert (await member.call("admin:invite", {}))["ok"] is False
    assert (await root.call("audit:list", {"limit": 1}))["entries"] == entries[:1]


async def test_pruned_guests_leave_a_connected_clients_users_list(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    now = [1_800_000_000_000]
    room = Room(await start_server(create_app(TEST_SETTINGS, clock=lambda: now[0])), nursery)
    # A member stays connected throughout (only guests are pruned).
    watcher = await room.as_role("mia", Role.MEMBER)
    old = await room.connect({"username": "old"}, "old")
    old_id = old.session["userId"]
    await old.disconnect()
    (offline,) = await watcher.wait_for("user:disconnect")
    assert offline["userId"] == old_id
    now[0] += 10 * DAY_MS
    admin = await room.as_role("root", Role.ADMIN)
    recent = await room.connect({"username": "recent"}, "recent")
    for fields in ({}, {"days": 0}, {"days": -3}, {"days": "5"}, {"days": 1.5}, {"days": True}):
        ack = await admin.call("admin:prune-guests", fields)
        assert ack == {
            "ok": False,
            "error": f"days must be a whole number from 1 to {MAX_PRUNE_DAYS}",
        }
    ack = await admin.call("admin:prune-guests", {"days": MAX_PRUNE_DAYS + 1})
    assert ack["ok"] is False
    # Nothing is as old as 11 days: nobody goes.
    assert await admin.call("admin:prune-guests", {"days": 11}) == {"ok": True, "removed": 0}
    assert await admin.call("admin:prune-guests", {"days": 5}) == {"ok": True, "removed": 1}
    (left,) = await watcher.wait_for("user:leave")
    assert left["userId"] == old_id
    listed = {u["username"] for u in (await admin.call("admin:users", {}))["users"]}
    assert listed == {"mia", "root", "recent"}
    late = await room.connect({"username": "late"}, "late")
    ((users,),) = late.received("users")
    assert old_id not in {u["userId"] for u in users}
    assert recent.session["userId"] in {u["userId"] for u in users}
    entries = (await admin.call("audit:list", {}))["entries"]
    assert [(e["action"], e["target"], e["detail"]) for e in entries[:2]] == [
        ("prune guests", "1 guests", "not seen for 5 days"),
        ("prune guests", "0 guests", "not seen for 11 days"),
    ]
    assert "root" in entries[0]["actor"]
    for client in room.clients:
        await client.close()


async def test_pruned_guests_leave_the_users_lists_of_every_redis_node_once(
    redis: RedisServer, start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    now = [1_800_000_000_000]
    settings = replace(TEST_SETTINGS, redis_url=parse_redis_url(redis.url))
    one, two = [await start_server(create_app(settings, clock=lambda: now[0])) for _ in range(2)]
    clients = Clients(nursery)
    # Members, one on each node (only guests are pruned).
    watchers = [
        await clients.join(node.url, {"token": await register(node.url, name)}, name)
        for node, name in ((one, "mia"), (two, "max"))
    ]
    old = await clients.join(one.url, {"username": "old"}, "old")
    old_id = old.session["userId"]
    await old.disconnect()
    for watcher in watchers:
        (offline,) = await watcher.wait_for("user:disconnect")
        assert offline["userId"] == old_id
    now[0] += 10 * DAY_MS
    token = await account_with_role(two.app, two.url, "root", Role.ADMIN)
    admin = await clients.join(two.url, {"token": token}, "root")
    assert await admin.call("admin:prune-guests", {"days": 5}) == {"ok": True, "removed": 1}
    for watcher in watchers:
        (left,) = await watcher.wait_for("user:leave")
        assert left["userId"] == old_id
    # Told once on each node (the store's `leave` alone; no `forget` besides): a later
    # event has come, and still one `user:leave`.
    await clients.join(one.url, {"username": "late"}, "late")
    for watcher in watchers:
        await watcher.wait_for("user:join", lambda user: user["username"] == "late")
        assert [args[0]["userId"] for args in watcher.received("user:leave")] == [old_id]
    await clients.close()
