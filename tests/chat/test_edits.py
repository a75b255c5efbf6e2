"""Editing and deleting your own messages (issue 18) on a real server with our trio client:
what the author and everyone else in the channel see, what history returns afterwards, who
may, and bad input costing its sender only."""

from typing import Any

import pytest

from minidiscord.chat.models import Role
from minidiscord.chat.validation import MAX_MESSAGE
from minidiscord.limits import Rate
from tests.support.accounts import account_with_role
from tests.support.chatclient import joined
from tests.support.servers import RunningServer, ServerFactory


async def test_an_edit_reaches_everyone_in_the_channel_and_every_later_read(
    server: RunningServer,
) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await ada.send("general", "helo wrold")
        other = await ada.send("general", "second")
        ack = await ada.call(
            "message:edit", {"channel": "general", "id": sent["id"], "text": " hello world "}
        )
        assert ack["ok"] is True
        assert ack["id"] == sent["id"]
        assert isinstance(ack["editedAt"], int)
        wanted = {
            "channel": "general",
            "id": sent["id"],
            "message": "hello world",  # trimmed, as a send is
            "editedAt": ack["editedAt"],
        }
        for client in (ada, bob):
            (change,) = await client.wait_for("message:edit")
            assert change == wanted
        page = await bob.call("channel:history", "general", {"limit": 10})
        first, second = page["messages"]
        assert (first["id"], first["message"], first["editedAt"]) == (
            sent["id"],
            "hello world",
            ack["editedAt"],
        )
        assert (second["id"], "editedAt" in second) == (other["id"], False)
        assert first["userId"] == ada.session["userId"]
        async with joined(server.url, {"username": "cy"}, "cy") as cy:
            history = cy.greeting_history("general")
            assert [(m["message"], m.get("editedAt")) for m in history] == [
                ("hello world", ack["editedAt"]),
                ("second", None),
            ]
        # Edited again: the last one stays.
        again = await ada.call(
            "message:edit", {"channel": "general", "id": sent["id"], "text": "hi"}
        )
        assert again["ok"] is True
        await bob.wait_for("message:edit", lambda change: change["message"] == "hi")
        page = await bob.call("channel:history", "general", {"before": other["id"]})
        assert [m["message"] for m in page["messages"]] == ["hi"]


