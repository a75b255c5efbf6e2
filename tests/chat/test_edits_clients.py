"""Editing and deleting one's own message with other clients: node's socket.io-client
(tests/node/edits.mjs) and python-socketio, each the author, the other user, and a watcher."""

from typing import Any

import pytest
import trio

from tests.support.nodeclient import by_step, run_node
from tests.support.pysio import WAIT, Recorder
from tests.support.servers import RunningServer


@pytest.mark.node
async def test_node_edits_and_deletes_its_own_message(server: RunningServer) -> None:
    steps = by_step(await run_node("edits.mjs", server.url))
    message_id = steps["edit"]["id"]
    edit = steps["edit"]["ack"]
    assert edit == {"ok": True, "id": message_id, "editedAt": edit["editedAt"]}
    assert steps["others_edit"]["ack"] == {
        "ok": False,
        "error": "you may edit only your own messages",
    }
    assert steps["bad"]["ack"] == {"ok": False, "error": "id must be a message's id (an integer)"}
    change = {
        "channel": "general",
        "id": message_id,
        "message": "hello",
        "editedAt": edit["editedAt"],
    }
    assert steps["seen_edit"]["payloads"] == [change]
    (stored,) = steps["history"]["messages"]
    assert (stored["message"], stored["editedAt"]) == ("hello", edit["editedAt"])
    assert steps["others_delete"]["ack"]["ok"] is False
    assert steps["delete"]["ack"] == {"ok": True}
    assert steps["seen_delete"]["payloads"] == [{"channel": "general", "id": message_id}]
    assert steps["bob_saw"]["seen"] == [
        {"event": "message:edit", "payload": change},
        {"event": "message:delete", "payload": {"channel": "general", "id": message_id}},
    ]


async def test_python_socketio_edits_and_deletes_its_own_message(server: RunningServer) -> None:
    def story() -> dict[str, Any]:
        ada, bob = Recorder("ada"), Recorder("bob")
        ada.client.connect(server.url, auth={"username": "ada-py"}, wait_timeout=WAIT)
        bob.client.connect(server.url, auth={"username": "bob-py"}, wait_timeout=WAIT)
        try:
            ada.wait_for("users")
            bob.wait_for("users")
            sent = ada.client.call("message:channel:send", ("general", "helo"), timeout=WAIT)
            where = {"channel": "general", "id": sent["id"]}
            steps = {
                "id": sent["id"],
                "others": bob.client.call("message:edit", {**where, "text": "x"}, timeout=WAIT),
                "edit": ada.client.call("message:edit", {**where, "text": "hello"}, timeout=WAIT),
                "bad": ada.client.call("message:edit", {**where, "text": ""}, timeout=WAIT),
            }
            (steps["seen_edit"],) = bob.wait_for("message:edit")
            steps["delete"] = ada.client.call("message:delete", where, timeout=WAIT)
            (steps["seen_delete"],) = bob.wait_for("message:delete")
            steps["bob_saw"] = [e for e, _ in bob.events if e.startswith("message:")]
            return steps
        finally:
            ada.disconnect()
            bob.disconnect()

    steps = await trio.to_thread.run_sync(story)
    assert steps["others"] == {"ok": False, "error": "you may edit only your own messages"}
    assert steps["edit"]["ok"] is True
    assert steps["bad"] == {"ok": False, "error": "message is empty"}
    assert steps["seen_edit"] == {
        "channel": "general",
        "id": steps["id"],
        "message": "hello",
        "editedAt": steps["edit"]["editedAt"],
    }
    assert steps["delete"] == {"ok": True}
    assert steps["seen_delete"] == {"channel": "general", "id": steps["id"]}
    assert steps["bob_saw"] == ["message:channel", "message:edit", "message:delete"]
