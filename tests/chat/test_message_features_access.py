"""Edits, reactions, deletes and search go through the channel registry's one access check:
in a direct conversation only its members may touch or find its messages, and an archived
channel is read-only (found by search, never changed). On one node and across two cluster
nodes (the clients take turns between the nodes)."""

from typing import Any

from minidiscord.chat.models import Role
from tests.support.accounts import account_with_role
from tests.support.chatclient import ChatClient, joined
from tests.support.layouts import ChatFactory


async def listening(client: ChatClient) -> None:
    assert (await client.call("channel:list"))["ok"] is True


async def found(client: ChatClient, query: str, **fields: Any) -> list[str]:
    """The channels of ``client``'s search hits for ``query``."""
    answer = await client.call("search", {"query": query, **fields})
    assert answer["ok"] is True, answer
    return [hit["channel"] for hit in answer["results"]]


async def test_only_a_conversations_members_edit_react_delete_or_find_its_messages(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    urls = [nodes[n % len(nodes)].url for n in range(3)]
    async with (
        joined(urls[0], {"username": "ada"}, "ada") as ada,
        joined(urls[1], {"username": "bob"}, "bob") as bob,
        joined(urls[2], {"username": "eve"}, "eve") as eve,
    ):
        for client in (ada, bob, eve):
            await listening(client)
        opened = await ada.call("dm:open", {"userId": bob.session["userId"]})
        dm = opened["conversation"]["id"]
        assert (await ada.send(dm, "secret plans"))["ok"] is True
        _, message = await bob.wait_for("message:channel", lambda c, m: c == dm)
        target = {"channel": dm, "id": message["id"]}

        edited = await ada.call("message:edit", {**target, "text": "secret plans, revised"})
        assert edited["ok"] is True, edited
        change = (await bob.wait_for("message:edit"))[0]
        assert change["message"] == "secret plans, revised"
        reacted = await bob.call("reaction:add", {**target, "emoji": "👍"})
        assert reacted["ok"] is True, reacted
        await ada.wait_for("reaction:update", lambda u: u["channel"] == dm)

        # Eve is refused as for a channel that does not exist, and finds nothing.
        for event, fields in (
            ("message:edit", {**target, "text": "mine now"}),
            ("reaction:add", {**target, "emoji": "👍"}),
            ("message:delete", target),
        ):
            answer = await eve.call(event, fields)
            assert answer["ok"] is False, (event, answer)
            assert answer["error"].startswith("unknown channel"), (event, answer)
        assert await found(eve, "plans") == []
        refused = await eve.call("search", {"query": "plans", "channel": dm})
        assert refused["ok"] is False
        assert refused["error"].startswith("unknown channel")
        assert await found(bob, "plans") == [dm]
        assert await found(ada, "revised", channel=dm) == [dm]

        # Once eve has a public message she would have had the conversation's events.
        await bob.send("general", "public")
        await eve.wait_for("message:channel", lambda c, m: m["message"] == "public")
        for event in ("message:edit", "reaction:update", "message:delete"):
            assert event not in eve.names(), event
        # The author deletes it: the other member sees it go, and nobody finds it again.
        assert (await ada.call("message:delete", target))["ok"] is True
        assert (await bob.wait_for("message:delete"))[0] == target
        assert await found(bob, "plans") == []


async def test_an_archived_channel_is_found_by_search_but_never_changed(
    start_chat: ChatFactory,
) -> None:
    nodes = await start_chat()
    token = await account_with_role(nodes[0].app, nodes[0].url, "mod", Role.MODERATOR)
    async with (
        joined(nodes[0].url, {"token": token}, "mod") as mod,
        joined(nodes[-1].url, {"username": "ada"}, "ada") as ada,
    ):
        await listening(ada)
        channel = (await mod.call("channel:create", {"name": "archive-me"}))["channel"]["id"]
        await ada.wait_for("channel:update", lambda c: c["id"] == channel)
        assert (await ada.send(channel, "old news"))["ok"] is True
        _, message = await ada.wait_for("message:channel", lambda c, m: c == channel)
        target = {"channel": channel, "id": message["id"]}
        assert (await mod.call("channel:archive", {"id": channel}))["ok"] is True
        await ada.wait_for("channel:update", lambda c: c["id"] == channel and c["archived"])

        for event, fields in (
            ("message:edit", {**target, "text": "new news"}),
            ("reaction:add", {**target, "emoji": "👍"}),
            ("message:delete", target),
        ):
            answer = await ada.call(event, fields)
            assert answer == {"ok": False, "error": "#archive-me is archived: it is read-only"}
        assert await found(ada, "news") == [channel]
