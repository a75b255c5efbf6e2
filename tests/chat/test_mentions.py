"""Mentions: `@name` parsed and resolved as account names are matched, the `mentions` field
of the live message, and the `mention` notification to exactly the mentioned users (our
trio client, python-socketio and node's socket.io-client)."""

from typing import Any

import pytest
import trio

from minidiscord.chat.live.mentions import MAX_MENTIONS, candidates, resolve
from minidiscord.chat.models import User
from minidiscord.chat.validation import name_key
from tests.support.chatclient import joined
from tests.support.layouts import ChatFactory
from tests.support.pysio import WAIT, Recorder
from tests.support.servers import RunningServer

from .livenode import node_steps

USERS = [User("u1", "ada"), User("u2", "Bob"), User("u3", "Ada Lovelace"), User("u4", "bob")]


def ids_in(text: str) -> list[str]:
    return resolve(candidates(text), USERS)[0]


def test_names_are_matched_as_accounts_match_them() -> None:
    assert ids_in("hi @ada") == ["u1"]
    # Case, width and look-alike letters do not make another name; both Bobs are named.
    assert ids_in("@BOB, look") == ["u2", "u4"]
    assert ids_in("@\uff41\uff44\uff41!") == ["u1"]
    assert ids_in("@\u0430da") == ["u1"]  # a Cyrillic a
    # The longest run of words that names someone.
    assert ids_in("thanks @Ada Lovelace.") == ["u3"]
    assert ids_in("@ada @bob @ada") == ["u1", "u2", "u4"]


def test_what_is_not_a_mention() -> None:
    assert ids_in("mail ada@bob or @@ada or @ or @nobody") == []
    assert ids_in("no at sign") == []
    _, unmatched = resolve(candidates("@nobody here"), USERS)
    assert unmatched == [[name_key("nobody here"), name_key("nobody")]]


def test_a_message_full_of_ats_is_looked_up_a_bounded_number_of_times() -> None:
    assert len(candidates("@x " * 500)) == MAX_MENTIONS


def mention_of(message_id: int) -> Any:
    return lambda note: note["message"]["id"] == message_id


async def test_the_mentioned_users_are_told_wherever_they_are(server: RunningServer) -> None:
    async with joined(server.url, {"username": "dan"}, "dan") as dan:
        dan_id = dan.session["userId"]
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
        joined(server.url, {"username": "cy"}, "cy") as cy,
    ):
        bob_id = bob.session["userId"]
        sent = await ada.send("react", "hey @Bob, @dan and @ada: see @nobody")
        assert sent["ok"] is True
        for reader in (ada, bob, cy):
            _, message = await reader.wait_for(
                "message:channel", lambda c, m: m["id"] == sent["id"]
            )
            # dan is offline: found in the store. ada mentions herself.
            assert message["mentions"] == [bob_id, dan_id, ada.session["userId"]]
        (note,) = await bob.wait_for("mention", mention_of(sent["id"]))
        assert note["channel"] == "react"
        assert note["message"]["message"] == "hey @Bob, @dan and @ada: see @nobody"
        # Delivered to exactly the mentioned: not the author, not the others.
        plain = await cy.send("general", "after")
        await ada.wait_for("message:channel", lambda c, m: m["id"] == plain["id"])
        await bob.wait_for("message:channel", lambda c, m: m["id"] == plain["id"])
        assert ada.received("mention") == []
        assert cy.received("mention") == []
        _, message = await cy.wait_for("message:channel", lambda c, m: m["id"] == plain["id"])
        assert "mentions" not in message


async def test_python_socketio_is_notified(server: RunningServer) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:

        def story() -> tuple[Any, ...]:
            pat = Recorder("pat")
            pat.client.connect(server.url, auth={"username": "pat"}, wait_timeout=WAIT)
            try:
                pat.wait_for("users")
                # Told it is ready only once connected: ada mentions it then.
                pat.client.emit("typing:start", {"channel": "general"})
                return pat.wait_for("mention")
            finally:
                pat.disconnect()

        async with trio.open_nursery() as nursery:
            result: list[tuple[Any, ...]] = []

            async def run() -> None:
                result.append(await trio.to_thread.run_sync(story))

            nursery.start_soon(run)
            await ada.wait_for("typing", lambda s: [t["username"] for t in s["typing"]] == ["pat"])
            sent = await ada.send("general", "@pat hello")
        ((note,),) = result
        assert note["message"]["id"] == sent["id"]
        assert note["channel"] == "general"


@pytest.mark.node
async def test_node_mentions_and_is_mentioned(server: RunningServer) -> None:
    async with joined(server.url, {"username": "bob"}, "bob") as bob:
        steps: list[list[Any]] = [
            ["emit", "message:channel:send", ["casual", "hi @bob and @nod"]],
            ["wait", "message:channel", {}],
        ]
        user_id, (sent, _) = await node_steps(server.url, {"username": "nod"}, steps)
        assert sent["ok"] is True
        (note,) = await bob.wait_for("mention", mention_of(sent["id"]))
        assert note["message"]["mentions"] == [bob.session["userId"], user_id]


async def test_a_mention_reaches_its_user_on_any_node(start_chat: ChatFactory) -> None:
    nodes = await start_chat()
    async with (
        joined(nodes[0].url, {"username": "ada"}, "ada") as ada,
        joined(nodes[-1].url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await ada.send("general", "ping @bob")
        (note,) = await bob.wait_for("mention", mention_of(sent["id"]))
        assert note["channel"] == "general"
        await ada.wait_for("message:channel", lambda c, m: m["id"] == sent["id"])
        assert ada.received("mention") == []


async def test_a_conversation_tells_only_its_members(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
        joined(server.url, {"username": "cy"}, "cy") as cy,
    ):
        for member in (ada, bob, cy):
            assert (await member.call("channel:list"))["ok"] is True
        opened = await ada.call("dm:open", {"userId": bob.session["userId"]})
        dm = opened["conversation"]["id"]
        # Typing and mentions in a conversation reach its members only.
        assert await ada.call("typing:start", {"channel": dm}) == {"ok": True}
        await bob.wait_for("typing", lambda s: s["channel"] == dm)
        sent = await ada.send(dm, "@bob and @cy, secret")
        assert sent["ok"] is True
        (note,) = await bob.wait_for("mention", mention_of(sent["id"]))
        assert note["channel"] == dm
        # cy may not read it: no mention, no typing, and cy may not type or mark there.
        refused = await cy.call("typing:start", {"channel": dm})
        assert refused["ok"] is False
        marked = await cy.call("read:mark", {"channel": dm, "id": sent["id"]})
        assert marked["ok"] is False
        plain = await bob.send("general", "after")
        await cy.wait_for("message:channel", lambda c, m: m["id"] == plain["id"])
        assert cy.received("mention") == []
        assert [s for (s,) in cy.received("typing") if s["channel"] == dm] == []
        assert await bob.call("read:mark", {"channel": dm, "id": sent["id"]}) == {
            "ok": True,
            "id": sent["id"],
        }
