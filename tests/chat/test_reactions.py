"""Reactions (issue 18) on a real server with our trio client: what everyone in the channel
sees, what history carries afterwards, the bounds, and bad input costing its sender only."""

from typing import Any

import pytest

from minidiscord.chat.reactions.records import MAX_KINDS, MAX_OWN
from minidiscord.limits import Rate
from tests.support.chatclient import joined
from tests.support.servers import RunningServer, ServerFactory

# Emoji every test may use: distinct, all RGI.
FACES = [chr(0x1F600 + n) for n in range(40)]


def where(sent: dict[str, Any], emoji: str, channel: str = "general") -> dict[str, Any]:
    return {"channel": channel, "id": sent["id"], "emoji": emoji}


async def test_reactions_reach_everyone_in_the_channel_and_history(
    server: RunningServer,
) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        ada_id, bob_id = ada.session["userId"], bob.session["userId"]
        sent = await ada.send("general", "ship it")
        ack = await bob.call("reaction:add", where(sent, "👍"))
        thumbs = {"emoji": "👍", "count": 1, "userIds": [bob_id]}
        assert ack == {"ok": True, "reactions": [thumbs]}
        for client in (ada, bob):
            (update,) = await client.wait_for("reaction:update")
            assert update == {"channel": "general", "id": sent["id"], "reactions": [thumbs]}
        # A shortcode counts with its emoji; a second kind comes after the first.
        ack = await ada.call("reaction:add", where(sent, ":+1:"))
        await ada.call("reaction:add", where(sent, ":tada:"))
        both = [
            {"emoji": "👍", "count": 2, "userIds": [bob_id, ada_id]},
            {"emoji": "🎉", "count": 1, "userIds": [ada_id]},
        ]
        await bob.wait_for("reaction:update", lambda u: u["reactions"] == both)
        # Adding again changes nothing and tells nobody.
        assert await ada.call("reaction:add", where(sent, "🎉")) == {"ok": True, "reactions": both}
        page = await bob.call("channel:history", "general", {})
        assert page["messages"][0]["reactions"] == both
        async with joined(server.url, {"username": "cy"}, "cy") as cy:
            assert cy.greeting_history("general")[0]["reactions"] == both
        ack = await bob.call("reaction:remove", where(sent, "👍"))
        after = [
            {"emoji": "👍", "count": 1, "userIds": [ada_id]},
            {"emoji": "🎉", "count": 1, "userIds": [ada_id]},
        ]
        assert ack == {"ok": True, "reactions": after}
        await ada.wait_for("reaction:update", lambda u: u["reactions"] == after)
        assert len(bob.received("reaction:update")) == 4
        await ada.call("reaction:remove", where(sent, "👍"))
        await ada.call("reaction:remove", where(sent, "🎉"))
        await bob.wait_for("reaction:update", lambda u: u["reactions"] == [])
        page = await bob.call("channel:history", "general", {})
        assert "reactions" not in page["messages"][0]


async def test_a_message_s_reactions_are_bounded(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
        joined(server.url, {"username": "cy"}, "cy") as cy,
    ):
        sent = await ada.send("general", "react to me")
        for emoji in FACES[:MAX_OWN]:
            assert (await ada.call("reaction:add", where(sent, emoji)))["ok"] is True
        refused = await ada.call("reaction:add", where(sent, FACES[MAX_OWN]))
        assert refused == {
            "ok": False,
            "error": f"you may react at most {MAX_OWN} times to one message",
        }
        for emoji in FACES[MAX_OWN:MAX_KINDS]:
            assert (await bob.call("reaction:add", where(sent, emoji)))["ok"] is True
        refused = await cy.call("reaction:add", where(sent, FACES[MAX_KINDS]))
        assert refused == {
            "ok": False,
            "error": f"a message holds at most {MAX_KINDS} different reactions",
        }
        # A kind already there may still be joined.
        assert (await cy.call("reaction:add", where(sent, FACES[0])))["ok"] is True


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"emoji": "a"}, "emoji must be one emoji, or a :shortcode:"),
        ({"emoji": "👍👍"}, "emoji must be one emoji, or a :shortcode:"),
        ({"emoji": "👍" * 40}, "emoji must be one emoji, or a :shortcode:"),
        ({"emoji": ""}, "emoji must be one emoji, or a :shortcode:"),
        ({"emoji": 5}, "emoji must be a string"),
        ({"emoji": ":nope:"}, "unknown shortcode :nope:"),
        ({"emoji": "\u200d"}, "emoji must be one emoji, or a :shortcode:"),
        ({"channel": "nowhere"}, "unknown channel 'nowhere'"),
        ({"id": "1"}, "id must be a message's id"),
        ({"id": 10**6}, "there is no message 1000000 in general"),
    ],
)
async def test_bad_reactions_are_refused_and_cost_their_sender_only(
    server: RunningServer, payload: dict[str, Any], error: str
) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await ada.send("general", "first")
        for event in ("reaction:add", "reaction:remove"):
            ack = await ada.call(event, {**where(sent, "👍"), **payload})
            assert ack["ok"] is False
            assert error in ack["error"]
        assert (await bob.call("reaction:add", where(sent, "👍")))["ok"] is True
        await ada.wait_for("reaction:update")
        assert len(ada.received("reaction:update")) == 1


async def test_reactions_of_a_message_in_another_channel_name_that_channel(
    server: RunningServer,
) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = await ada.send("react", "over here")
        refused = await ada.call("reaction:add", where(sent, "👍", "general"))
        assert refused == {"ok": False, "error": f"there is no message {sent['id']} in general"}
        ack = await ada.call("reaction:add", where(sent, "👍", "react"))
        assert ack["ok"] is True
        (update,) = await ada.wait_for("reaction:update")
        assert update["channel"] == "react"


async def test_reactions_are_rate_limited_per_user(start_server: ServerFactory) -> None:
    server = await start_server(rate_limit=Rate(2, 0.01))
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = await ada.send("general", "hi")
        acks = [await ada.call("reaction:add", where(sent, emoji)) for emoji in FACES[:3]]
        assert [ack["ok"] for ack in acks] == [True, True, False]
        assert acks[2]["error"].startswith("you are reacting too fast")
        assert acks[2]["retryAfter"] > 0
