"""The whole chat story with several real trio Socket.IO clients against a real server."""

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio

from minidiscord.chat.models import CHANNELS
from tests.support.chatclient import ChatClient
from tests.support.layouts import ChatFactory

MakeClient = Callable[..., ChatClient]
_barrier_ids = itertools.count()


@pytest.fixture
async def clients(start_chat: ChatFactory, nursery: trio.Nursery) -> AsyncIterator[MakeClient]:
    """A factory of recording clients, all closed at the end, taking turns between the
    chat's nodes (one server, or the nodes of a cluster: the `layout` fixture; a module that
    reuses these tests with servers of its own overrides `layout` with 1)."""
    urls = [node.url for node in await start_chat()]
    made: list[ChatClient] = []

    def make(name: str, url: str | None = None) -> ChatClient:
        client = ChatClient(url or urls[len(made) % len(urls)], name, nursery=nursery)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def connect(make: MakeClient, name: str, **auth: Any) -> ChatClient:
    client = make(name)
    await client.connect({"username": name, **auth} if "sessionId" not in auth else auth)
    return client


async def barrier(sender: ChatClient, *everyone: ChatClient) -> None:
    """Send a marker to `casual` and wait until everyone has it: whatever the server emitted
    to them before it has arrived, since each connection's frames keep their order."""
    text = f"barrier {next(_barrier_ids)}"
    ack = await sender.send("casual", text)
    assert ack["ok"] is True
    for client in (sender, *everyone):
        await client.wait_for("message:channel", lambda _c, m, t=text: m["message"] == t)


def user_ids(users: list[dict[str, Any]]) -> list[str]:
    return [u["userId"] for u in users]


# -- connect and join ----------------------------------------------------------------------