async def test_only_the_author_edits_and_a_refusal_changes_nothing(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await ada.send("general", "mine")
        ack = await bob.call(
            "message:edit", {"channel": "general", "id": sent["id"], "text": "yours"}
        )
        assert ack == {"ok": False, "error": "you may edit only your own messages"}
        page = await bob.call("channel:history", "general", {})
        assert [(m["message"], "editedAt" in m) for m in page["messages"]] == [("mine", False)]
        # Named in the wrong channel it is no message at all.
        ack = await ada.call("message:edit", {"channel": "react", "id": sent["id"], "text": "x"})
        assert ack == {"ok": False, "error": f"there is no message {sent['id']} in react"}
        # Nobody was told of a change (the next event each gets is this message).
        await ada.send("general", "after")
        for client in (ada, bob):
            await client.wait_for("message:channel", lambda _c, m: m["message"] == "after")
            assert client.received("message:edit") == []


async def test_an_author_deletes_their_own_message_for_everyone(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        sent = await ada.send("general", "oops")
        kept = await bob.send("general", "bob's")
        # A guest may not delete someone else's: that is moderation's, for moderators.
        refused = await bob.call("message:delete", {"channel": "general", "id": sent["id"]})
        assert refused == {"ok": False, "error": "only a moderator or an admin may do that"}
        refused = await ada.call("message:delete", {"channel": "general", "id": kept["id"]})
        assert refused == {"ok": False, "error": "only a moderator or an admin may do that"}
        assert await ada.call("message:delete", {"channel": "general", "id": sent["id"]}) == {
            "ok": True
        }
        for client in (ada, bob):
            (gone,) = await client.wait_for("message:delete")
            assert gone == {"channel": "general", "id": sent["id"]}
        page = await bob.call("channel:history", "general", {})
        assert [m["id"] for m in page["messages"]] == [kept["id"]]
        async with joined(server.url, {"username": "cy"}, "cy") as cy:
            assert [m["id"] for m in cy.greeting_history("general")] == [kept["id"]]
        # Gone: neither deleted again nor edited.
        again = await ada.call("message:delete", {"channel": "general", "id": sent["id"]})
        assert again == {"ok": False, "error": f"there is no message {sent['id']} in general"}
        edit = await ada.call("message:edit", {"channel": "general", "id": sent["id"], "text": "x"})
        assert edit == {"ok": False, "error": f"there is no message {sent['id']} in general"}


async def test_a_member_deletes_their_own_and_a_moderator_anyone_s(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    member = await account_with_role(server.app, server.url, "mia", Role.MEMBER)
    moderator = await account_with_role(server.app, server.url, "mod", Role.MODERATOR)
    async with (
        joined(server.url, {"token": member}, "mia") as mia,
        joined(server.url, {"token": moderator}, "mod") as mod,
        joined(server.url, {"username": "tom"}, "tom") as tom,
    ):
        own = await mia.send("general", "mine")
        toms = await tom.send("general", "spam")
        mods = await mod.send("general", "the moderator's")
        assert await mia.call("message:delete", {"channel": "general", "id": own["id"]}) == {
            "ok": True
        }
        refused = await mia.call("message:delete", {"channel": "general", "id": mods["id"]})
        assert refused == {"ok": False, "error": "only a moderator or an admin may do that"}
        assert await mod.call("message:delete", {"channel": "general", "id": toms["id"]}) == {
            "ok": True
        }
        deleted = [gone["id"] for (gone,) in [await tom.wait_for("message:delete")]]
        await tom.wait_for("message:delete", lambda gone: gone["id"] == toms["id"])
        assert deleted[0] == own["id"]
        # The moderator's deletion is audited; an author's own is not moderation.
        admin = await account_with_role(server.app, server.url, "root", Role.ADMIN)
        async with joined(server.url, {"token": admin}, "root") as root:
            entries = (await root.call("audit:list", {}))["entries"]
        assert [e["detail"] or e["target"] for e in entries if e["action"] == "delete message"] == [
            f"message {toms['id']} in general"
        ]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"channel": "general", "id": "1", "text": "x"}, "id must be a message's id"),
        ({"channel": "general", "id": True, "text": "x"}, "id must be a message's id"),
        ({"channel": "nowhere", "id": 1, "text": "x"}, "unknown channel 'nowhere'"),
        ({"channel": 5, "id": 1, "text": "x"}, "channel must be a string"),
        ({"channel": "general", "id": 1, "text": "   "}, "message is empty"),
        ({"channel": "general", "id": 1, "text": 7}, "message must be a string"),
        ({"channel": "general", "id": 1, "text": "y" * (MAX_MESSAGE + 1)}, "message is too long"),
        ({"channel": "general", "id": 1, "text": "a\x00b"}, "control characters"),
        ({"channel": "general", "id": 10**30, "text": "x"}, "id must be a message's id"),
        ({"channel": "general", "id": 2**53, "text": "x"}, "there is no message"),
        ({"channel": "general", "id": -1, "text": "x"}, "there is no message"),
    ],
)
async def test_bad_edits_are_refused_and_cost_their_sender_only(
    server: RunningServer, payload: dict[str, Any], error: str
) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        await ada.send("general", "first")  # id 1 exists
        ack = await ada.call("message:edit", payload)
        assert ack["ok"] is False
        assert error in ack["error"]
        assert (await bob.send("general", "still here"))["ok"] is True
        assert (await ada.send("general", "me too"))["ok"] is True
        assert bob.received("message:edit") == []


@pytest.mark.parametrize("event", ["message:edit", "message:delete"])
async def test_requests_not_an_object_are_refused(server: RunningServer, event: str) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        for args in [(), ("general", 1), (["general"],), (None,)]:
            ack = await ada.call(event, *args)
            assert ack == {"ok": False, "error": "expected one object argument"}, args


async def test_edits_are_rate_limited_per_user(start_server: ServerFactory) -> None:
    server = await start_server(rate_limit=Rate(2, 0.01))
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = await ada.send("general", "v0")
        acks = [
            await ada.call(
                "message:edit", {"channel": "general", "id": sent["id"], "text": f"v{n}"}
            )
            for n in (1, 2, 3)
        ]
        assert [ack["ok"] for ack in acks] == [True, True, False]
        assert acks[2]["error"].startswith("you are editing too fast")
        assert acks[2]["retryAfter"] > 0


async def test_a_timed_out_user_cannot_edit(start_server: ServerFactory) -> None:
    server = await start_server()
    moderator = await account_with_role(server.app, server.url, "mod", Role.MODERATOR)
    async with (
        joined(server.url, {"username": "tom"}, "tom") as tom,
        joined(server.url, {"token": moderator}, "mod") as mod,
    ):
        sent = await tom.send("general", "v0")
        timeout = await mod.call("user:timeout", {"userId": tom.session["userId"], "seconds": 60})
        assert timeout["ok"] is True
        ack = await tom.call("message:edit", {"channel": "general", "id": sent["id"], "text": "v1"})
        assert ack["ok"] is False
        assert ack["until"] == timeout["until"]
        assert "timed out" in ack["error"]
