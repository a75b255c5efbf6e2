"""Channels and direct conversations with other clients at once, on one node and across two
cluster nodes: node's socket.io-client (tests/node/convos.mjs) is a moderator who makes a
channel and opens a conversation, python-socketio is the other member, and the project's
trio client a bystander who must hear of the channel and nothing of the conversation."""

import json
from typing import Any

import pytest
import trio

from minidiscord.chat.models import Role
from tests.support.accounts import account_with_role
from tests.support.chatclient import joined
from tests.support.layouts import ChatFactory
from tests.support.nodeclient import by_step, run_node
from tests.support.pysio import WAIT, Recorder


@pytest.mark.node
async def test_node_moderator_python_member_and_a_bystander(start_chat: ChatFactory) -> None:
    nodes = await start_chat()
    token = await account_with_role(nodes[0].app, nodes[0].url, "nodemod", Role.MODERATOR)
    bob = Recorder("python-socketio bob")
    async with joined(nodes[-1].url, {"username": "eve"}, "eve") as eve:
        assert (await eve.call("channel:list"))["ok"] is True

        def bob_joins() -> str:
            bob.client.connect(
                nodes[-1].url, auth={"username": "bob"}, wait_timeout=WAIT, transports=["websocket"]
            )
            bob.wait_for("users")
            listed = bob.client.call("channel:list", {}, timeout=WAIT)
            assert listed["ok"] is True
            assert listed["conversations"] == []
            (session,) = bob.wait_for("session")
            user_id: str = session["userId"]
            return user_id

        def bob_answers() -> dict[str, Any]:
            (channel,) = bob.wait_for("channel:update")
            bob.wait_for("channel:update", lambda c: c["archived"])
            # Bob is no moderator, and bad input costs him only a refusal.
            refusals = [
                bob.client.call(event, payload, timeout=WAIT)
                for event, payload in [
                    ("channel:create", {"name": "bobs"}),
                    ("channel:archive", {"id": channel["id"]}),
                    ("dm:open", {"userId": 5}),
                    ("channel:list", "everything"),
                ]
            ]
            (talk,) = bob.wait_for("dm:update")
            bob.wait_for("message:channel", lambda c, m: m["message"] == "hello bob")
            reply = bob.client.call("message:channel:send", (talk["id"], "hi ada"), timeout=WAIT)
            assert reply["ok"] is True, reply
            bob.wait_for("message:channel", lambda c, m: m["message"] == "public")
            history = bob.client.call("channel:history", (talk["id"], {}), timeout=WAIT)
            updates = [args[0] for event, args in bob.events if event == "channel:update"]
            return {
                "channel": channel,
                "talk": talk,
                "history": history,
                "refusals": refusals,
                "updates": updates,
            }

        bob_id = await trio.to_thread.run_sync(bob_joins)
        steps = [
            ["emit", "channel:list"],
            ["emit", "channel:create", {"name": "nodechan", "topic": "from node"}],
            ["emit", "channel:rename", {"id": "$channel", "name": "nodechan2"}],
            ["emit", "channel:topic", {"id": "$channel", "topic": ""}],
            ["emit", "channel:archive", {"id": "$channel"}],
            ["emit", "message:channel:send", "$channel", "too late"],
            ["emit", "dm:open", {"userId": bob_id}],
            ["emit", "message:channel:send", "$conversation", "hello bob"],
            ["wait", "message:channel", 2],
            ["emit", "message:channel:send", "general", "public"],
            ["emit", "channel:create", {"name": "NODECHAN2"}],
            ["emit", "dm:open", {"userId": "nobody"}],
        ]
        seen: dict[str, Any] = {}
        try:
            async with trio.open_nursery() as nursery:

                async def node_side() -> None:
                    seen["node"] = await run_node(
                        "convos.mjs", nodes[0].url, json.dumps({"token": token}), json.dumps(steps)
                    )

                async def bob_side() -> None:
                    seen["bob"] = await trio.to_thread.run_sync(bob_answers)

                nursery.start_soon(node_side)
                nursery.start_soon(bob_side)
        finally:
            await trio.to_thread.run_sync(bob.client.disconnect)
        node = by_step(seen["node"])
        made = node["1"]["ack"]
        assert made["ok"] is True
        assert made["channel"]["name"] == "nodechan"
        talk = node["6"]["ack"]["conversation"]
        assert node["7"]["ack"]["ok"] is True
        assert [(c, m["message"]) for c, m in node["8"]["events"]] == [
            (talk["id"], "hello bob"),
            (talk["id"], "hi ada"),
        ]
        taken = "a channel named 'NODECHAN2' exists already"
        assert node["10"]["ack"] == {"ok": False, "error": taken}
        assert node["11"]["ack"] == {"ok": False, "error": "no such user"}
        cid = made["channel"]["id"]
        assert node["2"]["ack"]["channel"]["name"] == "nodechan2"
        assert node["3"]["ack"]["channel"]["topic"] == ""
        assert node["4"]["ack"]["channel"]["archived"] is True
        assert node["5"]["ack"] == {"ok": False, "error": "#nodechan2 is archived: it is read-only"}
        assert [
            (u["id"], u["name"], u["topic"], u["archived"]) for u in seen["bob"]["updates"]
        ] == [
            (cid, "nodechan", "from node", False),
            (cid, "nodechan2", "from node", False),
            (cid, "nodechan2", "", False),
            (cid, "nodechan2", "", True),
        ]
        assert [r["ok"] for r in seen["bob"]["refusals"]] == [False] * 4
        assert "moderator" in seen["bob"]["refusals"][0]["error"]
        assert seen["bob"]["refusals"][2]["error"] == "userId must be a user's id"
        assert seen["bob"]["refusals"][3]["error"] == "expected one object argument"
        assert seen["bob"]["channel"] == made["channel"]
        assert seen["bob"]["talk"] == talk
        assert [m["message"] for m in seen["bob"]["history"]["messages"]] == [
            "hello bob",
            "hi ada",
        ]
        # The bystander heard of the channel and of the public line, never of the talk.
        await eve.wait_for("message:channel", lambda c, m: m["message"] == "public")
        assert [a[0] for a in eve.received("channel:update")] == seen["bob"]["updates"]
        assert [c for c, _ in eve.received("message:channel")] == ["general"]
        assert "dm:update" not in eve.names()
