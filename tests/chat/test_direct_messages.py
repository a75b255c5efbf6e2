"""Direct conversations (dm:open, then message:channel:send with the conversation's id):
only their two members receive or read them, on one node and across two cluster nodes (the
clients take turns between the nodes)."""

from typing import Any

import trio

from minidiscord.chat.channels import events
from minidiscord.limits import Rate
from tests.support.chatclient import ChatClient, joined
from tests.support.layouts import ChatFactory


async def listening(client: ChatClient) -> None:
    assert (await client.call("channel:list"))["ok"] is True


async def test_a_conversation_reaches_its_two_members_and_nobody_else(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    urls = [nodes[n % len(nodes)].url for n in range(4)]
    async with (
        joined(urls[0], {"username": "ada"}, "ada") as ada,
        joined(urls[1], {"username": "bob"}, "bob") as bob,
        joined(urls[2], {"username": "eve"}, "eve") as eve,
        joined(urls[3], {"sessionId": ada.session["sessionId"]}, "ada's second tab") as tab,
    ):
        for client in (ada, bob, eve):
            await listening(client)
        ada_id, bob_id = ada.session["userId"], bob.session["userId"]
        opened = await ada.call("dm:open", {"userId": bob_id})
        assert opened["ok"] is True, opened
        talk = opened["conversation"]
        assert talk["id"] == "dm:" + ":".join(sorted([ada_id, bob_id]))
        assert sorted(talk["members"]) == sorted([ada_id, bob_id])
        # The other member learns of it at once; opening again gives the same one.
        assert (await bob.wait_for("dm:update"))[0] == talk
        assert await bob.call("dm:open", {"userId": ada_id}) == opened
        sent = await ada.send(talk["id"], "just between us")
        assert sent["ok"] is True, sent
        answer = await bob.send(talk["id"], "indeed")
        assert answer["ok"] is True, answer
        for member in (ada, bob):
            await member.wait_for("message:channel", lambda c, m: m["message"] == "indeed")
            got = [m["message"] for c, m in member.received("message:channel") if c == talk["id"]]
            assert got == ["just between us", "indeed"], member
        # A public message after them: once eve has it, she would have had the others.
        await bob.send("general", "public")
        await eve.wait_for("message:channel", lambda c, m: m["message"] == "public")
        assert [c for c, _ in eve.received("message:channel")] == ["general"]
        assert "dm:update" not in eve.names()
        # A member's tab that never listed (the original client) hears none of it either.
        await tab.wait_for("message:channel", lambda c, m: m["message"] == "public")
        assert [c for c, _ in tab.received("message:channel")] == ["general"]
        # Eve can neither read nor write it, and learns no more than for a made-up id.
        history = await eve.call("channel:history", talk["id"], {})
        assert history["ok"] is False
        assert history["error"].startswith(f"unknown channel {talk['id'][:40] + '...'!r};")
        assert (await eve.send(talk["id"], "let me in"))["ok"] is False
        made_up = "dm:" + ":".join(sorted([eve.session["userId"], bob_id]))
        assert (await eve.send(made_up, "never opened"))["ok"] is False
        # The members read its history; a member's later connect lists it.
        pages = await bob.call("channel:history", talk["id"], {"limit": 10})
        assert [m["message"] for m in pages["messages"]] == ["just between us", "indeed"]
        assert (await tab.call("channel:list"))["conversations"] == [talk]
        assert (await eve.call("channel:list"))["conversations"] == []


async def test_bad_conversation_requests_are_refused(start_chat: ChatFactory) -> None:
    nodes = await start_chat()
    async with joined(nodes[0].url, {"username": "ada"}, "ada") as ada:
        own = ada.session["userId"]
        cases: list[tuple[Any, str]] = [
            ({"userId": own}, "a conversation needs someone else"),
            ({"userId": "f" * 32}, "no such user"),
            ({"userId": 5}, "userId must be a user's id"),
            ({"userId": "a:b"}, "userId must be a user's id"),
            ({"userId": "x" * 65}, "userId must be a user's id"),
            ({}, "userId must be a user's id"),
            ("bob", "expected one object argument"),
        ]
        for payload, error in cases:
            assert await ada.call("dm:open", payload) == {"ok": False, "error": error}
        assert (await ada.call("channel:list"))["conversations"] == []


async def test_a_conversation_opens_with_someone_offline(start_chat: ChatFactory) -> None:
    nodes = await start_chat()
    async with joined(nodes[-1].url, {"username": "bob"}, "bob") as bob:
        bob_session = bob.session
    async with joined(nodes[0].url, {"username": "ada"}, "ada") as ada:
        opened = await ada.call("dm:open", {"userId": bob_session["userId"]})
        assert opened["ok"] is True, opened
        assert (await ada.send(opened["conversation"]["id"], "when you are back"))["ok"]
    async with joined(nodes[-1].url, {"sessionId": bob_session["sessionId"]}, "bob") as bob:
        listed = await bob.call("channel:list")
        assert listed["conversations"] == [opened["conversation"]]
        history = await bob.call("channel:history", opened["conversation"]["id"], {})
        assert [m["message"] for m in history["messages"]] == ["when you are back"]


async def test_looking_for_offline_users_is_rate_limited(start_server: Any) -> None:
    # Each dm:open with someone offline reads every user: it costs a history page.
    server = await start_server(history_rate=Rate(burst=2, per_second=0.01))
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        for _ in range(2):
            assert await ada.call("dm:open", {"userId": "f" * 32}) == {
                "ok": False,
                "error": "no such user",
            }
        refused = await ada.call("dm:open", {"userId": "f" * 32})
        assert refused["ok"] is False
        assert refused["error"].startswith("you are asking too fast; try again in")
        # Someone online costs nothing: no store read.
        async with joined(server.url, {"username": "bob"}, "bob") as bob:
            opened = await ada.call("dm:open", {"userId": bob.session["userId"]})
            assert opened["ok"] is True


async def test_both_members_opening_at_once_make_one_conversation(start_chat: ChatFactory) -> None:
    nodes = await start_chat()
    async with (
        joined(nodes[0].url, {"username": "ada"}, "ada") as ada,
        joined(nodes[-1].url, {"username": "bob"}, "bob") as bob,
    ):
        await listening(ada)
        await listening(bob)
        answers: dict[str, Any] = {}

        async def open_and_write(client: ChatClient, other: ChatClient) -> None:
            opened = await client.call("dm:open", {"userId": other.session["userId"]})
            answers[client.name] = opened
            sent = await client.send(opened["conversation"]["id"], f"from {client.name}")
            assert sent["ok"] is True, sent

        async with trio.open_nursery() as nursery:
            nursery.start_soon(open_and_write, ada, bob)
            nursery.start_soon(open_and_write, bob, ada)
        assert answers["ada"] == answers["bob"]
        talk = answers["ada"]["conversation"]["id"]
        for client in (ada, bob):
            await client.wait_for("message:channel", lambda c, m: c == talk, count=2)
            assert len(client.received("dm:update")) == 1


async def test_conversations_per_user_are_bounded(start_server: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(events, "MAX_CONVERSATIONS", 1)
    server = await start_server()
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
        joined(server.url, {"username": "eve"}, "eve") as eve,
    ):
        assert (await ada.call("dm:open", {"userId": bob.session["userId"]}))["ok"] is True
        # The one they have still opens; a second does not, whoever asks.
        assert (await bob.call("dm:open", {"userId": ada.session["userId"]}))["ok"] is True
        mine = await ada.call("dm:open", {"userId": eve.session["userId"]})
        assert mine == {"ok": False, "error": "you have the most conversations one may (1)"}
        theirs = await eve.call("dm:open", {"userId": bob.session["userId"]})
        assert theirs == {"ok": False, "error": "they have the most conversations one may (1)"}
