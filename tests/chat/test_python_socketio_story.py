"""The chat driven by python-socketio's (blocking) client, on one node and with its clients
on three nodes of a cluster. It runs in a worker thread so the in-process servers keep
serving (as tests/test_interop_python.py does)."""

import trio

from tests.support.layouts import ChatFactory, spread_over
from tests.support.pysio import WAIT, Recorder


def chat_story(alice_url: str, bob_url: str, again_url: str) -> None:
    alice, bob = Recorder("alice"), Recorder("bob")
    alice.client.connect(alice_url, auth={"username": "alice"}, wait_timeout=WAIT)
    try:
        (session,) = alice.wait_for("session")
        alice.wait_for("users")
        bob.client.connect(bob_url, auth={"username": "bob"}, wait_timeout=WAIT)
        (bob_session,) = bob.wait_for("session")
        (users,) = bob.wait_for("users")
        assert {u["username"]: u["connected"] for u in users} == {"alice": True, "bob": True}
        (joined,) = alice.wait_for("user:join")
        assert joined["userId"] == bob_session["userId"]

        ack = bob.client.call("message:channel:send", ("general", "hi from python"), timeout=WAIT)
        assert ack["ok"] is True
        for who in (alice, bob):
            channel, message = who.wait_for("message:channel")
            assert (channel, message["id"], message["username"]) == ("general", ack["id"], "bob")

        bob.disconnect()
        (gone,) = alice.wait_for("user:disconnect")
        assert gone == {
            "userId": bob_session["userId"],
            "username": "bob",
            "connected": False,
            "role": "guest",
        }

        again = Recorder("bob again")
        again.client.connect(again_url, auth={"sessionId": bob_session["sessionId"]})
        try:
            (restored,) = again.wait_for("session")
            assert restored == bob_session
            (channels,) = again.wait_for("channels")
            general = next(c for c in channels if c["name"] == "general")
            assert [m["message"] for m in general["messages"]] == ["hi from python"]
            (back,) = alice.wait_for("user:connect")
            assert back["userId"] == bob_session["userId"]
        finally:
            again.disconnect()
        assert session["username"] == "alice"
    finally:
        alice.disconnect()
        bob.disconnect()


# On three nodes bob restores his session on another node than his first.
@spread_over(1, 3)
async def test_python_socketio_clients_walk_the_chat_story(start_chat: ChatFactory) -> None:
    urls = [node.url for node in await start_chat()]
    with trio.fail_after(60):
        alice, bob, again = (urls[n % len(urls)] for n in range(3))
        await trio.to_thread.run_sync(chat_story, alice, bob, again)
