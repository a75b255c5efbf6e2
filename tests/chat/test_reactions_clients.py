"""Reactions with other clients: node's socket.io-client (tests/node/reactions.mjs) and
python-socketio, each reacting, refused a bad emoji, and seeing the others' reactions."""

from typing import Any

import pytest
import trio

from tests.support.nodeclient import by_step, run_node
from tests.support.pysio import WAIT, Recorder
from tests.support.servers import RunningServer


@pytest.mark.node
async def test_node_reacts_and_sees_reactions(server: RunningServer) -> None:
    steps = by_step(await run_node("reactions.mjs", server.url))
    message_id = steps["ids"]["message"]
    bob_adds, ada_adds = steps["bob_adds"]["ack"], steps["ada_adds"]["ack"]
    assert bob_adds["ok"] is True
    (party,) = bob_adds["reactions"]
    assert (party["emoji"], party["count"]) == ("🎉", 1)
    bob_id = party["userIds"][0]
    (both,) = ada_adds["reactions"]
    assert (both["emoji"], both["count"], both["userIds"][0]) == ("🎉", 2, bob_id)
    ada_id = both["userIds"][1]
    assert steps["bad"]["ack"] == {
        "ok": False,
        "error": "emoji must be one emoji, or a :shortcode:",
    }
    assert steps["bob_removes"]["ack"] == {
        "ok": True,
        "reactions": [{"emoji": "🎉", "count": 1, "userIds": [ada_id]}],
    }
    assert [u["reactions"] for u in steps["ada_saw"]["updates"]] == [
        bob_adds["reactions"],
        ada_adds["reactions"],
        steps["bob_removes"]["ack"]["reactions"],
    ]
    assert {u["id"] for u in steps["ada_saw"]["updates"]} == {message_id}


async def test_python_socketio_reacts_and_sees_reactions(server: RunningServer) -> None:
    def story() -> dict[str, Any]:
        ada, bob = Recorder("ada"), Recorder("bob")
        ada.client.connect(server.url, auth={"username": "ada-py"}, wait_timeout=WAIT)
        bob.client.connect(server.url, auth={"username": "bob-py"}, wait_timeout=WAIT)
        try:
            ada.wait_for("users")
            bob.wait_for("users")
            sent = ada.client.call("message:channel:send", ("general", "hi"), timeout=WAIT)
            at = {"channel": "general", "id": sent["id"]}
            steps = {
                "add": bob.client.call("reaction:add", {**at, "emoji": "❤"}, timeout=WAIT),
                "bad": bob.client.call("reaction:add", {**at, "emoji": 1}, timeout=WAIT),
            }
            (steps["seen"],) = ada.wait_for("reaction:update")
            return steps
        finally:
            ada.disconnect()
            bob.disconnect()

    steps = await trio.to_thread.run_sync(story)
    # "❤" without its emoji presentation selector is kept as "❤️" (the RGI form).
    (heart,) = steps["add"]["reactions"]
    assert (heart["emoji"], heart["count"]) == ("❤️", 1)
    assert steps["bad"] == {
        "ok": False,
        "error": "emoji must be a string: one emoji, or a :shortcode:",
    }
    assert steps["seen"]["reactions"] == steps["add"]["reactions"]