async def test_greeting_is_session_then_channels_then_users(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    assert alice.names()[:4] == ["connect", "session", "channels", "users"]
    session = alice.session
    assert set(session) == {"sessionId", "userId", "username", "connected", "role"}
    assert session["username"] == "alice"
    assert session["connected"] is True
    assert len(session["sessionId"]) >= 22  # at least 128 bits in base64
    assert session["sessionId"] != session["userId"]
    (channels,) = alice.received("channels")[0]
    assert [c["name"] for c in channels] == list(CHANNELS)
    assert all(c["messages"] == [] for c in channels)
    assert alice.received("users")[0][0] == [
        {"userId": session["userId"], "username": "alice", "connected": True, "role": "guest"}
    ]


async def test_joins_are_announced_to_the_others_only(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    (joined,) = await alice.wait_for("user:join")
    assert joined == {
        "userId": bob.session["userId"],
        "username": "bob",
        "connected": True,
        "role": "guest",
    }
    carol = await connect(clients, "carol")
    for client in (alice, bob):
        await client.wait_for("user:join", lambda u: u["username"] == "carol")
    (users,) = carol.received("users")[0]
    assert users == [
        {
            "userId": alice.session["userId"],
            "username": "alice",
            "connected": True,
            "role": "guest",
        },
        {"userId": bob.session["userId"], "username": "bob", "connected": True, "role": "guest"},
        {
            "userId": carol.session["userId"],
            "username": "carol",
            "connected": True,
            "role": "guest",
        },
    ]
    await barrier(carol, alice, bob)
    assert carol.received("user:join") == []
    assert [u["username"] for (u,) in bob.received("user:join")] == ["carol"]


@pytest.mark.parametrize("auth", [None, {}, {"username": "   "}, {"username": None}])
async def test_missing_or_blank_username_is_anonymous(clients: MakeClient, auth: Any) -> None:
    client = clients("anon")
    await client.connect(auth)
    name = client.session["username"]
    assert name.startswith("anonymous_")
    int(name.removeprefix("anonymous_"), 16)


async def test_username_is_trimmed_and_avatar_kept(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = clients("bob")
    await bob.connect({"username": "  bob  ", "avatar": "https://cdn.example.net/2.png"})
    assert bob.session["username"] == "bob"
    assert bob.session["avatar"] == "https://cdn.example.net/2.png"
    (joined,) = await alice.wait_for("user:join")
    assert joined["avatar"] == "https://cdn.example.net/2.png"
    await bob.send("general", "with avatar")
    (_, message) = await alice.wait_for("message:channel")
    assert message["avatar"] == "https://cdn.example.net/2.png"


# -- messages ------------------------------------------------------------------------------


async def test_message_reaches_everyone_in_the_channel_sender_included(
    clients: MakeClient,
) -> None:
    alice = await connect(clients, "alice")
    bob = clients("bob")
    await bob.connect({"username": "bob"}, transports=["polling"])  # long-polling only
    carol = await connect(clients, "carol")
    ack = await alice.send("general", "  hello all  ")
    assert ack == {"ok": True, "id": ack["id"]}
    for client in (alice, bob, carol):
        channel, message = await client.wait_for("message:channel")
        assert channel == "general"
        assert set(message) == {"id", "userId", "username", "timestamp", "message"}
        assert message["id"] == ack["id"]
        assert message["userId"] == alice.session["userId"]
        assert message["username"] == "alice"
        assert message["message"] == "hello all"
        assert isinstance(message["timestamp"], int)
        assert message["timestamp"] > 1_600_000_000_000  # milliseconds, not seconds


async def test_late_joiner_gets_each_channels_history(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    sent = []
    for n in range(3):
        sent.append((await alice.send("general", f"general {n}"))["id"])
    sent.append((await bob.send("react", "react 0"))["id"])
    carol = await connect(clients, "carol")
    (channels,) = carol.received("channels")[0]
    history = {c["name"]: c["messages"] for c in channels}
    assert [m["message"] for m in history["general"]] == ["general 0", "general 1", "general 2"]
    assert [m["id"] for m in history["general"]] == sent[:3]
    assert [m["username"] for m in history["react"]] == ["bob"]
    assert history["welcome"] == history["learners"] == history["casual"] == []
    # History items have exactly the live message's shape.
    live = [m for c, m in alice.received("message:channel") if c == "general"]
    assert history["general"] == live


async def test_history_is_limited_to_the_most_recent(
    start_server: Any, nursery: trio.Nursery
) -> None:
    small = await start_server(history_limit=3)
    alice = ChatClient(small.url, "alice", nursery=nursery)
    late = ChatClient(small.url, "late", nursery=nursery)
    try:
        await alice.connect({"username": "alice"})
        for n in range(5):
            await alice.send("learners", f"m{n}")
        await late.connect({"username": "late"})
        (channels,) = late.received("channels")[0]
        learners = next(c for c in channels if c["name"] == "learners")
        assert [m["message"] for m in learners["messages"]] == ["m2", "m3", "m4"]
    finally:
        await alice.close()
        await late.close()


async def test_concurrent_senders_are_seen_in_one_order_by_everyone(clients: MakeClient) -> None:
    senders = [await connect(clients, f"sender{n}") for n in range(3)]
    watcher = await connect(clients, "watcher")
    per_sender = 15

    async def burst(client: ChatClient) -> None:
        for n in range(per_sender):
            # Fire without waiting for acks so the senders really overlap.
            await client.emit("message:channel:send", "general", f"{client.name} {n}")

    async with trio.open_nursery() as nursery:
        for client in senders:
            nursery.start_soon(burst, client)
    total = per_sender * len(senders)
    for client in (*senders, watcher):
        await client.wait_for("message:channel", count=total)
    seen = [[m["id"] for m in client.messages("general")] for client in (*senders, watcher)]
    assert all(ids == seen[0] for ids in seen)
    assert seen[0] == sorted(seen[0])
    assert len(set(seen[0])) == total
    texts = [m["message"] for m in watcher.messages("general")]
    for client in senders:
        own = [t for t in texts if t.startswith(f"{client.name} ")]
        assert own == [f"{client.name} {n}" for n in range(per_sender)]
    late = await connect(clients, "late")
    (channels,) = late.received("channels")[0]
    general = next(c for c in channels if c["name"] == "general")
    assert [m["id"] for m in general["messages"]] == seen[0]


# -- rejections ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        ({"username": "evil\nname"}, "username may not contain control characters or line breaks"),
        ({"username": "System"}, "username 'System' is reserved"),
        ({"username": 12}, "username must be a string"),
        ({"username": "ok", "avatar": 5}, "avatar must be a string"),
    ],
)
async def test_bad_username_is_refused_with_the_reason(
    clients: MakeClient, auth: Any, reason: str
) -> None:
    alice = await connect(clients, "alice")
    bad = clients("bad")
    error = await bad.connect_refused(auth)
    assert error == {"message": reason}
    assert not bad.sio.connected
    # Nothing was created or announced, and the server still serves.
    bob = await connect(clients, "bob")
    await barrier(bob, alice)
    assert [u["username"] for (u,) in alice.received("user:join")] == ["bob"]
    assert [u["username"] for u in bob.received("users")[0][0]] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("random", "hi"), "unknown channel 'random'; channels are"),
        (("general", 42), "message must be a string, not a number"),
        (("general", {"message": "hi"}), "message must be a string, not an object"),
        (("general", None), "message must be a string, not null"),
        (("general", ""), "message is empty"),
        (("general", " \n\t "), "message is empty"),
        (("general", "x" * 2001), "message is too long (2001 characters, at most 2000)"),
        ((["general"], "hi"), "channel must be a string, not an array"),
        (("general",), "expected (channel, text)"),
        ((), "expected (channel, text)"),
        (("general", "hi", "extra"), "expected (channel, text)"),
    ],
)
async def test_bad_message_is_refused_and_nothing_is_stored(
    clients: MakeClient, args: tuple[Any, ...], error: str
) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    ack = await alice.call("message:channel:send", *args)
    assert ack["ok"] is False
    assert ack["error"].startswith(error)
    assert set(ack) == {"ok", "error"}
    await barrier(alice, bob)
    assert [m["message"] for m in bob.messages()] == [m["message"] for m in alice.messages()]
    assert len(bob.messages()) == 1  # only the barrier
    late = await connect(clients, "late")
    (channels,) = late.received("channels")[0]
    assert sum(len(c["messages"]) for c in channels) == 1


