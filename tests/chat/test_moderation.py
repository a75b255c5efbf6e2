"""Moderation on a real server with our trio client: each action refused for a guest and a
member and applied for a moderator, what everyone sees, bans at login and connect, roles,
the rules between roles, and the audit log."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

from minidiscord.app import create_app
from minidiscord.chat.models import Role
from tests.support.accounts import PASSWORD, account_with_role, api, register
from tests.support.chatclient import ChatClient
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory

Connect = Callable[[dict[str, object], str], Awaitable[ChatClient]]

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("user:timeout", {"seconds": 60, "reason": "calm down"}),
    ("user:kick", {"reason": "out"}),
    ("user:ban", {"reason": "spam"}),
    ("user:role", {"role": "moderator"}),
]


class Room:
    """A server, with a way to connect clients to it (closed when the test ends)."""

    def __init__(self, server: RunningServer, nursery: trio.Nursery) -> None:
        self.server = server
        self.url = server.url
        self._nursery = nursery
        self.clients: list[ChatClient] = []

    async def connect(self, auth: dict[str, object], name: str) -> ChatClient:
        client = ChatClient(self.url, name, nursery=self._nursery)
        self.clients.append(client)
        await client.connect(auth)
        return client

    async def as_role(self, name: str, role: Role) -> ChatClient:
        token = await account_with_role(self.server.app, self.url, name, role)
        return await self.connect({"token": token}, name)


@pytest.fixture
async def room(start_server: ServerFactory, nursery: trio.Nursery) -> AsyncIterator[Room]:
    made = Room(await start_server(), nursery)
    yield made
    for client in made.clients:
        await client.close()


async def test_every_action_is_refused_for_a_guest_and_a_member(room: Room) -> None:
    guest = await room.connect({"username": "grace"}, "guest")
    member = await room.as_role("mia", Role.MEMBER)
    target = await room.connect({"username": "tom"}, "target")
    sent = await target.send("general", "hello")
    for actor in (guest, member):
        for event, fields in ACTIONS:
            ack = await actor.call(event, {"userId": target.session["userId"], **fields})
            assert ack["ok"] is False, (actor, event)
            wanted = "only an admin" if event == "user:role" else "only a moderator or an admin"
            assert wanted in ack["error"], (actor, event, ack)
        ack = await actor.call("message:delete", {"channel": "general", "id": sent["id"]})
        assert ack == {"ok": False, "error": "only a moderator or an admin may do that"}
        ack = await actor.call("user:unban", {"userId": target.session["userId"]})
        assert ack["ok"] is False
        ack = await actor.call("audit:list", {})
        assert ack == {"ok": False, "error": "only an admin may do that"}
    # Nothing happened to the target.
    assert (await target.send("general", "still here"))["ok"] is True
    assert "disconnect" not in target.names()
    assert [m["message"] for m in target.messages("general")] == ["hello", "still here"]


async def test_a_moderator_deletes_a_message_everyone_sees_it_go_and_history_forgets_it(
    room: Room,
) -> None:
    moderator = await room.as_role("mod", Role.MODERATOR)
    author = await room.connect({"username": "tom"}, "author")
    reader = await room.connect({"username": "ann"}, "reader")
    bad = await author.send("general", "a leaked secret")
    kept = await author.send("general", "fine")
    ack = await moderator.call(
        "message:delete", {"channel": "general", "id": bad["id"], "reason": "secret"}
    )
    assert ack == {"ok": True}
    for client in (moderator, author, reader):
        (gone,) = await client.wait_for("message:delete")
        assert gone == {"channel": "general", "id": bad["id"]}
    page = await reader.call("channel:history", "general", {})
    assert [m["id"] for m in page["messages"]] == [kept["id"]]
    late = await room.connect({"username": "late"}, "late")
    ((channels,),) = late.received("channels")
    general = next(c for c in channels if c["name"] == "general")
    assert [m["id"] for m in general["messages"]] == [kept["id"]]
    # Gone already, and bad input: refused, saying why.
    again = await moderator.call("message:delete", {"channel": "general", "id": bad["id"]})
    assert again == {"ok": False, "error": f"there is no message {bad['id']} in general"}
    for fields, error in [
        ({"channel": "nowhere", "id": 1}, "unknown channel"),
        ({"channel": "general", "id": "1"}, "id must be a message's id"),
        ({"channel": "general", "id": True}, "id must be a message's id"),
    ]:
        ack = await moderator.call("message:delete", fields)
        assert ack["ok"] is False
        assert error in ack["error"]
    assert await moderator.call("message:delete", "general", 1) == {
        "ok": False,
        "error": "expected one object argument",
    }


async def test_a_timed_out_user_cannot_send_until_the_time_ends(
    start_server: ServerFactory, nursery: trio.Nursery
) -> None:
    now = [1_800_000_000_000]
    server = await start_server(create_app(TEST_SETTINGS, clock=lambda: now[0]))
    room = Room(server, nursery)
    moderator = await room.as_role("mod", Role.MODERATOR)
    tom = await room.connect({"username": "tom"}, "tom")
    ack = await moderator.call(
        "user:timeout", {"userId": tom.session["userId"], "seconds": 90, "reason": "flood"}
    )
    assert ack == {"ok": True, "until": now[0] + 90_000}
    refused = await tom.send("general", "let me speak")
    assert refused["ok"] is False
    assert refused["until"] == now[0] + 90_000
    assert refused["error"] == "you are timed out until 2027-01-15 08:01:30 UTC"
    now[0] += 89_999
    assert (await tom.send("general", "now?"))["ok"] is False
    now[0] += 1
    assert (await tom.send("general", "thanks"))["ok"] is True
    # Others were never silenced.
    assert (await moderator.send("general", "ok"))["ok"] is True
    for seconds in (0, -1, "60", True, 10**9):
        ack = await moderator.call(
            "user:timeout", {"userId": tom.session["userId"], "seconds": seconds}
        )
        assert ack["ok"] is False
        assert "seconds must be a number" in ack["error"]
    for client in room.clients:
        await client.close()


async def test_a_kicked_user_loses_every_tab_and_may_come_back(room: Room) -> None:
    moderator = await room.as_role("mod", Role.MODERATOR)
    first = await room.connect({"username": "tom"}, "tab 1")
    second = await room.connect({"sessionId": first.session["sessionId"]}, "tab 2")
    watcher = await room.connect({"username": "ann"}, "watcher")
    ack = await moderator.call("user:kick", {"userId": first.session["userId"]})
    assert ack == {"ok": True}
    for tab in (first, second):
        (reason,) = await tab.wait_for("disconnect")
        assert reason == "io server disconnect"
    (offline,) = await watcher.wait_for("user:disconnect")
    assert offline["userId"] == first.session["userId"]
    back = await room.connect({"sessionId": first.session["sessionId"]}, "back")
    assert back.session["userId"] == first.session["userId"]
    assert (await back.send("general", "sorry"))["ok"] is True


async def test_a_banned_account_is_let_go_and_refused_at_login_and_connect(room: Room) -> None:
    moderator = await room.as_role("mod", Role.MODERATOR)
    token = await register(room.url, "eve")
    eve = await room.connect({"token": token}, "eve")
    ack = await moderator.call("user:ban", {"userId": eve.session["userId"], "reason": "spam"})
    assert ack == {"ok": True, "reason": "spam"}
    await eve.wait_for("disconnect")
    answer = await api(room.url, "login", {"username": "eve", "password": PASSWORD})
    assert answer.status_code == 403
    assert answer.json()["error"] == "this account is banned: spam"
    again = ChatClient(room.url, "eve again", nursery=room._nursery)
    refusal = await again.connect_refused({"token": token})
    assert refusal["message"] == "this account is banned: spam"
    ack = await moderator.call("user:unban", {"userId": eve.session["userId"]})
    assert ack == {"ok": True}
    answer = await api(room.url, "login", {"username": "eve", "password": PASSWORD})
    assert answer.status_code == 200
    # A reason is required, and refused when it is not text.
    other = await room.connect({"username": "tom"}, "tom")
    for reason in (None, "", "  ", 5, "x" * 501):
        ack = await moderator.call(
            "user:ban", {"userId": other.session["userId"], "reason": reason}
        )
        assert ack["ok"] is False
    assert (await other.send("general", "still here"))["ok"] is True


async def test_a_banned_guest_cannot_come_back_with_its_session(room: Room) -> None:
    moderator = await room.as_role("mod", Role.MODERATOR)
    tom = await room.connect({"username": "tom"}, "tom")
    session = tom.session
    ack = await moderator.call("user:ban", {"userId": session["userId"], "reason": "trolling"})
    assert ack["ok"] is True
    await tom.wait_for("disconnect")
    back = ChatClient(room.url, "back", nursery=room._nursery)
    refusal = await back.connect_refused({"sessionId": session["sessionId"]})
    assert refusal["message"] == "you are banned: trolling"
    # Another moderator may not lift it; an admin may.
    other = await room.as_role("mod2", Role.MODERATOR)
    ack = await other.call("user:unban", {"userId": session["userId"]})
    assert ack == {"ok": False, "error": "only an admin may lift a ban by mod"}
    admin = await room.as_role("root", Role.ADMIN)
    ack = await admin.call("user:unban", {"userId": session["userId"], "reason": "appeal"})
    assert ack == {"ok": True}
    again = await room.connect({"sessionId": session["sessionId"]}, "again")
    assert again.session["userId"] == session["userId"]
    ack = await moderator.call("user:unban", {"userId": session["userId"]})
    assert ack == {"ok": False, "error": f"{session['userId']!r} is not banned"}


async def test_moderators_cannot_act_on_moderators_or_admins_and_admins_manage_roles(
    room: Room,
) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    moderator = await room.as_role("mod", Role.MODERATOR)
    other = await room.as_role("mod2", Role.MODERATOR)
    member = await room.as_role("mia", Role.MEMBER)
    for target in (other, admin):
        for event, fields in ACTIONS[:3]:
            ack = await moderator.call(event, {"userId": target.session["userId"], **fields})
            assert ack["ok"] is False
            assert ack["error"].startswith("a moderator cannot act on a "), ack
    ack = await moderator.call("user:kick", {"userId": moderator.session["userId"]})
    assert ack == {"ok": False, "error": "you cannot do that to yourself"}
    ack = await moderator.call("user:role", {"userId": member.session["userId"], "role": "admin"})
    assert ack == {"ok": False, "error": "only an admin may do that"}
    # The admin promotes a member: everyone is told, and the new moderator may act at once.
    ack = await admin.call("user:role", {"userId": member.session["userId"], "role": "moderator"})
    assert ack == {"ok": True, "role": "moderator"}
    (changed,) = await other.wait_for("user:role")
    assert changed == {"userId": member.session["userId"], "role": "moderator"}
    guest = await room.connect({"username": "tom"}, "tom")
    ack = await member.call("user:kick", {"userId": guest.session["userId"]})
    assert ack == {"ok": True}
    # Demoted: its power goes at once (the role is read at each request).
    ack = await admin.call("user:role", {"userId": member.session["userId"], "role": "member"})
    assert ack["ok"] is True
    ack = await member.call("user:kick", {"userId": other.session["userId"]})
    assert ack["ok"] is False
    for role in ("guest", "owner", None, 1):
        ack = await admin.call("user:role", {"userId": member.session["userId"], "role": role})
        assert ack == {"ok": False, "error": "role must be one of admin, moderator, member"}
    guest2 = await room.connect({"username": "ann"}, "ann")
    ack = await admin.call("user:role", {"userId": guest2.session["userId"], "role": "member"})
    assert ack == {"ok": False, "error": "a guest has no account: only accounts hold roles"}
    for fields in ({"userId": "nobody"}, {"userId": 5}, {}):
        ack = await admin.call("user:kick", fields)
        assert ack["ok"] is False


async def test_every_action_is_in_the_audit_log_which_admins_page(room: Room) -> None:
    admin = await room.as_role("root", Role.ADMIN)
    moderator = await room.as_role("mod", Role.MODERATOR)
    member = await room.as_role("mia", Role.MEMBER)
    tom = await room.connect({"username": "tom"}, "tom")
    tom_id = tom.session["userId"]
    sent = await tom.send("general", "spam")
    assert (await moderator.call("message:delete", {"channel": "general", "id": sent["id"]}))["ok"]
    assert (await moderator.call("user:timeout", {"userId": tom_id, "seconds": 5}))["ok"]
    assert (await moderator.call("user:ban", {"userId": tom_id, "reason": "spam"}))["ok"]
    assert (await moderator.call("user:unban", {"userId": tom_id, "reason": "appeal"}))["ok"]
    member_id = member.session["userId"]
    assert (await moderator.call("user:kick", {"userId": member_id, "reason": "rude"}))["ok"]
    assert (await admin.call("user:role", {"userId": member_id, "role": "moderator"}))["ok"]
    first = await admin.call("audit:list", {"limit": 4})
    assert first["ok"] is True
    rest = await admin.call("audit:list", {"before": first["entries"][-1]["id"]})
    entries = first["entries"] + rest["entries"]
    assert [e["action"] for e in entries] == [
        "set role",
        "kick",
        "unban",
        "ban",
        "timeout",
        "delete message",
    ]
    by_action = {e["action"]: e for e in entries}
    assert by_action["ban"]["reason"] == "spam"
    assert by_action["ban"]["actor"].startswith("mod (moderator ")
    assert by_action["ban"]["target"] == f"tom (guest {tom_id})"
    assert by_action["kick"]["target"] == f"mia (member {member_id})"
    assert by_action["kick"]["reason"] == "rude"
    assert by_action["set role"]["detail"] == "member -> moderator"
    assert by_action["delete message"]["target"] == f"message {sent['id']} in general"
    assert all(isinstance(e["at"], int) and e["at"] > 0 for e in entries)
    for fields in ({"limit": 0}, {"limit": "5"}, {"before": 0}, {"before": "x"}):
        ack = await admin.call("audit:list", fields)
        assert ack["ok"] is False
    assert (await moderator.call("audit:list", {}))["ok"] is False
