"""The `users` list a client gets on connect: everyone online, plus the offline users most
recently seen (a bounded number, none seen more than 30 days ago), in creation order. Users
left out stay stored: their session restores them, announced as usual.

Where who is online decides the list, the scenarios also run with their users spread over
two nodes of a cluster."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from minidiscord.app import App, ChatApp
from minidiscord.chat.server import ChatServer
from minidiscord.chat.store import MemoryStore
from tests.support.chatclient import ChatClient, joined
from tests.support.layouts import ChatFactory
from tests.support.servers import TEST_SETTINGS, RunningServer, ServerFactory
from tests.support.waiting import wait_until

DAY_MS = 24 * 3600 * 1000


def listed(client: ChatClient) -> list[tuple[str, bool]]:
    """The `users` list of the client's greeting."""
    return [(u["username"], u["connected"]) for u in client.received("users")[0][0]]


def chat_of(server: RunningServer) -> ChatServer:
    assert isinstance(server.app, ChatApp)
    return server.app.chat


async def visit(
    server: RunningServer,
    auth: dict[str, Any],
    chat: ChatServer | None = None,
    *,
    nodes: Sequence[RunningServer] = (),
) -> dict[str, Any]:
    """Connect, then go, until the server (and every other node of its cluster) has seen
    the user go; the session."""
    async with joined(server.url, auth) as client:
        session = client.session
    user_id = session["userId"]
    chats = [chat or chat_of(server), *(chat_of(node) for node in nodes)]
    # Who each node shows online: in a cluster, every node's users as of its log position.
    await wait_until(lambda: all(user_id not in c.online_users() for c in chats))
    return session


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def store_settings(store: str, tmp_path: Path) -> dict[str, Any]:
    # A cluster's nodes store in Redis whatever these say.
    return {"store": store, "db_path": str(tmp_path / "chat.db")}


# The scenarios where who is online decides the list also run with the users spread over two
# nodes of a cluster (on its Redis store): online comes from the cluster's presence then.
ON_EVERY_STORE_AND_SPREAD = pytest.mark.parametrize(
    ("store", "layout"),
    [("memory", 1), ("sqlite", 1), ("redis", 2)],
    ids=["memory", "sqlite", "redis-two nodes"],
)


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


@ON_EVERY_STORE_AND_SPREAD
async def test_everyone_online_is_listed_whatever_the_cut(
    start_chat: ChatFactory, store_settings: dict[str, Any]
) -> None:
    nodes = await start_chat(users_listed_offline=1, **store_settings)
    # Online since long before the others were seen: outside the store's recency cut.
    async with joined(nodes[0].url, {"username": "early"}):
        for n in range(4):
            await visit(nodes[n % len(nodes)], {"username": f"visitor{n}"}, nodes=nodes)
        async with joined(nodes[-1].url, {"username": "newcomer"}) as newcomer:
            assert listed(newcomer) == [("early", True), ("visitor3", False), ("newcomer", True)]


@ON_EVERY_STORE_AND_SPREAD
async def test_an_unlisted_user_who_comes_back_is_announced(
    start_chat: ChatFactory, store_settings: dict[str, Any]
) -> None:
    nodes = await start_chat(users_listed_offline=1, **store_settings)
    gone = await visit(nodes[0], {"username": "gone"}, nodes=nodes)
    await visit(nodes[-1], {"username": "since"}, nodes=nodes)
    async with joined(nodes[0].url, {"username": "watcher"}) as watcher:
        assert listed(watcher) == [("since", False), ("watcher", True)]
        # Back on another node than the watcher's (in a cluster) and than its first.
        async with joined(nodes[-1].url, {"sessionId": gone["sessionId"]}) as back:
            assert back.session["userId"] == gone["userId"]
            assert listed(back) == [("gone", True), ("since", False), ("watcher", True)]
            announced = await watcher.wait_for("user:connect")
            assert announced == (
                {"userId": gone["userId"], "username": "gone", "connected": True, "role": "guest"},
            )


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