async def test_longest_message_is_accepted(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    ack = await alice.send("general", "y" * 2000)
    assert ack["ok"] is True
    (_, message) = await alice.wait_for("message:channel")
    assert message["message"] == "y" * 2000


async def test_send_without_ack_still_works(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    await alice.emit("message:channel:send", "react", "no ack wanted")
    await alice.emit("message:channel:send", "nowhere", "refused silently")
    (channel, message) = await bob.wait_for("message:channel")
    assert (channel, message["message"]) == ("react", "no ack wanted")
    await barrier(alice, bob)
    assert len(bob.messages()) == 2


# -- disconnect, restore, leave ------------------------------------------------------------


async def test_dropped_connection_then_restore(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    carol = await connect(clients, "carol")
    bob_session = bob.session
    await bob.drop()
    for client in (alice, carol):
        (gone,) = await client.wait_for("user:disconnect")
        assert gone == {
            "userId": bob_session["userId"],
            "username": "bob",
            "connected": False,
            "role": "guest",
        }
    # A newcomer sees bob, offline.
    dave = await connect(clients, "dave")
    (users,) = dave.received("users")[0]
    assert {u["username"]: u["connected"] for u in users} == {
        "alice": True,
        "bob": False,
        "carol": True,
        "dave": True,
    }
    # Bob comes back with his session (a different username is ignored: the session wins).
    again = clients("bob again")
    await again.connect({"sessionId": bob_session["sessionId"], "username": "mallory"})
    assert again.session == bob_session
    for client in (alice, carol, dave):
        (back,) = await client.wait_for("user:connect")
        assert back == {
            "userId": bob_session["userId"],
            "username": "bob",
            "connected": True,
            "role": "guest",
        }
    (users,) = again.received("users")[0]
    assert {u["username"]: u["connected"] for u in users}["bob"] is True
    await barrier(again, alice, carol, dave)
    # Coming back is not joining: nobody got a second `user:join` for bob.
    assert [u["username"] for (u,) in alice.received("user:join")] == ["bob", "carol", "dave"]
    assert [u["username"] for (u,) in carol.received("user:join")] == ["dave"]
    assert dave.received("user:join") == []
    assert len(alice.received("user:connect")) == 1


async def test_unknown_session_starts_fresh(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    stranger = clients("stranger")
    await stranger.connect({"sessionId": "no-such-session", "username": "stranger"})
    assert stranger.session["username"] == "stranger"
    assert stranger.session["sessionId"] != "no-such-session"
    (joined,) = await alice.wait_for("user:join")
    assert joined["username"] == "stranger"
    nameless = clients("nameless")
    await nameless.connect({"sessionId": 12345})
    assert nameless.session["username"].startswith("anonymous_")


async def test_leave_removes_the_user_and_disconnect_keeps_them(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob = await connect(clients, "bob")
    carol = await connect(clients, "carol")
    bob_session = bob.session
    await bob.emit("user:leave")
    # The server ends bob's connection itself, and the client does not come back.
    await bob.wait_for("disconnect")
    for client in (alice, carol):
        (left,) = await client.wait_for("user:leave")
        assert left == {
            "userId": bob_session["userId"],
            "username": "bob",
            "connected": False,
            "role": "guest",
        }
    await carol.disconnect()
    (gone,) = await alice.wait_for("user:disconnect")
    assert gone["username"] == "carol"
    dave = await connect(clients, "dave")
    (users,) = dave.received("users")[0]
    assert {u["username"]: u["connected"] for u in users} == {
        "alice": True,
        "carol": False,
        "dave": True,
    }
    await barrier(dave, alice)
    assert alice.received("user:disconnect") == [(gone,)]  # leaving is not also a disconnect
    # The old session is gone: connecting with it starts a new user.
    returning = clients("returning")
    await returning.connect({"sessionId": bob_session["sessionId"], "username": "bob"})
    assert returning.session["userId"] != bob_session["userId"]
    assert returning.session["sessionId"] != bob_session["sessionId"]
    (joined,) = await alice.wait_for("user:join", lambda u: u["username"] == "bob", count=2)
    assert joined["userId"] == returning.session["userId"]
    assert alice.received("user:connect") == []


async def test_two_tabs_are_one_user_offline_only_when_both_close(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob_tab1 = await connect(clients, "bob")
    await alice.wait_for("user:join")
    bob_tab2 = clients("bob tab 2")
    await bob_tab2.connect({"sessionId": bob_tab1.session["sessionId"]})
    assert bob_tab2.session == bob_tab1.session
    # A message from one tab shows in the other.
    await bob_tab1.send("general", "from tab 1")
    (_, message) = await bob_tab2.wait_for("message:channel")
    assert message["message"] == "from tab 1"
    await bob_tab1.disconnect()
    await barrier(bob_tab2, alice)
    assert alice.received("user:disconnect") == []
    assert alice.received("user:connect") == []
    assert len(alice.received("user:join")) == 1
    await bob_tab2.disconnect()
    (gone,) = await alice.wait_for("user:disconnect")
    assert gone["userId"] == bob_tab1.session["userId"]


async def test_leave_from_one_tab_ends_every_tab(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    bob_tab1 = await connect(clients, "bob")
    bob_tab2 = clients("bob tab 2")
    await bob_tab2.connect({"sessionId": bob_tab1.session["sessionId"]})
    await bob_tab1.emit("user:leave")
    await bob_tab1.wait_for("disconnect")
    await bob_tab2.wait_for("disconnect")
    (left,) = await alice.wait_for("user:leave")
    assert left["username"] == "bob"
    assert bob_tab2.received("user:leave") == []  # not told about itself
    await barrier(alice)
    assert alice.received("user:disconnect") == []


# -- history paging (our extension) --------------------------------------------------------


async def test_channel_history_pages_back(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    ids = [(await alice.send("casual", f"c{n}"))["id"] for n in range(7)]
    page = await alice.call("channel:history", "casual", {"before": ids[5], "limit": 3})
    assert page["ok"] is True
    assert [m["message"] for m in page["messages"]] == ["c2", "c3", "c4"]
    page = await alice.call("channel:history", "casual", {"before": ids[2], "limit": 3})
    assert [m["message"] for m in page["messages"]] == ["c0", "c1"]
    latest = await alice.call("channel:history", "casual", {"limit": 2})
    assert [m["message"] for m in latest["messages"]] == ["c5", "c6"]
    everything = await alice.call("channel:history", "casual")
    assert len(everything["messages"]) == 7


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("nowhere", {}), "unknown channel"),
        (("casual", {"limit": 0}), "limit must be a positive integer"),
        (("casual", {"limit": "5"}), "limit must be a positive integer"),
        (("casual", {"before": "x"}), "before must be a message id"),
        (("casual", [1]), "options must be an object"),
        ((), "expected (channel, {before, limit})"),
    ],
)
async def test_channel_history_refuses_bad_requests(
    clients: MakeClient, args: tuple[Any, ...], error: str
) -> None:
    alice = await connect(clients, "alice")
    answer = await alice.call("channel:history", *args)
    assert answer["ok"] is False
    assert answer["error"].startswith(error)


async def test_channel_history_limit_is_capped(clients: MakeClient) -> None:
    alice = await connect(clients, "alice")
    for n in range(105):
        await alice.emit("message:channel:send", "welcome", f"w{n}")
    await alice.wait_for("message:channel", count=105)
    page = await alice.call("channel:history", "welcome", {"limit": 1000})
    assert len(page["messages"]) == 100
    assert page["messages"][-1]["message"] == "w104"
