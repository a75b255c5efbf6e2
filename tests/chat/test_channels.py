"""Channels made by moderators (channel:create, rename, topic, archive) and how every
client learns of them, on one node and across two cluster nodes (the clients take turns
between the nodes)."""

from typing import Any

import pytest

from minidiscord.chat.channels import events
from minidiscord.chat.models import CHANNELS, Role
from tests.support.accounts import account_with_role
from tests.support.chatclient import ChatClient, joined
from tests.support.layouts import ChatFactory
from tests.support.servers import RunningServer


async def moderator_token(node: RunningServer, name: str = "mod") -> str:
    return await account_with_role(node.app, node.url, name, Role.MODERATOR)


async def listed(client: ChatClient) -> dict[str, Any]:
    answer: dict[str, Any] = await client.call("channel:list")
    assert answer["ok"] is True, answer
    return answer


async def test_a_moderator_creates_a_channel_and_every_listener_hears_of_it_live(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    token = await moderator_token(nodes[0])
    async with (
        joined(nodes[0].url, {"token": token}, "mod") as mod,
        joined(nodes[-1].url, {"username": "ada"}, "ada") as ada,
        joined(nodes[-1].url, {"username": "old"}, "old") as old,
    ):
        before = await listed(ada)
        assert [c["id"] for c in before["channels"]] == list(CHANNELS)
        assert before["conversations"] == []
        await listed(mod)
        made = await mod.call("channel:create", {"name": "Release-Notes", "topic": "what  shipped"})
        assert made["ok"] is True, made
        channel = made["channel"]
        assert channel["name"] == "Release-Notes"
        assert channel["topic"] == "what shipped"
        assert channel["archived"] is False
        assert channel["id"].startswith("c:")
        (heard,) = await ada.wait_for("channel:update")
        assert heard == channel
        # Listeners joined its room as it was made: its messages reach them, on any node.
        sent = await ada.send(channel["id"], "first!")
        assert sent["ok"] is True, sent
        (_, message) = await mod.wait_for("message:channel", lambda c, m: c == channel["id"])
        assert message["message"] == "first!"
        history = await old.call("channel:history", channel["id"], {})
        assert [m["message"] for m in history["messages"]] == ["first!"]
        # A client that never listed (the original React client) hears none of it.
        assert "channel:update" not in old.names()
        assert not [a for a in old.received("message:channel") if a[0] == channel["id"]]
        assert [c["id"] for c in (await listed(old))["channels"]] == [*CHANNELS, channel["id"]]


async def test_rename_topic_and_archive_reach_everyone_and_archived_is_read_only(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    token = await moderator_token(nodes[0])
    async with (
        joined(nodes[0].url, {"token": token}, "mod") as mod,
        joined(nodes[-1].url, {"username": "ada"}, "ada") as ada,
    ):
        await listed(ada)
        channel = (await mod.call("channel:create", {"name": "ideas"}))["channel"]
        cid = channel["id"]
        assert (await mod.call("channel:rename", {"id": cid, "name": "Plans"}))["ok"] is True
        assert (await mod.call("channel:topic", {"id": cid, "topic": "next quarter"}))["ok"]
        assert (await mod.call("channel:topic", {"id": "general", "topic": "anything"}))["ok"]
        await ada.send(cid, "before the archive")
        archived = await mod.call("channel:archive", {"id": cid})
        assert archived == {
            "ok": True,
            "channel": {"id": cid, "name": "Plans", "topic": "next quarter", "archived": True},
        }
        await ada.wait_for("channel:update", lambda c: c["archived"], count=1)
        updates = [a[0] for a in ada.received("channel:update")]
        assert [(u["name"], u["topic"], u["archived"]) for u in updates] == [
            ("ideas", "", False),
            ("Plans", "", False),
            ("Plans", "next quarter", False),
            ("general", "anything", False),
            ("Plans", "next quarter", True),
        ]
        refused = await ada.send(cid, "after")
        assert refused == {"ok": False, "error": "#Plans is archived: it is read-only"}
        # Still readable.
        history = await ada.call("channel:history", cid, {})
        assert [m["message"] for m in history["messages"]] == ["before the archive"]
        reopened = await mod.call("channel:archive", {"id": cid, "archived": False})
        assert reopened["channel"]["archived"] is False
        # Each change is in the audit log, which admins read.
        admin = await account_with_role(nodes[0].app, nodes[0].url, "boss", Role.ADMIN)
        async with joined(nodes[-1].url, {"token": admin}, "boss") as boss:
            entries = (await boss.call("audit:list", {}))["entries"]
        assert [(e["action"], e["target"], e["detail"]) for e in reversed(entries)] == [
            ("change channel", f"#ideas ({cid})", "created"),
            ("change channel", f"#Plans ({cid})", "renamed from ideas"),
            ("change channel", f"#Plans ({cid})", "topic: next quarter"),
            ("change channel", "#general (general)", "topic: anything"),
            ("change channel", f"#Plans ({cid})", "archived"),
            ("change channel", f"#Plans ({cid})", "reopened"),
        ]
        assert {e["actor"] for e in entries} == {entries[0]["actor"]}
        assert (await ada.send(cid, "open again"))["ok"] is True
        # A newcomer lists the changed channel (and the five, first).
        async with joined(nodes[0].url, {"username": "bea"}, "bea") as bea:
            channels = (await listed(bea))["channels"]
            assert channels[-1] == {**reopened["channel"]}
            assert channels[1] == {
                "id": "general",
                "name": "general",
                "topic": "anything",
                "archived": False,
            }


@pytest.mark.parametrize(
    ("event", "payload", "error"),
    [
        ("channel:create", {"name": ""}, "name must be 1 to 32 characters"),
        ("channel:create", {"name": "x" * 33}, "name must be 1 to 32 characters"),
        ("channel:create", {"name": "has space"}, "name may hold only"),
        ("channel:create", {"name": "-dash"}, "name may hold only"),
        ("channel:create", {"name": "\u0430da"}, "name may hold only"),
        ("channel:create", {"name": 7}, "name must be a string"),
        ("channel:create", {"name": "General"}, "a channel named 'General' exists already"),
        ("channel:create", {"name": "ok", "topic": "a\u0007b"}, "control characters"),
        ("channel:create", {"name": "ok", "topic": "t" * 201}, "topic is too long"),
        ("channel:rename", {"id": "general", "name": "other"}, "original channels"),
        ("channel:archive", {"id": "welcome"}, "original channels"),
        ("channel:rename", {"id": "c:nope", "name": "x"}, "id must be a channel's id"),
        ("channel:topic", {"id": "general"}, "topic is missing"),
        ("channel:archive", {"id": "general", "archived": "yes"}, "original channels"),
        ("channel:create", "not an object", "expected one object argument"),
    ],
)
async def test_bad_channel_requests_are_refused_with_a_reason(
    start_server: Any, event: str, payload: Any, error: str
) -> None:
    server = await start_server()
    token = await moderator_token(server)
    async with joined(server.url, {"token": token}, "mod") as mod:
        answer = await mod.call(event, payload)
        assert answer["ok"] is False
        assert error in answer["error"], answer
        # The server goes on.
        assert (await mod.call("channel:create", {"name": "fine"}))["ok"] is True


async def test_names_are_unique_whatever_their_case_also_on_rename(start_server: Any) -> None:
    server = await start_server()
    token = await moderator_token(server)
    async with joined(server.url, {"token": token}, "mod") as mod:
        first = (await mod.call("channel:create", {"name": "Music"}))["channel"]
        taken = await mod.call("channel:create", {"name": "MUSIC"})
        assert taken == {"ok": False, "error": "a channel named 'MUSIC' exists already"}
        other = (await mod.call("channel:create", {"name": "art"}))["channel"]
        clash = await mod.call("channel:rename", {"id": other["id"], "name": "music"})
        assert clash["ok"] is False
        # Renaming a channel to its own name in another case is no clash.
        same = await mod.call("channel:rename", {"id": first["id"], "name": "MUSIC"})
        assert same["ok"] is True


@pytest.mark.parametrize("role", [Role.GUEST, Role.MEMBER])
async def test_only_moderators_change_channels(start_server: Any, role: Role) -> None:
    server = await start_server()
    if role is Role.GUEST:
        auth: dict[str, Any] = {"username": "guest"}
    else:
        auth = {"token": await account_with_role(server.app, server.url, "mem", role)}
    async with joined(server.url, auth, "user") as user:
        await listed(user)
        for event, payload in [
            ("channel:create", {"name": "mine"}),
            ("channel:topic", {"id": "general", "topic": "mine"}),
            ("channel:rename", {"id": "general", "name": "mine"}),
            ("channel:archive", {"id": "general"}),
        ]:
            answer = await user.call(event, payload)
            assert answer["ok"] is False, (event, answer)
            assert "moderator" in answer["error"], answer
        assert "channel:update" not in user.names()
        assert [c["topic"] for c in (await listed(user))["channels"]] == [""] * 5


async def test_sending_or_reading_an_unknown_channel_is_refused(start_server: Any) -> None:
    server = await start_server()
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        assert (await ada.send("c:000000000000", "hi"))["ok"] is False
        history = await ada.call("channel:history", "c:000000000000", {})
        assert history["ok"] is False
        assert history["error"].startswith("unknown channel 'c:000000000000'; channels are")


async def test_a_moderator_deletes_in_a_created_channel_but_not_in_others_conversations(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    token = await moderator_token(nodes[0])
    async with (
        joined(nodes[0].url, {"token": token}, "mod") as mod,
        joined(nodes[-1].url, {"username": "ada"}, "ada") as ada,
        joined(nodes[0].url, {"username": "bob"}, "bob") as bob,
    ):
        await listed(ada)
        await listed(bob)
        channel = (await mod.call("channel:create", {"name": "spam"}))["channel"]
        sent = await ada.send(channel["id"], "buy now")
        assert (await mod.call("message:delete", {"channel": channel["id"], "id": sent["id"]}))[
            "ok"
        ]
        (gone,) = await bob.wait_for("message:delete")
        assert gone == {"channel": channel["id"], "id": sent["id"]}
        talk = (await ada.call("dm:open", {"userId": bob.session["userId"]}))["conversation"]
        private = await ada.send(talk["id"], "private")
        refused = await mod.call("message:delete", {"channel": talk["id"], "id": private["id"]})
        assert refused["ok"] is False
        assert refused["error"].startswith("unknown channel")
        pages = await bob.call("channel:history", talk["id"], {})
        assert [m["message"] for m in pages["messages"]] == ["private"]


async def test_created_channels_are_bounded(start_server: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(events, "MAX_CREATED_CHANNELS", 2)
    server = await start_server()
    token = await moderator_token(server)
    async with joined(server.url, {"token": token}, "mod") as mod:
        for name in ("one", "two"):
            assert (await mod.call("channel:create", {"name": name}))["ok"] is True
        third = await mod.call("channel:create", {"name": "three"})
        assert third == {"ok": False, "error": "this server has the most channels it keeps (2)"}
