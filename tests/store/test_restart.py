"""A server restarted on the same SQLite file: same users, sessions and history; all offline."""

from dataclasses import replace
from pathlib import Path

import trio

from minidiscord.app import create_app
from minidiscord.chat.models import CHANNELS
from minidiscord.chat.store.sqlite import SqliteStore
from tests.support.chatclient import ChatClient
from tests.support.servers import TEST_SETTINGS, RunningServer, serve_app


async def start(nursery: trio.Nursery, db: Path) -> tuple[RunningServer, SqliteStore]:
    """A server on the SQLite file; its lifespan runs the store's writer."""
    store = SqliteStore.open(str(db))
    settings = replace(TEST_SETTINGS, store="sqlite", db_path=str(db), history_limit=3)
    server = await serve_app(nursery, create_app(settings, store))
    return server, store


async def test_a_restart_keeps_users_sessions_and_history(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    db = tmp_path / "chat.db"
    server, store = await start(nursery, db)
    alice = ChatClient(server.url, "alice", nursery=nursery)
    bob = ChatClient(server.url, "bob", nursery=nursery)
    try:
        await alice.connect({"username": "alice", "avatar": "https://cdn.example.net/a.png"})
        await bob.connect({"username": "bob"})
        acks = [await alice.send("general", f"before {n}") for n in range(5)]
        acks.append(await bob.send("react", "bob was here"))
        assert all(ack["ok"] for ack in acks)
        alice_session, bob_session = alice.session, bob.session
    finally:
        await alice.close()
        await bob.close()
    server.shutdown.set()
    await store.close()

    server, store = await start(nursery, db)
    alice = ChatClient(server.url, "alice again", nursery=nursery)
    try:
        await alice.connect({"sessionId": alice_session["sessionId"]})
        assert alice.session == alice_session
        (channels,) = alice.received("channels")[0]
        assert [c["name"] for c in channels] == list(CHANNELS)
        history = {c["name"]: [m["message"] for m in c["messages"]] for c in channels}
        assert history["general"] == ["before 2", "before 3", "before 4"]  # the last 3
        assert history["react"] == ["bob was here"]
        assert [m["id"] for m in channels[1]["messages"]] == [acks[n]["id"] for n in (2, 3, 4)]
        assert channels[1]["messages"][0]["avatar"] == "https://cdn.example.net/a.png"
        # Everyone is offline until they reconnect; alice just did.
        (users,) = alice.received("users")[0]
        assert users == [
            {
                "userId": alice_session["userId"],
                "username": "alice",
                "connected": True,
                "role": "guest",
            },
            {
                "userId": bob_session["userId"],
                "username": "bob",
                "connected": False,
                "role": "guest",
            },
        ]
        page = await alice.call("channel:history", "general", {"before": acks[2]["id"]})
        assert [m["message"] for m in page["messages"]] == ["before 0", "before 1"]
        later = await alice.send("general", "after the restart")
        assert later["id"] > acks[-1]["id"]
    finally:
        await alice.close()
    server.shutdown.set()
    await store.close()
