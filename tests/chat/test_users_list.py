"""The `users` list a client gets on connect: everyone online, plus the offline users most
recently seen (a bounded number, none seen more than 30 days ago), in creation order. Users
left out stay stored: their session restores them, announced as usual."""

from pathlib import Path
from typing import Any

import pytest

from minidiscord.app import App, ChatApp
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from tests.support.chatclient import ChatClient, joined
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory
from tests.support.waiting import wait_until

DAY_MS = 24 * 3600 * 1000


def listed(client: ChatClient) -> list[tuple[str, bool]]:
    """The `users` list of the client's greeting."""
    return [(u["username"], u["connected"]) for u in client.received("users")[0][0]]


async def visit(
    server: RunningServer, auth: dict[str, Any], chat: ChatServer | None = None
) -> dict[str, Any]:
    """Connect, then go, until the server has seen the user go; the session."""
    async with joined(server.url, auth) as client:
        session = client.session
    if chat is None:
        assert isinstance(server.app, ChatApp)
        chat = server.app.chat
    presence = chat.presence
    await wait_until(lambda: not presence.is_online(session["userId"]))
    return session


@pytest.fixture(params=["memory", "sqlite"])
async def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return {"store": request.param, "db_path": str(tmp_path / "chat.db")}


async def test_only_the_most_recently_seen_offline_users_are_listed(
    start_server: ServerFactory, store_settings: dict[str, Any]
) -> None:
    server = await start_server(users_listed_offline=3, **store_settings)
    sessions = [await visit(server, {"username": f"visitor{n}"}) for n in range(10)]
    async with joined(server.url, {"username": "newcomer"}) as newcomer:
        assert listed(newcomer) == [
            ("visitor7", False),
            ("visitor8", False),
            ("visitor9", False),
            ("newcomer", True),
        ]
    # Back after a while: listed again, in creation order, and someone else drops out.
    await visit(server, {"sessionId": sessions[2]["sessionId"]})
    async with joined(server.url, {"username": "another"}) as another:
        assert listed(another) == [
            ("visitor2", False),
            ("visitor9", False),
            ("newcomer", False),
            ("another", True),
        ]


async def test_everyone_online_is_listed_whatever_the_cut(
    start_server: ServerFactory, store_settings: dict[str, Any]
) -> None:
    server = await start_server(users_listed_offline=1, **store_settings)
    # Online since long before the others were seen: outside the store's recency cut.
    async with joined(server.url, {"username": "early"}):
        for n in range(4):
            await visit(server, {"username": f"visitor{n}"})
        async with joined(server.url, {"username": "newcomer"}) as newcomer:
            assert listed(newcomer) == [("early", True), ("visitor3", False), ("newcomer", True)]


async def test_an_unlisted_user_who_comes_back_is_announced(
    start_server: ServerFactory, store_settings: dict[str, Any]
) -> None:
    server = await start_server(users_listed_offline=1, **store_settings)
    gone = await visit(server, {"username": "gone"})
    await visit(server, {"username": "since"})
    async with joined(server.url, {"username": "watcher"}) as watcher:
        assert listed(watcher) == [("since", False), ("watcher", True)]
        async with joined(server.url, {"sessionId": gone["sessionId"]}) as back:
            assert back.session["userId"] == gone["userId"]
            assert listed(back) == [("gone", True), ("since", False), ("watcher", True)]
            announced = await watcher.wait_for("user:connect")
            assert announced == ({"userId": gone["userId"], "username": "gone", "connected": True},)


async def test_offline_users_not_seen_for_30_days_are_not_listed(
    start_server: ServerFactory,
) -> None:
    now = [1_700_000_000_000]
    app = App(TEST_SETTINGS)
    chat = ChatServer(app.sio, MemoryStore(), users_listed_offline=10, clock=lambda: now[0])
    server = await start_server(app)
    await chat.start()
    old = await visit(server, {"username": "old"}, chat)
    now[0] += 2 * DAY_MS
    await visit(server, {"username": "recent"}, chat)
    now[0] += 29 * DAY_MS  # old was last seen 31 days ago, recent 29
    async with joined(server.url, {"username": "newcomer"}) as newcomer:
        assert listed(newcomer) == [("recent", False), ("newcomer", True)]
    # Not forgotten: the session still restores the user.
    async with joined(server.url, {"sessionId": old["sessionId"]}) as back:
        assert back.session["userId"] == old["userId"]
        assert listed(back) == [("old", True), ("recent", False), ("newcomer", False)]


async def test_off_lists_every_user(start_server: ServerFactory) -> None:
    server = await start_server(users_listed_offline=None)
    for n in range(5):
        await visit(server, {"username": f"visitor{n}"})
    async with joined(server.url, {"username": "newcomer"}) as newcomer:
        assert len(listed(newcomer)) == 6
